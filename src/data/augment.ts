/**
 * CPU-side augmentation for the paths that want it (benchmarks, debugging): a horizontal flip
 * of one RGB8 HWC image in place, decided per sample from a seed. Training flips on the GPU.
 *
 * @module
 */
import { hashSeed } from "./rng.ts";

/** Mirrors an RGB8 HWC image left–right in place. */
export function flipHorizontal(img: Uint8Array, offset: number, width: number, height: number) {
  const row = width * 3;
  for (let y = 0; y < height; y++) {
    let l = offset + y * row, r = l + row - 3;
    while (l < r) {
      const a = img[l], b = img[l + 1], c = img[l + 2];
      img[l] = img[r], img[l + 1] = img[r + 1], img[l + 2] = img[r + 2];
      img[r] = a, img[r + 1] = b, img[r + 2] = c;
      l += 3;
      r -= 3;
    }
  }
}

/** The flip decision (probability 1/2) for sample `index` under `seed`. */
export function flipDecision(seed: number, index: number): boolean {
  return (hashSeed(seed, index) & 1) === 1;
}
