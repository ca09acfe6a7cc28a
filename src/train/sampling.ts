/**
 * Partial FC bookkeeping on the host: the class shard of a rank, label remapping into it, and
 * the per-step sample of class centres (every positive class of the global batch kept, random
 * negatives up to `int(sample_rate · num_local)`, sorted).
 *
 * The negatives are a uniformly random subset of the right size — the distribution of the
 * reference's `topk(rand)` with positives forced to the top — drawn by rejection on a mark
 * array (O(sample) random numbers) and read out sorted by one scan of the marks.
 *
 * The generator of each step is reseeded from (seed, step): what a step samples is a pure
 * function of the sampler's seed (itself derived from the run's seed and the rank), the step
 * number and the labels, so a run resumed at step N samples exactly what an uninterrupted run
 * samples at step N + 1 — no generator state has to travel in checkpoints.
 *
 * @module
 */
import { hashSeed, Rng } from "../data/rng.ts";

/** A rank's contiguous block of classes. */
export interface Shard {
  /** Classes on this rank: `C // world + (rank < C % world)`. */
  numLocal: number;
  /** First class on this rank: `C // world · rank + min(rank, C % world)`. */
  classStart: number;
}

/** The shard of `rank` among `world` ranks holding `numClasses` classes (reference formulas). */
export function shardOf(numClasses: number, world: number, rank: number): Shard {
  const q = Math.floor(numClasses / world), r = numClasses % world;
  return { numLocal: q + (rank < r ? 1 : 0), classStart: q * rank + Math.min(rank, r) };
}

/** `int(sample_rate · num_local)` as Python computes it. */
export function numSampleOf(sampleRate: number, numLocal: number): number {
  return Math.trunc(sampleRate * numLocal);
}

/** Throws unless every label is an integer in [0, numClasses); names the first bad one. */
export function checkLabels(labels: ArrayLike<number>, numClasses: number): void {
  for (let i = 0; i < labels.length; i++) {
    const v = labels[i];
    if (!(Number.isInteger(v) && v >= 0 && v < numClasses)) {
      throw new Error(`label ${v} at position ${i} is outside the valid range [0, ${numClasses})`);
    }
  }
}

/** Throws unless 0 < rate ≤ 1. */
export function checkSampleRate(rate: number): void {
  if (!(rate > 0 && rate <= 1)) {
    throw new Error(`sample_rate ${rate} is outside the valid range (0, 1]`);
  }
}

/** The result of one step's sampling on one rank. */
export interface Sample {
  /**
   * Sorted shard-local indices of the sampled class centres, or null when every class of the
   * shard takes part (sample_rate 1).
   */
  index: Int32Array | null;
  /** Per global-batch row: its column among the sampled classes, or −1 (class elsewhere). */
  labels: Int32Array;
  /** Number of sampled classes (`index.length`, or numLocal). */
  count: number;
}

/**
 * Samples class centres for each step of one rank; the negatives of step `s` come from a
 * generator seeded by `hashSeed(seed, s)`, so no state carries from one step to the next.
 */
export class ClassSampler {
  readonly #shard: Shard;
  readonly #numSample: number;
  readonly #rate: number;
  readonly #seed: number;
  #calls = 0;
  #mark: Uint8Array | null = null;

  /**
   * A sampler over one rank's classes.
   * @param shard this rank's classes
   * @param sampleRate in (0, 1]
   * @param seed seeds the negatives' generators (use a different seed per rank)
   */
  constructor(shard: Shard, sampleRate: number, seed: number) {
    checkSampleRate(sampleRate);
    this.#shard = shard;
    this.#rate = sampleRate;
    this.#numSample = numSampleOf(sampleRate, shard.numLocal);
    this.#seed = seed;
  }

  /** `int(sample_rate · num_local)`: the sample size when the positives fit in it. */
  get numSample(): number {
    return this.#numSample;
  }

  /**
   * Remaps the global batch's labels to this shard and, with sample_rate < 1, samples.
   * @param globalLabels the all-gathered labels (validated by the caller)
   * @param step the step number that seeds this draw (an integer ≥ 0); default the number of
   *   earlier calls, so that repeated calls without a step still draw afresh
   */
  sample(globalLabels: Int32Array, step: number = this.#calls): Sample {
    if (!(Number.isSafeInteger(step) && step >= 0)) {
      throw new Error(`ClassSampler.sample: step ${step} must be an integer ≥ 0`);
    }
    this.#calls++;
    const { numLocal, classStart } = this.#shard;
    const B = globalLabels.length;
    const local = new Int32Array(B);
    for (let i = 0; i < B; i++) {
      const v = globalLabels[i] - classStart;
      local[i] = v >= 0 && v < numLocal ? v : -1;
    }
    if (this.#rate >= 1) return { index: null, labels: local, count: numLocal };
    const mark = this.#mark ??= new Uint8Array(numLocal);
    let positives = 0;
    for (let i = 0; i < B; i++) {
      const v = local[i];
      if (v >= 0 && mark[v] === 0) {
        mark[v] = 1;
        positives++;
      }
    }
    let index: Int32Array;
    if (positives >= this.#numSample) {
      index = new Int32Array(positives);
      let o = 0;
      for (let i = 0; i < B; i++) {
        const v = local[i];
        if (v >= 0 && mark[v] === 1) {
          mark[v] = 2;
          index[o++] = v;
        }
      }
      index.sort();
    } else {
      index = this.#fill(mark, positives, new Rng(hashSeed(this.#seed, step)));
    }
    for (let i = 0; i < index.length; i++) mark[index[i]] = 0;
    for (let i = 0; i < B; i++) if (local[i] >= 0) local[i] = lowerBound(index, local[i]);
    return { index, labels: local, count: index.length };
  }

  /**
   * Adds `numSample − positives` uniformly drawn negatives to the marked positives and
   * returns all marked classes in order. Draws distinct classes by rejection on the marks
   * (O(k) random numbers; when more than half the negatives are wanted, draws the ones left
   * out instead), then one scan of the marks — exact uniform subsets at a few ms per 10⁶
   * classes.
   */
  #fill(mark: Uint8Array, positives: number, rng: Rng): Int32Array {
    const n = this.#shard.numLocal;
    const need = this.#numSample - positives;
    const negatives = n - positives;
    const complement = need > negatives / 2;
    // marks: 1 positive, 3 drawn (taken, or left out when complement)
    let draws = complement ? negatives - need : need;
    while (draws > 0) {
      const c = Math.floor(rng.next() * n);
      if (mark[c] === 0) {
        mark[c] = 3;
        draws--;
      }
    }
    const index = new Int32Array(this.#numSample);
    let o = 0;
    for (let c = 0; c < n; c++) {
      const m = mark[c];
      if (m === 1 || (complement ? m === 0 : m === 3)) index[o++] = c;
      if (m === 3) mark[c] = 0;
    }
    return index;
  }
}

function lowerBound(a: Int32Array, v: number): number {
  let lo = 0, hi = a.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (a[mid] < v) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
