/**
 * Pixel preprocessing on the CPU for engines that take float input (onnxruntime): uint8 RGB
 * HWC images → normalised NCHW float32, optionally flipped horizontally. The arithmetic
 * mirrors the GPU's `kernels/preprocess.wgsl` step for step in float32 —
 * `((v / 255) − mean/255) / (std/255)` — so both engines see bit-identical inputs.
 *
 * @module
 */

/** Pixel normalisation in 0…255 units: the model input is `(pixel − mean) / std`. */
export interface PixelNormalization {
  /** Subtracted from each pixel value. */
  mean: number;
  /** Divides the difference. */
  std: number;
}

/** The reference's normalisation, `(x − 127.5) / 127.5`. */
export const DEFAULT_PIXEL_NORM: PixelNormalization = { mean: 127.5, std: 127.5 };

/** Options of {@link imagesToNchw}. */
export interface NchwOptions {
  /** Normalisation (default 127.5 / 127.5). */
  norm?: PixelNormalization;
  /** Mirror every image horizontally. */
  flip?: boolean;
  /** Image side (default 112). */
  size?: number;
  /** Write here (at least n·3·size² floats) instead of a new array. */
  out?: Float32Array;
}

/**
 * Converts `n` RGB uint8 images (n×size×size×3) into normalised float32 [n, 3, size, size].
 */
export function imagesToNchw(images: Uint8Array, n: number, opts: NchwOptions = {}): Float32Array {
  const size = opts.size ?? 112;
  const plane = size * size;
  const need = n * plane * 3;
  if (images.length < need) {
    throw new Error(`imagesToNchw: ${images.length} bytes for ${n} images of ${size}×${size}×3`);
  }
  const out = opts.out ?? new Float32Array(need);
  const { mean, std } = opts.norm ?? DEFAULT_PIXEL_NORM;
  const f = Math.fround;
  const m = f(mean / 255);
  const s = f(std / 255);
  // one lookup per byte value: identical to computing each pixel
  const lut = new Float32Array(256);
  for (let v = 0; v < 256; v++) lut[v] = f(f(f(v / 255) - m) / s);
  for (let i = 0; i < n; i++) {
    const src = i * plane * 3;
    const dst = i * plane * 3;
    for (let y = 0; y < size; y++) {
      for (let x = 0; x < size; x++) {
        const sx = opts.flip ? size - 1 - x : x;
        const p = src + (y * size + sx) * 3;
        const q = dst + y * size + x;
        out[q] = lut[images[p]];
        out[q + plane] = lut[images[p + 1]];
        out[q + 2 * plane] = lut[images[p + 2]];
      }
    }
  }
  return out;
}
