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

interface Pending {
  resolve: (r: { bad: BadSample[]; ms: number }) => void;
  reject: (e: Error) => void;
}

interface Slot {
  worker: Worker;
  pending: Map<number, Pending>;
  busy: number;
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
  #slots: Slot[];
  #nextId = 0;
  #broken: Error | null = null;
  #stats: PoolStats;

  private constructor(slots: Slot[], jpeg: string | null) {
    this.#slots = slots;
    this.jpeg = jpeg;
    this.#stats = { samples: slots.map(() => 0), ms: slots.map(() => 0) };
  }

  /** Starts the workers and waits until each has opened the dataset. */
  static async create(o: PoolOptions): Promise<DecodePool> {
    if (!(o.workers >= 1)) throw new Error("a pool needs at least one worker");
    const slots: Slot[] = [];
    const ready: Promise<string | null>[] = [];
    for (let w = 0; w < o.workers; w++) {
      const worker = new Worker(new URL("./worker.ts", import.meta.url), { type: "module" });
      const slot: Slot = { worker, pending: new Map(), busy: 0 };
      slots.push(slot);
      ready.push(
        new Promise((resolve, reject) => {
          worker.onmessage = (e: MessageEvent<ReplyMessage>) => {
            const m = e.data;
            if (m.type === "ready") resolve(m.jpeg);
            else if (m.type === "error") reject(new Error(`decode worker ${w}: ${m.message}`));
          };
          worker.onerror = (e) => {
            e.preventDefault();
            reject(new Error(`decode worker ${w} failed to start: ${e.message}`));
          };
        }),
      );
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
      worker.postMessage(init);
    }
    let jpegs: (string | null)[];
    try {
      jpegs = await Promise.all(ready);
    } catch (e) {
      for (const s of slots) s.worker.terminate();
      throw e;
    }
    const pool = new DecodePool(slots, jpegs[0]);
    slots.forEach((s, w) => pool.#wire(s, w));
    return pool;
  }

  #wire(slot: Slot, w: number) {
    slot.worker.onmessage = (e: MessageEvent<ReplyMessage>) => {
      const m = e.data;
      if (m.type === "ready") return;
      const p = slot.pending.get(m.id);
      if (!p) return;
      slot.pending.delete(m.id);
      if (m.type === "done") {
        this.#stats.ms[w] += m.ms;
        p.resolve({ bad: m.bad, ms: m.ms });
      } else {
        p.reject(
          m.file !== undefined
            ? new DataError(m.problem, { file: m.file, key: m.key, offset: m.offset })
            : new Error(m.message),
        );
      }
    };
    const die = (why: string) => {
      const err = new Error(`decode worker ${w} died: ${why}`);
      this.#broken ??= err;
      for (const p of slot.pending.values()) p.reject(err);
      slot.pending.clear();
    };
    slot.worker.onerror = (e) => {
      e.preventDefault();
      die(e.message);
    };
    slot.worker.onmessageerror = () => die("a message could not be deserialised");
  }

  /** Number of workers. */
  get size(): number {
    return this.#slots.length;
  }

  /** Samples and milliseconds per worker so far. */
  stats(): PoolStats {
    return { samples: [...this.#stats.samples], ms: [...this.#stats.ms] };
  }

  #send(w: number, start: number, indices: Int32Array, flipSeed: number) {
    const slot = this.#slots[w];
    const id = this.#nextId++;
    this.#stats.samples[w] += indices.length;
    return new Promise<{ bad: BadSample[]; ms: number }>((resolve, reject) => {
      slot.pending.set(id, { resolve, reject });
      const t: TaskMessage = { type: "task", id, start, indices, flipSeed };
      slot.worker.postMessage(t);
    });
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
    if (this.#broken) throw this.#broken;
    const jobs: Promise<{ bad: BadSample[] }>[] = [];
    if (only !== undefined) jobs.push(this.#send(only, start, indices, flipSeed));
    else {
      const n = this.#slots.length;
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
    const err = new Error("decode pool closed");
    this.#broken ??= err;
    for (const s of this.#slots) {
      for (const p of s.pending.values()) p.reject(err);
      s.pending.clear();
      s.worker.terminate();
    }
  }
}
