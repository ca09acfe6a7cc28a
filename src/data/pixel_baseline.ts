/**
 * The raw-pixel verification baseline: cosine similarity of the normalised pixel vectors
 * ((x/255 − 0.5)/0.5, the network's input) of each pair, and the best accuracy any single
 * threshold reaches over the pairs. A learned embedding must beat this to show it learned
 * identity rather than pixel overlap.
 *
 * @module
 */

/** The baseline result. */
export interface PixelBaseline {
  /** Best accuracy over all thresholds, 0..1. */
  accuracy: number;
  /** The cosine threshold that reaches it (same when cosine > threshold). */
  threshold: number;
  /** Cosine of each pair. */
  scores: Float64Array;
}

/** Cosine of two uint8 images after normalising pixels to [−1, 1]. */
export function pixelCosine(a: Uint8Array, b: Uint8Array): number {
  if (a.length !== b.length) throw new Error("images differ in size");
  let ab = 0, aa = 0, bb = 0;
  for (let i = 0; i < a.length; i++) {
    const x = a[i] / 127.5 - 1, y = b[i] / 127.5 - 1;
    ab += x * y;
    aa += x * x;
    bb += y * y;
  }
  return ab / Math.sqrt(aa * bb + 1e-12);
}

/**
 * Best-threshold accuracy of `scores` (higher: more alike) against `issame`: tries every
 * midpoint between consecutive sorted scores.
 */
export function bestThresholdAccuracy(
  scores: ArrayLike<number>,
  issame: ArrayLike<boolean>,
): { accuracy: number; threshold: number } {
  const n = scores.length;
  const order = Array.from({ length: n }, (_, i) => i).sort((i, j) => scores[i] - scores[j]);
  let positives = 0;
  for (let i = 0; i < n; i++) if (issame[i]) positives++;
  // threshold below everything: all predicted same
  let correct = positives;
  let best = correct, bestT = n ? scores[order[0]] - 1e-9 : 0;
  for (let k = 0; k < n; k++) {
    const i = order[k];
    correct += issame[i] ? -1 : 1; // i moves to "different"
    const t = k + 1 < n ? (scores[i] + scores[order[k + 1]]) / 2 : scores[i] + 1e-9;
    if (correct > best) best = correct, bestT = t;
  }
  return { accuracy: n ? best / n : 0, threshold: bestT };
}

/** The raw-pixel cosine baseline of consecutive image pairs. */
export function pixelBaseline(images: Uint8Array[], issame: boolean[]): PixelBaseline {
  if (images.length !== 2 * issame.length) throw new Error("need two images per pair");
  const scores = new Float64Array(issame.length);
  for (let p = 0; p < issame.length; p++) scores[p] = pixelCosine(images[2 * p], images[2 * p + 1]);
  return { ...bestThresholdAccuracy(scores, issame), scores };
}
