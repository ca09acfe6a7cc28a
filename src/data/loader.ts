/**
 * The training data loader: batches of 112×112 RGB8 HWC images and Int32 labels in shared
 * memory, drawn by a {@link DistributedSampler}, loaded by a pool of workers with a
 * configurable number of batches prefetched, with bad samples either failing loudly (file, key,
 * offset) or — with `skipBad` — counted, warned and replaced. Flip and normalisation belong
 * to the GPU; the loader only reports its own throughput.
 *
 * @module
 */
import { flipDecision, flipHorizontal } from "./augment.ts";
import {
  checkConfigAgainstData,
  checkLabel,
  type Dataset,
  IMAGE_BYTES,
  IMAGE_SIZE,
} from "./dataset.ts";
import { createDecoder, type ImageDecoder, type JpegBackend } from "./decode.ts";
import { asDataError } from "./errors.ts";
import { DecodePool } from "./pool.ts";
import { hashSeed } from "./rng.ts";
import { DistributedSampler, type SamplerState } from "./sampler.ts";
import type { BadSample } from "./worker.ts";

/** Options of {@link DataLoader.create}. */
export interface LoaderOptions {
  /** Samples per batch (per rank). */
  batchSize: number;
  /** The sampler; default: a shuffling sampler over the dataset with `seed`, `rank`, `worldSize`. */
  sampler?: DistributedSampler;
  /** Seed of the default sampler and of CPU flips (default 0). */
  seed?: number;
  /** Rank of the default sampler (default 0). */
  rank?: number;
  /** World size of the default sampler (default 1). */
  worldSize?: number;
  /** Decode workers; 0 loads on the calling thread (default: hardware threads, at most 8). */
  workers?: number;
  /** Batches loading ahead of the one being consumed (default 2). */
  prefetch?: number;
  /** JPEG backend (default auto: libjpeg-turbo, else WASM). */
  jpeg?: JpegBackend;
  /** Count, warn and replace bad samples instead of failing (default false). */
  skipBad?: boolean;
  /** Flip half the samples on the CPU (default false: the GPU flips). */
  flip?: boolean;
  /** Drop the last incomplete batch of an epoch (default true, as the reference). */
  dropLast?: boolean;
  /** The config's num_classes, checked against the data's (and labels against it). */
  numClasses?: number;
  /** The config's num_image, checked against the data's. */
  numImages?: number;
  /** Called for each skipped sample (default: console.warn). */
  onWarning?: (message: string) => void;
}

/** One batch. Its arrays view shared memory that is reused: valid until the next batch. */
export interface Batch {
  /** batch × 112 × 112 × 3 uint8, RGB, HWC. */
  images: Uint8Array;
  /** batch Int32 labels. */
  labels: Int32Array;
  /** The dataset index of each sample. */
  indices: Int32Array;
  /** Epoch of the batch. */
  epoch: number;
  /** Batch number within the epoch. */
  step: number;
}

/** Throughput of a loader since it was created. */
export interface LoaderStats {
  /** Images delivered. */
  images: number;
  /** Seconds since the first batch was requested. */
  seconds: number;
  /** Images delivered per second. */
  imagesPerSecond: number;
  /** Seconds the consumer spent waiting for batches (a starving GPU shows here). */
  waitSeconds: number;
  /** Samples skipped as bad (with skipBad). */
  skipped: number;
  /** Decode workers. */
  workers: number;
  /** JPEG backend in use, or null. */
  jpeg: string | null;
}

/** Batches from a dataset, prefetched by decode workers into shared memory. */
export class DataLoader {
  /** The dataset. */
  readonly dataset: Dataset;
  /** The sampler (its state is the loader's resumable state). */
  readonly sampler: DistributedSampler;
  /** Samples per batch. */
  readonly batchSize: number;
  /** Batches prefetched. */
  readonly prefetch: number;
  /** Classes labels are checked against (config value, else the data's), or null. */
  readonly numClasses: number | null;
  readonly #opts: LoaderOptions;
  readonly #pool: DecodePool | null;
  readonly #decoder: ImageDecoder | null;
  readonly #images: Uint8Array;
  readonly #labels: Int32Array;
  readonly #slots: number;
  #delivered = 0;
  #wait = 0;
  #skipped = 0;
  #t0 = 0;

  private constructor(
    dataset: Dataset,
    sampler: DistributedSampler,
    o: LoaderOptions,
    pool: DecodePool | null,
    decoder: ImageDecoder | null,
    images: SharedArrayBuffer,
    labels: SharedArrayBuffer,
    slots: number,
    numClasses: number | null,
  ) {
    this.dataset = dataset;
    this.sampler = sampler;
    this.batchSize = o.batchSize;
    this.prefetch = o.prefetch ?? 2;
    this.numClasses = numClasses;
    this.#opts = o;
    this.#pool = pool;
    this.#decoder = decoder;
    this.#images = new Uint8Array(images);
    this.#labels = new Int32Array(labels);
    this.#slots = slots;
  }

  /**
   * Creates a loader: checks the config's num_classes/num_image against the data, allocates
   * `prefetch + 1` shared batch slots and starts the workers.
   */
  static async create(dataset: Dataset, o: LoaderOptions): Promise<DataLoader> {
    if (!(o.batchSize >= 1)) throw new Error("batchSize must be ≥ 1");
    checkConfigAgainstData(o, {
      numClasses: dataset.numClasses,
      numImages: dataset.length,
      name: `the ${dataset.kind} dataset`,
    });
    const numClasses = o.numClasses ?? dataset.numClasses;
    const sampler = o.sampler ?? new DistributedSampler({
      length: dataset.length,
      seed: o.seed ?? 0,
      rank: o.rank ?? 0,
      worldSize: o.worldSize ?? 1,
      shuffle: true,
    });
    const prefetch = Math.max(0, o.prefetch ?? 2);
    const slots = prefetch + 1;
    const images = new SharedArrayBuffer(slots * o.batchSize * IMAGE_BYTES);
    const labels = new SharedArrayBuffer(slots * o.batchSize * 4);
    const workers = o.workers ?? Math.min(8, navigator.hardwareConcurrency || 1);
    let pool: DecodePool | null = null;
    let decoder: ImageDecoder | null = null;
    if (workers > 0) {
      pool = await DecodePool.create({
        spec: dataset.spec(),
        workers,
        images,
        labels,
        numClasses,
        jpeg: o.jpeg,
        skipBad: o.skipBad,
        flip: o.flip,
      });
    } else if (dataset.needsDecoder) decoder = await createDecoder(o.jpeg);
    return new DataLoader(
      dataset,
      sampler,
      { ...o, prefetch },
      pool,
      decoder,
      images,
      labels,
      slots,
      numClasses,
    );
  }

  /** Batches in the sampler's current epoch (from position 0). */
  get batchesPerEpoch(): number {
    const n = this.sampler.numSamples;
    return (this.#opts.dropLast ?? true)
      ? Math.floor(n / this.batchSize)
      : Math.ceil(n / this.batchSize);
  }

  /** The resumable state (the sampler's): epoch and samples consumed in it. */
  state(): SamplerState {
    return this.sampler.state();
  }

  /** Restores a state saved by {@link state}. */
  restore(s: SamplerState): void {
    this.sampler.restore(s);
  }

  /** Throughput so far. */
  stats(): LoaderStats {
    const seconds = this.#t0 ? (performance.now() - this.#t0) / 1000 : 0;
    return {
      images: this.#delivered,
      seconds,
      imagesPerSecond: seconds > 0 ? this.#delivered / seconds : 0,
      waitSeconds: this.#wait / 1000,
      skipped: this.#skipped,
      workers: this.#pool?.size ?? 0,
      jpeg: this.#pool?.jpeg ?? this.#decoder?.jpeg ?? null,
    };
  }

  /** A one-line throughput report. */
  report(): string {
    const s = this.stats();
    const waitPct = s.seconds > 0 ? (100 * s.waitSeconds) / s.seconds : 0;
    return `data: ${s.imagesPerSecond.toFixed(0)} images/s over ${s.seconds.toFixed(1)} s ` +
      `(${s.workers} workers${s.jpeg ? `, ${s.jpeg}` : ""}), consumer waited ` +
      `${waitPct.toFixed(1)}%` + (s.skipped ? `, ${s.skipped} bad samples skipped` : "");
  }

  async #loadInline(start: number, idx: Int32Array, flipSeed: number): Promise<BadSample[]> {
    const bad: BadSample[] = [];
    for (let j = 0; j < idx.length; j++) {
      const slot = start + j, index = idx[j];
      try {
        let label = this.dataset.load(index, this.#images, slot * IMAGE_BYTES, this.#decoder);
        if (label instanceof Promise) label = await label;
        checkLabel(label, this.numClasses, this.dataset.locate(index));
        if (this.#opts.flip && flipDecision(flipSeed, index)) {
          flipHorizontal(this.#images, slot * IMAGE_BYTES, IMAGE_SIZE, IMAGE_SIZE);
        }
        this.#labels[slot] = label;
      } catch (e) {
        const err = asDataError(e, this.dataset.locate(index));
        if (!this.#opts.skipBad) throw err;
        this.#labels[slot] = -1;
        bad.push({ slot, index, message: err.message });
      }
    }
    return bad;
  }

  #repair(start: number, n: number, bad: BadSample[]) {
    if (!bad.length) return;
    const isBad = new Set(bad.map((b) => b.slot));
    let good = -1;
    for (let s = start; s < start + n; s++) {
      if (!isBad.has(s)) {
        good = s;
        break;
      }
    }
    if (good < 0) throw new Error(`every sample of a batch is bad; first: ${bad[0].message}`);
    const warn = this.#opts.onWarning ?? ((m: string) => console.warn(m));
    for (const b of bad) {
      this.#skipped++;
      warn(`skipped bad sample ${b.index} (${this.#skipped} so far): ${b.message}`);
      this.#images.copyWithin(b.slot * IMAGE_BYTES, good * IMAGE_BYTES, (good + 1) * IMAGE_BYTES);
      this.#labels[b.slot] = this.#labels[good];
    }
  }

  /**
   * Yields the remaining batches of the sampler's current epoch (resuming at its position),
   * then moves the sampler to the next epoch. A batch's arrays are reused once the next
   * batch is requested.
   */
  async *epoch(): AsyncGenerator<Batch> {
    const { epoch, position } = this.sampler.state();
    const all = this.sampler.indices(epoch);
    const B = this.batchSize;
    const dropLast = this.#opts.dropLast ?? true;
    const remaining = all.length - position;
    const nb = dropLast ? Math.floor(remaining / B) : Math.ceil(remaining / B);
    const flipSeed = hashSeed(this.#opts.seed ?? 0, epoch, 0xf11b);
    const inflight = new Map<number, Promise<BadSample[]>>();
    const launch = (k: number) => {
      const from = position + k * B;
      const idx = all.slice(from, Math.min(from + B, all.length));
      const start = (k % this.#slots) * B;
      const p = this.#pool
        ? this.#pool.load(start, idx, flipSeed)
        : this.#loadInline(start, idx, flipSeed);
      p.catch(() => {}); // observed when awaited; avoid unhandled rejections meanwhile
      inflight.set(k, p);
    };
    if (!this.#t0) this.#t0 = performance.now();
    let launched = 0;
    try {
      for (let k = 0; k < nb; k++) {
        while (launched < nb && launched <= k + this.prefetch) launch(launched++);
        const t = performance.now();
        const bad = await inflight.get(k)!;
        this.#wait += performance.now() - t;
        inflight.delete(k);
        const from = position + k * B;
        const n = Math.min(B, all.length - from);
        const start = (k % this.#slots) * B;
        this.#repair(start, n, bad);
        this.#delivered += n;
        this.sampler.advance(n);
        yield {
          images: this.#images.subarray(start * IMAGE_BYTES, (start + n) * IMAGE_BYTES),
          labels: this.#labels.subarray(start, start + n),
          indices: all.slice(from, from + n),
          epoch,
          step: Math.floor(position / B) + k,
        };
      }
      this.sampler.setEpoch(epoch + 1);
    } finally {
      // never leave a load writing into a slot the next epoch will reuse
      await Promise.allSettled(inflight.values());
    }
  }

  /** Stops the workers. */
  close(): void {
    this.#pool?.close();
    this.#decoder?.close();
  }
}
