/**
 * Image batches onto the GPU: upload uint8 HWC RGB images as bytes and expand them there into
 * normalised NCHW floats with per-image horizontal flips — 4× less upload than floats, and the
 * CPU workers only decode.
 *
 * @module
 */
import src from "../../../kernels/preprocess.wgsl" with { type: "text" };
import { gpu } from "../../gpu/device.ts";
import { f32, kernel } from "../../gpu/kernel.ts";
import { grid1d } from "../launch.ts";
import { Tensor } from "../tensor.ts";

const PREPROCESS = kernel("preprocess", src);

/** Options of `imagesToTensor`. */
export interface PreprocessOptions {
  /** Image height and width (default 112). */
  size?: number;
  /** Per-image horizontal flip (default none). */
  flips?: ArrayLike<boolean | number>;
  /** Pixel normalisation: (x/255 − mean)/std; default the reference's 0.5, 0.5. */
  mean?: number;
  /** See `mean`. */
  std?: number;
  /** Output dtype (default f32). */
  dtype?: "f32" | "f16";
}

/**
 * Uploads `n` images (uint8, n×H×W×3 RGB, row-major) and returns them as an [n, 3, H, W] tensor
 * normalised as the reference does ((x/255 − 0.5)/0.5 by default), flipped where asked.
 */
export function imagesToTensor(
  images: Uint8Array,
  n: number,
  opts: PreprocessOptions = {},
): Tensor {
  const size = opts.size ?? 112;
  const bytes = n * size * size * 3;
  if (images.length < bytes) {
    throw new Error(
      `imagesToTensor: ${images.length} bytes for ${n} images of ${size}×${size}×3 (${bytes})`,
    );
  }
  const flips = new Uint32Array(Math.max(n, 1));
  if (opts.flips) { for (let i = 0; i < n; i++) flips[i] = opts.flips[i] ? 1 : 0; }
  const raw = Tensor.fromArray(images.subarray(0, bytes), [bytes], "u8");
  const flipT = Tensor.fromArray(new Int32Array(flips.buffer), [flips.length], "i32");
  const out = Tensor.empty([n, 3, size, size], opts.dtype ?? "f32", "imagesToTensor");
  gpu().dispatch(PREPROCESS, {
    label: "preprocess",
    bindings: [raw, flipT, out],
    params: [n, size, size, f32(opts.mean ?? 0.5), f32(opts.std ?? 0.5)],
    workgroups: grid1d(out.size),
    types: { T: out.dtype as "f32" | "f16" },
  });
  raw.dispose();
  flipT.dispose();
  return out;
}
