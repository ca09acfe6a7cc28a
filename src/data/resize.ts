/**
 * Bilinear resizing of RGB8 HWC images with OpenCV's `INTER_LINEAR` sampling (half-pixel
 * centres, edge clamping), which the reference's `cv2.resize` uses before inference.
 *
 * @module
 */

/** Resizes an RGB8 HWC image of w×h to ow×oh. */
export function resizeBilinear(
  src: Uint8Array,
  w: number,
  h: number,
  ow: number,
  oh: number,
): Uint8Array {
  if (src.length < w * h * 3) {
    throw new Error(`resizeBilinear: ${src.length} bytes for a ${w}×${h} RGB image`);
  }
  const out = new Uint8Array(ow * oh * 3);
  if (w === ow && h === oh) {
    out.set(src.subarray(0, out.length));
    return out;
  }
  const sx = w / ow, sy = h / oh;
  for (let y = 0; y < oh; y++) {
    const fy = Math.min(Math.max((y + 0.5) * sy - 0.5, 0), h - 1);
    const y0 = Math.floor(fy), y1 = Math.min(y0 + 1, h - 1), ay = fy - y0;
    for (let x = 0; x < ow; x++) {
      const fx = Math.min(Math.max((x + 0.5) * sx - 0.5, 0), w - 1);
      const x0 = Math.floor(fx), x1 = Math.min(x0 + 1, w - 1), ax = fx - x0;
      for (let c = 0; c < 3; c++) {
        const a = src[(y0 * w + x0) * 3 + c], b = src[(y0 * w + x1) * 3 + c];
        const d = src[(y1 * w + x0) * 3 + c], e = src[(y1 * w + x1) * 3 + c];
        const v = (a * (1 - ax) + b * ax) * (1 - ay) + (d * (1 - ax) + e * ax) * ay;
        out[(y * ow + x) * 3 + c] = Math.min(255, Math.max(0, Math.round(v)));
      }
    }
  }
  return out;
}
