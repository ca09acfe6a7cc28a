/**
 * The distributed sampler (PyTorch's DistributedSampler semantics): each epoch a seeded
 * permutation of all indices (the same on every rank), padded by wrapping around or trimmed
 * with `dropLast` to a multiple of the world size, and split so rank r takes positions
 * r, r + world, r + 2·world, …. Its state `{epoch, position}` resumes mid-epoch.
 *
 * @module
 */
import { hashSeed, Rng } from "./rng.ts";

/** Options of {@link DistributedSampler}. */
export interface SamplerOptions {
  /** Dataset length. */
  length: number;
  /** This rank (default 0). */
  rank?: number;
  /** Number of ranks (default 1). */
  worldSize?: number;
  /** Shuffle each epoch (default true). */
  shuffle?: boolean;
  /** Seed of the shuffles (default 0). */
  seed?: number;
  /** Trim to a multiple of the world size instead of padding (default false). */
  dropLast?: boolean;
}

/** Where a sampler is: the epoch and how many of this rank's samples were consumed. */
export interface SamplerState {
  /** Current epoch. */
  epoch: number;
  /** Samples of this rank already consumed in `epoch`. */
  position: number;
}

/** A seeded, sharded, resumable index sampler. */
export class DistributedSampler {
  /** Dataset length. */
  readonly length: number;
  /** This rank. */
  readonly rank: number;
  /** Number of ranks. */
  readonly worldSize: number;
  /** Whether epochs are shuffled. */
  readonly shuffle: boolean;
  /** Seed of the shuffles. */
  readonly seed: number;
  /** Whether the tail is trimmed rather than padded. */
  readonly dropLast: boolean;
  /** Samples per rank per epoch. */
  readonly numSamples: number;
  #epoch = 0;
  #position = 0;
  #cache: { epoch: number; idx: Int32Array } | null = null;

  /** Creates a sampler at epoch 0, position 0. */
  constructor(o: SamplerOptions) {
    this.length = o.length;
    this.rank = o.rank ?? 0;
    this.worldSize = o.worldSize ?? 1;
    this.shuffle = o.shuffle ?? true;
    this.seed = o.seed ?? 0;
    this.dropLast = o.dropLast ?? false;
    if (!(this.worldSize >= 1 && this.rank >= 0 && this.rank < this.worldSize)) {
      throw new Error(`invalid rank ${this.rank} for world size ${this.worldSize}`);
    }
    if (this.length > 2 ** 31 - 1) throw new Error("dataset too large for Int32 indices");
    this.numSamples = this.dropLast && this.length % this.worldSize !== 0
      ? Math.ceil((this.length - this.worldSize) / this.worldSize)
      : Math.ceil(this.length / this.worldSize);
  }

  /** Padded/trimmed epoch size over all ranks. */
  get totalSize(): number {
    return this.numSamples * this.worldSize;
  }

  /** This rank's indices for `epoch` (cached for the current epoch). */
  indices(epoch: number = this.#epoch): Int32Array {
    if (this.#cache?.epoch === epoch) return this.#cache.idx;
    const n = this.length;
    const perm = new Int32Array(n);
    for (let i = 0; i < n; i++) perm[i] = i;
    if (this.shuffle) new Rng(hashSeed(this.seed, epoch)).shuffle(perm);
    const idx = new Int32Array(this.numSamples);
    for (let k = 0; k < this.numSamples; k++) {
      const g = this.rank + k * this.worldSize; // position in the padded permutation
      idx[k] = perm[g % n];
    }
    this.#cache = { epoch, idx };
    return idx;
  }

  /** The current state. */
  state(): SamplerState {
    return { epoch: this.#epoch, position: this.#position };
  }

  /** Restores a state (from a checkpoint). */
  restore(s: SamplerState): void {
    if (!(Number.isInteger(s.epoch) && s.epoch >= 0 && s.position >= 0)) {
      throw new Error(`bad sampler state ${JSON.stringify(s)}`);
    }
    this.#epoch = s.epoch;
    this.#position = Math.min(s.position, this.numSamples);
  }

  /** Moves to the start of `epoch`. */
  setEpoch(epoch: number): void {
    this.restore({ epoch, position: 0 });
  }

  /** Records that `n` more samples of the current epoch were consumed. */
  advance(n: number): void {
    this.#position = Math.min(this.numSamples, this.#position + n);
  }
}
