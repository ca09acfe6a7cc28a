/**
 * The face-align worker: a Deno Worker that creates a decoder, then runs decode+align jobs
 * (`align_job.ts`) writing straight into a SharedArrayBuffer. Every failure is answered with
 * a message naming the file, stage and item — the pool never waits on a silent worker.
 * Spawned by `align_pool.ts` with `new Worker(new URL("./align_worker.ts", import.meta.url))`;
 * importing it elsewhere does nothing.
 *
 * @module
 */
import { createDecoder, type ImageDecoder, type JpegBackend } from "../data/decode.ts";
import { AlignError, type AlignItems, type AlignScratch, runAlignJob } from "./align_job.ts";

/** Sets up a worker. */
export interface AlignInitMessage {
  /** Message tag. */
  type: "init";
  /** JPEG backend. */
  jpeg: JpegBackend;
}

/** Decodes and aligns `items` into `out` from byte `byteOffset` (item i at `i·112·112·3`). */
export interface AlignJobMessage {
  /** Message tag. */
  type: "job";
  /** Job id, echoed in the reply. */
  id: number;
  /** The items. */
  items: AlignItems;
  /** Index of the first item in the caller's job (for errors). */
  itemBase: number;
  /** Shared output buffer. */
  out: SharedArrayBuffer;
  /** Byte offset of the first item's output. */
  byteOffset: number;
}

/** A worker's replies. */
export type AlignReplyMessage =
  | { type: "ready"; jpeg: string }
  | { type: "done"; id: number; ms: number }
  | {
    type: "error";
    id: number;
    message: string;
    file?: string;
    stage?: AlignError["stage"];
    item?: number;
    detail?: string;
  };

/** Runs the worker loop on `scope` (called automatically inside a worker). */
export function serveAlignWorker(scope: {
  onmessage: ((e: MessageEvent) => void) | null;
  postMessage(m: unknown): void;
}): void {
  let decoder: ImageDecoder | null = null;
  const scratch: AlignScratch = { rgb: new Uint8Array(0) };
  let queue: Promise<void> = Promise.resolve();
  scope.onmessage = (e: MessageEvent) => {
    const msg = e.data as AlignInitMessage | AlignJobMessage;
    queue = queue.then(async () => {
      if (msg.type === "init") {
        try {
          decoder = await createDecoder(msg.jpeg);
          scope.postMessage({ type: "ready", jpeg: decoder.jpeg });
        } catch (err) {
          const m = err instanceof Error ? err.message : String(err);
          scope.postMessage({ type: "error", id: -1, message: m });
        }
        return;
      }
      if (!decoder) {
        scope.postMessage({ type: "error", id: msg.id, message: "job before init" });
        return;
      }
      const t0 = performance.now();
      try {
        const out = new Uint8Array(msg.out, msg.byteOffset);
        await runAlignJob(msg.items, out, decoder, scratch, msg.itemBase);
        scope.postMessage({ type: "done", id: msg.id, ms: performance.now() - t0 });
      } catch (err) {
        if (err instanceof AlignError) {
          scope.postMessage({
            type: "error",
            id: msg.id,
            message: err.message,
            file: err.file,
            stage: err.stage,
            item: err.item,
            detail: err.detail,
          });
        } else {
          const m = err instanceof Error ? err.message : String(err);
          scope.postMessage({ type: "error", id: msg.id, message: m });
        }
      }
    });
  };
}

declare const WorkerGlobalScope: { new (): unknown } | undefined;
if (typeof WorkerGlobalScope !== "undefined" && self instanceof WorkerGlobalScope) {
  serveAlignWorker(self as unknown as Parameters<typeof serveAlignWorker>[0]);
}
