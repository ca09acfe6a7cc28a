/**
 * One decode+align job, the unit of work of the face aligners (`align_pool.ts`): read a list of
 * files (or take their encoded bytes), decode each (src/data/decode.ts) and align it with its 5
 * landmarks onto the 112×112 ArcFace template (`alignFace`), item `i` into bytes
 * `i·112·112·3 …` of an output buffer. The main thread and the workers run this same code, so
 * both give the same bytes. A failure stops the job at the first bad item (in item order) with
 * an {@link AlignError} naming the file, the stage and the item.
 *
 * @module
 */
import type { ImageDecoder } from "../data/decode.ts";
import { probeImage } from "../data/decode.ts";
import { ALIGNED_SIZE, alignFace } from "./align.ts";

/** Bytes of one aligned face (112·112·3). */
export const ALIGNED_BYTES = ALIGNED_SIZE * ALIGNED_SIZE * 3;

/** Where an item failed: reading its file, decoding it, or aligning it. */
export type AlignStage = "read" | "decode" | "align";

/** A failed item of a job: `file`, the `stage` and `item` (its index in the job). */
export class AlignError extends Error {
  /** The file (or name given for encoded bytes). */
  readonly file: string;
  /** What failed. */
  readonly stage: AlignStage;
  /** Index of the item in the job (0-based). */
  readonly item: number;
  /** The underlying error's message. */
  readonly detail: string;

  constructor(file: string, stage: AlignStage, item: number, detail: string) {
    const verb = stage === "read"
      ? "cannot read"
      : stage === "decode"
      ? "cannot decode"
      : "cannot align";
    super(`${file}: ${verb} (${detail})`);
    this.name = "AlignError";
    this.file = file;
    this.stage = stage;
    this.item = item;
    this.detail = detail;
  }
}

/** The items of a job: files to read, or encoded images with names for errors. */
export interface AlignItems {
  /** Files to read; or */
  files?: string[];
  /** encoded JPEG/PNG bytes, one per item, and */
  images?: Uint8Array[];
  /** their names in errors (default `image <i>`). */
  names?: string[];
  /** 10 landmark numbers per item (x0, y0, …, x4, y4 in source pixels). */
  landmarks: Float32Array | Float64Array;
}

/** Per-thread scratch memory of {@link runAlignJob} (the decoded RGB image). */
export interface AlignScratch {
  /** Decode buffer, grown to the largest image seen. */
  rgb: Uint8Array;
}

/** Number of items of a job; throws when its lists disagree. */
export function alignItemCount(job: AlignItems): number {
  const n = job.files?.length ?? job.images?.length;
  if (n === undefined || (job.files && job.images)) {
    throw new Error("an align job needs either files or images (encoded bytes), not both");
  }
  if (job.landmarks.length !== n * 10) {
    throw new Error(
      `an align job of ${n} images has ${job.landmarks.length} landmark numbers; expected ${
        n * 10
      } (5 points x, y per image)`,
    );
  }
  if (job.names && job.names.length !== n) {
    throw new Error(`an align job of ${n} images has ${job.names.length} names`);
  }
  return n;
}

/** The name of item `i` in errors. */
export function alignItemName(job: AlignItems, i: number): string {
  return job.files?.[i] ?? job.names?.[i] ?? `image ${i}`;
}

function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/**
 * Runs a job: item `i` is decoded and aligned into `out[i·ALIGNED_BYTES …]`. Files are read
 * concurrently, then decoded and aligned in item order. Rejects with an {@link AlignError}
 * for the first item that fails (`item` is `itemBase` + its index here).
 */
export async function runAlignJob(
  job: AlignItems,
  out: Uint8Array,
  decoder: ImageDecoder,
  scratch: AlignScratch,
  itemBase = 0,
): Promise<void> {
  const n = alignItemCount(job);
  if (out.length < n * ALIGNED_BYTES) {
    throw new Error(
      `an align job of ${n} images got ${out.length} output bytes (< ${n}·112·112·3)`,
    );
  }
  const read = job.files ? await Promise.allSettled(job.files.map((f) => Deno.readFile(f))) : null;
  for (let i = 0; i < n; i++) {
    const name = alignItemName(job, i);
    let bytes: Uint8Array;
    if (read) {
      const r = read[i];
      if (r.status === "rejected") {
        throw new AlignError(name, "read", itemBase + i, message(r.reason));
      }
      bytes = r.value;
    } else bytes = job.images![i];
    let w: number, h: number;
    try {
      ({ width: w, height: h } = probeImage(bytes));
      if (scratch.rgb.length < w * h * 3) scratch.rgb = new Uint8Array(w * h * 3);
      const r = decoder.decodeInto(bytes, scratch.rgb.subarray(0, w * h * 3));
      if (r instanceof Promise) await r;
    } catch (e) {
      throw new AlignError(name, "decode", itemBase + i, message(e));
    }
    try {
      alignFace(
        scratch.rgb.subarray(0, w * h * 3),
        w,
        h,
        job.landmarks.subarray(10 * i, 10 * i + 10),
        out.subarray(i * ALIGNED_BYTES, (i + 1) * ALIGNED_BYTES),
      );
    } catch (e) {
      throw new AlignError(name, "align", itemBase + i, message(e));
    }
  }
}
