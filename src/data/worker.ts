/**
 * The decode worker: a Deno Worker that reopens a dataset from its spec, then loads lists of
 * samples into a shared batch buffer (decode, size check, label check, optional CPU flip).
 * Every failure is answered with a message naming file, key and offset — the pool never
 * waits on a silent worker. Loaded by `pool.ts` with `new Worker(…worker.ts…)`; importing it
 * elsewhere does nothing.
 *
 * @module
 */
import { flipDecision, flipHorizontal } from "./augment.ts";
import { checkLabel, type Dataset, type DatasetSpec, IMAGE_BYTES, IMAGE_SIZE } from "./dataset.ts";
import { createDecoder, type ImageDecoder, type JpegBackend } from "./decode.ts";
import { asDataError, type DataError } from "./errors.ts";
import { openDatasetSpec } from "./open.ts";

/** Sets up a worker. */
export interface InitMessage {
  /** Message tag. */
  type: "init";
  /** The dataset to open. */
  spec: DatasetSpec;
  /** JPEG backend. */
  jpeg: JpegBackend;
  /** Shared images buffer (samples × 112·112·3 bytes). */
  images: SharedArrayBuffer;
  /** Shared labels buffer (Int32 per sample). */
  labels: SharedArrayBuffer;
  /** Class count labels are checked against, or null. */
  numClasses: number | null;
  /** Report bad samples instead of failing the task. */
  skipBad: boolean;
  /** Flip half the samples on the CPU. */
  flip: boolean;
}

/** Loads samples `indices` into sample slots `start`, `start + 1`, … of the shared buffers. */
export interface TaskMessage {
  /** Message tag. */
  type: "task";
  /** Task id, echoed in the reply. */
  id: number;
  /** First sample slot. */
  start: number;
  /** Dataset indices. */
  indices: Int32Array;
  /** Seed of the flip decisions. */
  flipSeed: number;
}

/** A sample that failed under `skipBad`. */
export interface BadSample {
  /** Sample slot. */
  slot: number;
  /** Dataset index. */
  index: number;
  /** The error message (with file, key and offset). */
  message: string;
}

/** A worker's replies. */
export type ReplyMessage =
  | { type: "ready"; jpeg: string | null }
  | { type: "done"; id: number; bad: BadSample[]; ms: number }
  | {
    type: "error";
    id: number;
    message: string;
    problem: string;
    file?: string;
    key?: number;
    offset?: number;
  };

interface State {
  dataset: Dataset;
  decoder: ImageDecoder | null;
  images: Uint8Array;
  labels: Int32Array;
  init: InitMessage;
}

async function runTask(s: State, t: TaskMessage): Promise<ReplyMessage> {
  const t0 = performance.now();
  const bad: BadSample[] = [];
  for (let j = 0; j < t.indices.length; j++) {
    const slot = t.start + j;
    const index = t.indices[j];
    try {
      let label = s.dataset.load(index, s.images, slot * IMAGE_BYTES, s.decoder);
      if (label instanceof Promise) label = await label;
      checkLabel(label, s.init.numClasses, s.dataset.locate(index));
      if (s.init.flip && flipDecision(t.flipSeed, index)) {
        flipHorizontal(s.images, slot * IMAGE_BYTES, IMAGE_SIZE, IMAGE_SIZE);
      }
      s.labels[slot] = label;
    } catch (e) {
      let err: DataError;
      try {
        err = asDataError(e, s.dataset.locate(index));
      } catch {
        err = asDataError(e, { file: "<dataset>", key: index });
      }
      if (!s.init.skipBad) {
        return {
          type: "error",
          id: t.id,
          message: err.message,
          problem: err.problem,
          file: err.file,
          key: err.key,
          offset: err.offset,
        };
      }
      s.labels[slot] = -1;
      bad.push({ slot, index, message: err.message });
    }
  }
  return { type: "done", id: t.id, bad, ms: performance.now() - t0 };
}

/** Runs the worker loop on `scope` (called automatically inside a worker). */
export function serveWorker(scope: {
  onmessage: ((e: MessageEvent) => void) | null;
  postMessage(m: unknown): void;
}): void {
  let state: State | null = null;
  let queue: Promise<void> = Promise.resolve();
  scope.onmessage = (e: MessageEvent) => {
    const msg = e.data as InitMessage | TaskMessage;
    queue = queue.then(async () => {
      if (msg.type === "init") {
        try {
          const dataset = openDatasetSpec(msg.spec);
          const decoder = dataset.needsDecoder ? await createDecoder(msg.jpeg) : null;
          state = {
            dataset,
            decoder,
            images: new Uint8Array(msg.images),
            labels: new Int32Array(msg.labels),
            init: msg,
          };
          scope.postMessage({ type: "ready", jpeg: decoder?.jpeg ?? null });
        } catch (err) {
          const m = err instanceof Error ? err.message : String(err);
          scope.postMessage({ type: "error", id: -1, message: m, problem: m });
        }
        return;
      }
      if (!state) {
        const m = "worker received a task before init";
        scope.postMessage({ type: "error", id: msg.id, message: m, problem: m });
        return;
      }
      scope.postMessage(await runTask(state, msg));
    });
  };
}

declare const WorkerGlobalScope: { new (): unknown } | undefined;
if (typeof WorkerGlobalScope !== "undefined" && self instanceof WorkerGlobalScope) {
  serveWorker(self as unknown as Parameters<typeof serveWorker>[0]);
}
