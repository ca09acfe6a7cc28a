/**
 * The end-of-run picture: an SVG with two panels sharing the step axis, training loss above
 * and validation accuracy (one line per target) below, with ticks, grid, axis labels and a
 * legend. Plain SVG text, no dependencies; built from `metrics.jsonl` so a resumed run plots
 * its whole history.
 *
 * @module
 */
import type { MetricsRecord } from "./logs.ts";

/** A named series of (step, value) points. */
export interface Series {
  /** Legend name (e.g. the validation target). */
  name: string;
  /** Points (step, value) in step order. */
  points: [number, number][];
}

/** What the plot shows. */
export interface PlotData {
  /** Training loss per logged step. */
  loss: [number, number][];
  /** Validation accuracy in [0, 1] per target. */
  accuracy: Series[];
  /** Title (e.g. the config name). */
  title?: string;
}

/** Options of {@link renderPlot}. */
export interface PlotOptions {
  /** Width in pixels (default 800). */
  width?: number;
  /** Height in pixels (default 640). */
  height?: number;
}

/** Keeps, per series, only the latest history: a step that goes back (a resume) drops the later points. */
function push(points: [number, number][], step: number, value: number): void {
  while (points.length && points[points.length - 1][0] >= step) points.pop();
  points.push([step, value]);
}

/**
 * The plot data of a run's metrics records (in file order). Records a resumed run repeats
 * replace the ones the interrupted run wrote after its checkpoint.
 */
export function plotFromMetrics(records: readonly MetricsRecord[], title?: string): PlotData {
  const loss: [number, number][] = [];
  const acc = new Map<string, [number, number][]>();
  for (const r of records) {
    if (r.kind === "train") push(loss, r.step, r.loss);
    else if (r.kind === "val") {
      if (!acc.has(r.target)) acc.set(r.target, []);
      push(acc.get(r.target)!, r.step, r.acc);
    }
  }
  return {
    loss,
    accuracy: [...acc].map(([name, points]) => ({ name, points })),
    title,
  };
}

/** About `count` round tick values (1, 2, 5 × 10^k apart) covering [lo, hi]. */
export function niceTicks(lo: number, hi: number, count = 5): number[] {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / Math.max(1, count);
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw)!;
  const out: number[] = [];
  for (let k = Math.ceil(lo / step - 1e-9); k * step <= hi + step * 1e-9; k++) {
    out.push(Number((k * step).toPrecision(12)));
  }
  return out;
}

function tickLabel(v: number, step: number): string {
  const decimals = Math.max(0, -Math.floor(Math.log10(step) + 1e-9));
  return v.toFixed(Math.min(decimals, 10));
}

function esc(s: string): string {
  return s.replaceAll("&", "&amp;").replaceAll("<", "&lt;").replaceAll(">", "&gt;")
    .replaceAll('"', "&quot;");
}

const COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#17becf"];

interface Box {
  x: number;
  y: number;
  w: number;
  h: number;
}

/** A value range extended to its ticks; a flat or empty range gets a unit around it. */
function domain(
  values: number[],
  clamp?: [number, number],
): { lo: number; hi: number; ticks: number[] } {
  let lo = Math.min(...values), hi = Math.max(...values);
  if (!values.length) [lo, hi] = clamp ?? [0, 1];
  if (hi - lo < 1e-12) {
    [lo, hi] = [lo - Math.max(1, Math.abs(lo) * 0.1), hi + Math.max(1, Math.abs(hi) * 0.1)];
  }
  const pad = (hi - lo) * 0.05;
  lo -= pad;
  hi += pad;
  if (clamp) [lo, hi] = [Math.max(clamp[0], lo), Math.min(clamp[1], hi)];
  const ticks = niceTicks(lo, hi, 5);
  const step = ticks.length > 1 ? ticks[1] - ticks[0] : 1;
  lo = Math.min(lo, Math.floor(lo / step) * step);
  hi = Math.max(hi, Math.ceil(hi / step) * step);
  if (clamp) [lo, hi] = [Math.max(clamp[0], lo), Math.min(clamp[1], hi)];
  return { lo, hi, ticks: niceTicks(lo, hi, 5) };
}

function panel(
  out: string[],
  box: Box,
  x: { lo: number; hi: number; ticks: number[] },
  series: { name: string; points: [number, number][]; cls: string; markers: boolean }[],
  yLabel: string,
  clamp?: [number, number],
): void {
  const finite = series.map((s) =>
    s.points.filter(([a, b]) => Number.isFinite(a) && Number.isFinite(b))
  );
  const y = domain(finite.flat().map((p) => p[1]), clamp);
  const sx = (v: number) => box.x + (v - x.lo) / (x.hi - x.lo) * box.w;
  const sy = (v: number) => box.y + box.h - (v - y.lo) / (y.hi - y.lo) * box.h;
  const f = (v: number) => v.toFixed(1);
  out.push(`<g class="panel" data-panel="${esc(yLabel)}">`);
  out.push(
    `<rect x="${f(box.x)}" y="${f(box.y)}" width="${f(box.w)}" height="${
      f(box.h)
    }" fill="#fff" stroke="#333"/>`,
  );
  const ystep = y.ticks.length > 1 ? y.ticks[1] - y.ticks[0] : 1;
  for (const t of y.ticks) {
    const py = f(sy(t));
    out.push(
      `<line x1="${f(box.x)}" y1="${py}" x2="${f(box.x + box.w)}" y2="${py}" stroke="#ddd"/>`,
    );
    out.push(`<line x1="${f(box.x - 5)}" y1="${py}" x2="${f(box.x)}" y2="${py}" stroke="#333"/>`);
    out.push(
      `<text x="${f(box.x - 8)}" y="${py}" text-anchor="end" dominant-baseline="middle">${
        tickLabel(t, ystep)
      }</text>`,
    );
  }
  const xstep = x.ticks.length > 1 ? x.ticks[1] - x.ticks[0] : 1;
  for (const t of x.ticks) {
    const px = f(sx(t));
    const bottom = box.y + box.h;
    out.push(`<line x1="${px}" y1="${f(box.y)}" x2="${px}" y2="${f(bottom)}" stroke="#eee"/>`);
    out.push(`<line x1="${px}" y1="${f(bottom)}" x2="${px}" y2="${f(bottom + 5)}" stroke="#333"/>`);
    out.push(
      `<text x="${px}" y="${f(bottom + 18)}" text-anchor="middle">${tickLabel(t, xstep)}</text>`,
    );
  }
  out.push(
    `<text x="${f(box.x - 52)}" y="${
      f(box.y + box.h / 2)
    }" text-anchor="middle" transform="rotate(-90 ${f(box.x - 52)} ${f(box.y + box.h / 2)})">${
      esc(yLabel)
    }</text>`,
  );
  out.push(
    `<text x="${f(box.x + box.w / 2)}" y="${
      f(box.y + box.h + 38)
    }" text-anchor="middle">step</text>`,
  );
  if (finite.every((p) => p.length === 0)) {
    out.push(
      `<text x="${f(box.x + box.w / 2)}" y="${
        f(box.y + box.h / 2)
      }" text-anchor="middle" fill="#888">no data</text>`,
    );
  }
  series.forEach((s, i) => {
    const pts = finite[i];
    const color = COLORS[i % COLORS.length];
    const attrs = `class="${s.cls}" data-series="${esc(s.name)}" fill="none" stroke="${color}"`;
    out.push(
      `<polyline ${attrs} stroke-width="1.5" points="${
        pts.map(([a, b]) => `${f(sx(a))},${f(sy(b))}`).join(" ")
      }"/>`,
    );
    if (s.markers || pts.length === 1) {
      for (const [a, b] of pts) {
        out.push(`<circle cx="${f(sx(a))}" cy="${f(sy(b))}" r="2.5" fill="${color}"/>`);
      }
    }
    if (series.length > 1 || s.cls === "accuracy") {
      const ly = box.y + 16 + 16 * i;
      out.push(
        `<line x1="${f(box.x + box.w - 110)}" y1="${f(ly)}" x2="${f(box.x + box.w - 90)}" y2="${
          f(ly)
        }" stroke="${color}" stroke-width="2"/>`,
      );
      out.push(
        `<text x="${f(box.x + box.w - 84)}" y="${f(ly)}" dominant-baseline="middle">${
          esc(s.name)
        }</text>`,
      );
    }
  });
  out.push(`</g>`);
}

/** The SVG text of the plot. */
export function renderPlot(data: PlotData, opts: PlotOptions = {}): string {
  const W = opts.width ?? 800, H = opts.height ?? 640;
  const steps = [...data.loss, ...data.accuracy.flatMap((s) => s.points)].map((p) => p[0])
    .filter(Number.isFinite);
  const xmax = steps.length ? Math.max(...steps) : 1;
  const xticks = niceTicks(0, xmax, 6);
  const xstep = xticks.length > 1 ? xticks[1] - xticks[0] : 1;
  const x = {
    lo: 0,
    hi: Math.max(xmax, Math.ceil(xmax / xstep) * xstep, 1),
    ticks: [] as number[],
  };
  x.ticks = niceTicks(x.lo, x.hi, 6);
  const left = 80, right = 20, top = 44, gap = 64, bottom = 56;
  const ph = (H - top - gap - bottom) / 2;
  const out: string[] = [];
  out.push(`<?xml version="1.0" encoding="UTF-8"?>`);
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`,
  );
  out.push(`<rect width="${W}" height="${H}" fill="#fafafa"/>`);
  out.push(
    `<text x="${W / 2}" y="26" text-anchor="middle" font-size="16">${
      esc(data.title ?? "training")
    }</text>`,
  );
  const box1 = { x: left, y: top, w: W - left - right, h: ph };
  const box2 = { x: left, y: top + ph + gap, w: W - left - right, h: ph };
  panel(out, box1, x, [{ name: "loss", points: data.loss, cls: "loss", markers: false }], "loss");
  panel(
    out,
    box2,
    x,
    data.accuracy.map((s) => ({
      name: s.name,
      points: s.points.map(([a, b]) => [a, b * 100] as [number, number]),
      cls: "accuracy",
      markers: true,
    })),
    "validation accuracy (%)",
    [0, 100],
  );
  out.push(`</svg>`);
  return out.join("\n") + "\n";
}

/** Writes the plot of `data` to `path` (via a temporary name, then a rename). */
export async function writePlot(
  path: string,
  data: PlotData,
  opts: PlotOptions = {},
): Promise<void> {
  const tmp = `${path}.tmp-${Deno.pid}`;
  await Deno.writeTextFile(tmp, renderPlot(data, opts));
  await Deno.rename(tmp, path);
}
