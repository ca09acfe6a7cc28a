/**
 * ROC curves as a standalone SVG document (no dependencies): log-scaled FAR axis from 1e-6 to
 * 1, TAR axis from 0 to 1, dashed grid, one polyline per method and a legend with the method
 * name and its TAR@FAR=1e-4. A curve of millions of points is thinned to the points that move
 * at least half a pixel, so the file stays small (at most about 2·(width + height) points
 * per curve).
 *
 * @module
 */

/** One curve to draw. */
export interface SvgCurve {
  /** Method name for the legend. */
  name: string;
  /** False-positive rates, non-decreasing. */
  fpr: ArrayLike<number>;
  /** True-positive rates, same length. */
  tpr: ArrayLike<number>;
  /** TAR at FAR=1e-4 (0…1) shown in the legend; omitted when absent or NaN. */
  tarAt1e4?: number;
}

/** Options of {@link rocSvg}. */
export interface RocSvgOptions {
  /** Title above the plot (default "ROC"). */
  title?: string;
  /** Plot area width in pixels (default 560). */
  width?: number;
  /** Plot area height in pixels (default 400). */
  height?: number;
}

const COLOURS = ["#66c2a5", "#fc8d62", "#8da0cb", "#e78ac3", "#a6d854", "#ffd92f"];
const MIN_EXP = -6;

function esc(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(
    /"/g,
    "&quot;",
  );
}

/**
 * The polyline points of one curve inside a `w × h` plot: FAR on log10 (values below 1e-6 are
 * drawn at the left edge), TAR linear, y growing upward. Consecutive points closer than half
 * a pixel (Manhattan) are merged; the first and last points are kept.
 */
export function curvePoints(
  fpr: ArrayLike<number>,
  tpr: ArrayLike<number>,
  w: number,
  h: number,
): Float64Array {
  const n = Math.min(fpr.length, tpr.length);
  const pts: number[] = [];
  let lx = NaN;
  let ly = NaN;
  for (let i = 0; i < n; i++) {
    const f = fpr[i];
    const t = tpr[i];
    if (!Number.isFinite(f) || !Number.isFinite(t)) continue;
    const e = Math.max(MIN_EXP, Math.log10(Math.max(f, 1e-300)));
    const x = ((e - MIN_EXP) / -MIN_EXP) * w;
    const y = (1 - Math.min(1, Math.max(0, t))) * h;
    const far = pts.length === 0 || Math.abs(x - lx) + Math.abs(y - ly) >= 0.5;
    if (far) pts.push(x, y);
    else if (i === n - 1) {
      // the end point always shows: it replaces a too-close previous point (not the first)
      if (pts.length > 2) pts.splice(pts.length - 2, 2, x, y);
      else pts.push(x, y);
    }
    if (far) {
      lx = x;
      ly = y;
    }
  }
  return Float64Array.from(pts);
}

/** The SVG document of the ROC curves. */
export function rocSvg(curves: SvgCurve[], opts: RocSvgOptions = {}): string {
  const W = opts.width ?? 560;
  const H = opts.height ?? 400;
  const L = 70;
  const T = 40;
  const R = 20;
  const B = 55;
  const out: string[] = [];
  out.push(
    `<?xml version="1.0" encoding="UTF-8"?>`,
    `<svg xmlns="http://www.w3.org/2000/svg" width="${L + W + R}" height="${T + H + B}" ` +
      `viewBox="0 0 ${L + W + R} ${T + H + B}" font-family="sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="${L + W / 2}" y="${T - 15}" text-anchor="middle" font-size="15">${
      esc(opts.title ?? "ROC")
    }</text>`,
    `<g transform="translate(${L},${T})">`,
  );
  // grid and ticks
  const grid: string[] = [];
  for (let e = MIN_EXP; e <= 0; e++) {
    const x = ((e - MIN_EXP) / -MIN_EXP) * W;
    grid.push(`M${x.toFixed(1)} 0V${H}`);
    out.push(
      `<text x="${x.toFixed(1)}" y="${H + 18}" text-anchor="middle">1e${e}</text>`,
    );
  }
  for (let k = 0; k <= 10; k++) {
    const y = (1 - k / 10) * H;
    grid.push(`M0 ${y.toFixed(1)}H${W}`);
    out.push(
      `<text x="-8" y="${(y + 4).toFixed(1)}" text-anchor="end">${(k / 10).toFixed(1)}</text>`,
    );
  }
  out.push(
    `<path d="${
      grid.join("")
    }" stroke="#ccc" stroke-width="1" stroke-dasharray="4 3" fill="none"/>`,
    `<rect width="${W}" height="${H}" fill="none" stroke="black"/>`,
    `<text x="${W / 2}" y="${H + 42}" text-anchor="middle">False Accept Rate (FAR)</text>`,
    `<text transform="translate(-48,${H / 2}) rotate(-90)" text-anchor="middle">` +
      `True Accept Rate (TAR)</text>`,
  );
  // curves
  curves.forEach((c, i) => {
    const p = curvePoints(c.fpr, c.tpr, W, H);
    const s: string[] = [];
    for (let k = 0; k < p.length; k += 2) s.push(`${p[k].toFixed(2)},${p[k + 1].toFixed(2)}`);
    out.push(
      `<polyline fill="none" stroke="${COLOURS[i % COLOURS.length]}" stroke-width="1.5" ` +
        `points="${s.join(" ")}"/>`,
    );
  });
  // legend, lower right
  const lh = 18;
  const lw = 260;
  const ly0 = H - 10 - lh * curves.length;
  out.push(
    `<g transform="translate(${W - lw - 10},${ly0})">`,
    `<rect x="-6" y="-6" width="${lw}" height="${lh * curves.length + 8}" fill="white" ` +
      `stroke="#999"/>`,
  );
  curves.forEach((c, i) => {
    const y = i * lh;
    const tar = c.tarAt1e4 !== undefined && Number.isFinite(c.tarAt1e4)
      ? ` (TAR@FAR=1e-4: ${(c.tarAt1e4 * 100).toFixed(2)}%)`
      : "";
    out.push(
      `<line x1="0" y1="${y + 6}" x2="22" y2="${y + 6}" stroke="${
        COLOURS[i % COLOURS.length]
      }" stroke-width="2"/>`,
      `<text x="28" y="${y + 10}">${esc(c.name + tar)}</text>`,
    );
  });
  out.push("</g>", "</g>", "</svg>");
  return out.join("\n") + "\n";
}
