/**
 * A pool of decode workers writing into shared batch buffers. `load(start, indices)` splits
 * the samples over the workers and resolves when all are written, or rejects with a
 * DataError naming file, key and offset. A worker that crashes rejects everything pending
 * and breaks the pool; nothing ever waits forever.
 *
 * @module
 */
import type { DatasetSpec } from "./dataset.ts";
import type { JpegBackend } from "./decode.ts";
import { DataError } from "./errors.ts";
import type { BadSample, InitMessage, ReplyMessage, TaskMessage } from "./worker.ts";
import { WorkerGroup } from "./worker_group.ts";

/** Options of {@link DecodePool}. */
export interface PoolOptions {
  /** The dataset every worker opens. */
  spec: DatasetSpec;
  /** Number of workers (≥ 1). */
  workers: number;
  /** Shared images buffer (samples × 112·112·3 bytes). */
  images: SharedArrayBuffer;
  /** Shared labels buffer (Int32 per sample). */
  labels: SharedArrayBuffer;
  /** Class count labels are checked against, or null. */
  numClasses: number | null;
  /** JPEG backend (default auto). */
  jpeg?: JpegBackend;
  /** Report bad samples instead of failing (default false). */
  skipBad?: boolean;
  /** CPU flip of half the samples (default false). */
  flip?: boolean;
}

/** Per-worker timing of a pool since it started. */
export interface PoolStats {
  /** Samples loaded by each worker. */
  samples: number[];
  /** Milliseconds each worker spent loading. */
  ms: number[];
}

/** Worker threads decoding into shared memory. */
export class DecodePool {
  /** The JPEG backend the workers use (null when the dataset needs no decoder). */
  readonly jpeg: string | null;
  #group: WorkerGroup<ReplyMessage>;
  #stats: PoolStats;

  private constructor(group: WorkerGroup<ReplyMessage>, jpeg: string | null) {
    this.#group = group;
    this.jpeg = jpeg;
    this.#stats = { samples: Array(group.size).fill(0), ms: Array(group.size).fill(0) };
  }

  /** Starts the workers and waits until each has opened the dataset. */
  static async create(o: PoolOptions): Promise<DecodePool> {
    if (!(o.workers >= 1)) throw new Error("a pool needs at least one worker");
    const init: InitMessage = {
      type: "init",
      spec: o.spec,
      jpeg: o.jpeg ?? "auto",
      images: o.images,
      labels: o.labels,
      numClasses: o.numClasses,
      skipBad: o.skipBad ?? false,
      flip: o.flip ?? false,
    };
    const { group, ready } = await WorkerGroup.start<ReplyMessage>(
      new URL("./worker.ts", import.meta.url),
      o.workers,
      "decode",
      () => init,
    );
    return new DecodePool(group, ready[0].jpeg);
  }

  /** Number of workers. */
  get size(): number {
    return this.#group.size;
  }

  /** Samples and milliseconds per worker so far. */
  stats(): PoolStats {
    return { samples: [...this.#stats.samples], ms: [...this.#stats.ms] };
  }

  async #send(w: number, start: number, indices: Int32Array, flipSeed: number) {
    this.#stats.samples[w] += indices.length;
    const m = await this.#group.request(w, (id): TaskMessage => ({
      type: "task",
      id,
      start,
      indices,
      flipSeed,
    }));
    if (m.type === "done") {
      this.#stats.ms[w] += m.ms;
      return { bad: m.bad, ms: m.ms };
    }
    if (m.type !== "error") throw new Error(`decode worker ${w}: unexpected ${m.type} reply`);
    throw m.file !== undefined
      ? new DataError(m.problem, { file: m.file, key: m.key, offset: m.offset })
      : new Error(m.message);
  }

  /**
   * Loads dataset `indices` into sample slots `start…` of the shared buffers, split evenly over
   * the workers (or all to worker `only`). Resolves with the samples that failed under
   * skipBad.
   */
  async load(
    start: number,
    indices: Int32Array,
    flipSeed = 0,
    only?: number,
  ): Promise<BadSample[]> {
    this.#group.check();
    const jobs: Promise<{ bad: BadSample[] }>[] = [];
    if (only !== undefined) jobs.push(this.#send(only, start, indices, flipSeed));
    else {
      const n = this.#group.size;
      const per = Math.ceil(indices.length / n);
      for (let w = 0; w < n && w * per < indices.length; w++) {
        const part = indices.slice(w * per, Math.min(indices.length, (w + 1) * per));
        jobs.push(this.#send(w, start + w * per, part, flipSeed));
      }
    }
    const results = await Promise.allSettled(jobs);
    const failed = results.find((r) => r.status === "rejected");
    if (failed) throw (failed as PromiseRejectedResult).reason;
    return results.flatMap((r) => (r as PromiseFulfilledResult<{ bad: BadSample[] }>).value.bad);
  }

  /** Stops the workers; pending loads reject. */
  close(): void {
    this.#group.close("decode pool closed");
  }
}
