/**
 * Face aligners: decode+align jobs (`align_job.ts`) run either on the calling thread
 * ({@link InlineAligner}) or over a pool of worker threads ({@link AlignPool}) that write the
 * aligned 112×112×3 faces straight into a SharedArrayBuffer, item `i` of a job into slot
 * `i` — ordered, no copies back. Both run the same code and give the same bytes. A job that
 * fails rejects with the {@link AlignError} of its first bad item (lowest index); a worker that
 * crashes rejects everything pending and breaks the pool; nothing ever waits forever.
 *
 * @module
 */
import { createDecoder, type ImageDecoder, type JpegBackend } from "../data/decode.ts";
import {
  ALIGNED_BYTES,
  AlignError,
  alignItemCount,
  type AlignItems,
  type AlignScratch,
  runAlignJob,
} from "./align_job.ts";
import type { AlignInitMessage, AlignJobMessage, AlignReplyMessage } from "./align_worker.ts";
import { WorkerGroup } from "../data/worker_group.ts";

export { ALIGNED_BYTES, AlignError, type AlignItems } from "./align_job.ts";

/** Something that decodes and aligns jobs into an output buffer. */
export interface FaceAligner {
  /** Worker threads (0: the calling thread). */
  readonly workers: number;
  /** The JPEG backend in use. */
  readonly jpeg: string;
  /**
   * Decodes and aligns the items of `job`, item `i` into `out[i·112·112·3 …]`. With workers,
   * `out` must view a SharedArrayBuffer. Rejects with an {@link AlignError} for the first bad
   * item.
   */
  align(job: AlignItems, out: Uint8Array): Promise<void>;
  /** Frees the decoder or stops the workers; pending jobs reject. */
  close(): void;
}

/** Runs the jobs on the calling thread (the decode and align steps block it). */
export class InlineAligner implements FaceAligner {
  readonly workers = 0;
  readonly jpeg: string;
  #decoder: ImageDecoder;
  #scratch: AlignScratch = { rgb: new Uint8Array(0) };

  private constructor(decoder: ImageDecoder) {
    this.#decoder = decoder;
    this.jpeg = decoder.jpeg;
  }

  /** Creates the decoder. */
  static async create(jpeg: JpegBackend = "auto"): Promise<InlineAligner> {
    return new InlineAligner(await createDecoder(jpeg));
  }

  /** See {@link FaceAligner.align}. */
  align(job: AlignItems, out: Uint8Array): Promise<void> {
    return runAlignJob(job, out, this.#decoder, this.#scratch);
  }

  /** Frees the decoder. */
  close(): void {
    this.#decoder.close();
  }
}

/** Images and milliseconds per worker of an {@link AlignPool} since it started. */
export interface AlignPoolStats {
  /** Images aligned by each worker. */
  images: number[];
  /** Milliseconds each worker spent on its jobs. */
  ms: number[];
}

function slice(job: AlignItems, a: number, b: number): AlignItems {
  return {
    files: job.files?.slice(a, b),
    images: job.images?.slice(a, b),
    names: job.names?.slice(a, b),
    // a copy: a view would clone its whole underlying buffer into the message
    landmarks: job.landmarks.slice(10 * a, 10 * b),
  };
}

/** Worker threads decoding and aligning into shared memory. */
export class AlignPool implements FaceAligner {
  readonly jpeg: string;
  #group: WorkerGroup<AlignReplyMessage>;
  #stats: AlignPoolStats;

  private constructor(group: WorkerGroup<AlignReplyMessage>, jpeg: string) {
    this.#group = group;
    this.jpeg = jpeg;
    this.#stats = { images: Array(group.size).fill(0), ms: Array(group.size).fill(0) };
  }

  /** Starts `workers` (≥ 1) workers and waits until each has its decoder. */
  static async create(workers: number, jpeg: JpegBackend = "auto"): Promise<AlignPool> {
    if (!(Number.isInteger(workers) && workers >= 1)) {
      throw new Error(`an align pool needs an integer number of workers ≥ 1, got ${workers}`);
    }
    const init: AlignInitMessage = { type: "init", jpeg };
    const { group, ready } = await WorkerGroup.start<AlignReplyMessage>(
      new URL("./align_worker.ts", import.meta.url),
      workers,
      "align",
      () => init,
    );
    return new AlignPool(group, ready[0].jpeg);
  }

  /** Number of workers. */
  get workers(): number {
    return this.#group.size;
  }

  /** Images and milliseconds per worker so far. */
  stats(): AlignPoolStats {
    return { images: [...this.#stats.images], ms: [...this.#stats.ms] };
  }

  async #send(w: number, items: AlignItems, itemBase: number, out: Uint8Array): Promise<void> {
    this.#stats.images[w] += alignItemCount(items);
    const m = await this.#group.request(w, (id): AlignJobMessage => ({
      type: "job",
      id,
      items,
      itemBase,
      out: out.buffer as SharedArrayBuffer,
      byteOffset: out.byteOffset + itemBase * ALIGNED_BYTES,
    }));
    if (m.type === "done") {
      this.#stats.ms[w] += m.ms;
      return;
    }
    if (m.type !== "error") throw new Error(`align worker ${w}: unexpected ${m.type} reply`);
    throw m.stage !== undefined
      ? new AlignError(m.file!, m.stage, m.item!, m.detail!)
      : new Error(`align worker ${w}: ${m.message}`);
  }

  /**
   * See {@link FaceAligner.align}: the items are split into contiguous runs, one per worker
   * (or all to worker `only`).
   */
  async align(job: AlignItems, out: Uint8Array, only?: number): Promise<void> {
    this.#group.check();
    const n = alignItemCount(job);
    if (!(out.buffer instanceof SharedArrayBuffer)) {
      throw new Error("AlignPool.align: the output must view a SharedArrayBuffer");
    }
    if (out.length < n * ALIGNED_BYTES) {
      throw new Error(`an align job of ${n} images got ${out.length} output bytes`);
    }
    const jobs: Promise<void>[] = [];
    if (only !== undefined) jobs.push(this.#send(only, job, 0, out));
    else {
      const W = this.#group.size;
      const per = Math.ceil(n / W);
      for (let w = 0; w < W && w * per < n; w++) {
        const a = w * per, b = Math.min(n, a + per);
        jobs.push(this.#send(w, slice(job, a, b), a, out));
      }
    }
    const results = await Promise.allSettled(jobs);
    let first: Error | null = null;
    for (const r of results) {
      if (r.status === "fulfilled") continue;
      const e = r.reason as Error;
      if (!first) first = e;
      else if (e instanceof AlignError && (!(first instanceof AlignError) || e.item < first.item)) {
        first = e;
      }
    }
    if (first) throw first;
  }

  /** Stops the workers; pending jobs reject. */
  close(): void {
    this.#group.close("align pool closed");
  }
}

/** The default number of align workers: the number of CPUs. */
export function defaultAlignWorkers(): number {
  return navigator.hardwareConcurrency || 1;
}

/** An {@link AlignPool} of `workers` workers, or an {@link InlineAligner} for 0. */
export async function createAligner(
  workers: number = defaultAlignWorkers(),
  jpeg: JpegBackend = "auto",
): Promise<FaceAligner> {
  if (!(Number.isInteger(workers) && workers >= 0)) {
    throw new Error(`align workers must be an integer ≥ 0 (0 = main thread), got ${workers}`);
  }
  return workers === 0 ? await InlineAligner.create(jpeg) : await AlignPool.create(workers, jpeg);
}
