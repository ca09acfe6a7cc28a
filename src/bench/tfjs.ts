/**
 * The tfjs-webgpu benchmark peer, loaded lazily (`npm:` packages are only fetched when a
 * benchmark asks for them; the training import graph never imports this module). tfjs makes
 * its own GPUDevice on the same adapter as ours, so both run on the same hardware in the same
 * process.
 *
 * ```ts
 * const tf = await loadTfjs();
 * const ms = await timeTfjs(tf, () => tf.matMul(a, b));
 * ```
 *
 * @module
 */
import { timeMedian } from "./report.ts";

/** The tfjs-core namespace. */
export type Tfjs = typeof import("npm:@tensorflow/tfjs-core@4.22.0");
/** A tfjs tensor. */
export type TfTensor = import("npm:@tensorflow/tfjs-core@4.22.0").Tensor;

let loading: Promise<Tfjs> | undefined;

/**
 * Imports tfjs-core and tfjs-backend-webgpu (pinned 4.22.0) once and selects the WebGPU
 * backend.
 * @throws when the WebGPU backend cannot be initialised
 */
export function loadTfjs(): Promise<Tfjs> {
  return loading ??= (async () => {
    // The peer is a benchmark-only dependency, pinned here rather than in deno.json's imports.
    // deno-lint-ignore no-import-prefix
    const tf = await import("npm:@tensorflow/tfjs-core@4.22.0");
    // deno-lint-ignore no-import-prefix
    await import("npm:@tensorflow/tfjs-backend-webgpu@4.22.0");
    if (!(await tf.setBackend("webgpu"))) {
      throw new Error("tfjs: the webgpu backend failed to initialise");
    }
    await tf.ready();
    return tf;
  })();
}

/** The tfjs WebGPU backend's device and queue flush, or undefined on another backend. */
interface WebGpuBackend {
  device: GPUDevice;
  submitQueue(): void;
  ensureCommandEncoderReady(): void;
  endComputePassEncoder(): void;
}
function webgpuBackend(tf: Tfjs): WebGpuBackend | undefined {
  const be = tf.backend() as unknown as Partial<WebGpuBackend>;
  if (!be.device || !be.submitQueue || !be.endComputePassEncoder) return undefined;
  return be as WebGpuBackend;
}

/**
 * Waits until everything tfjs has recorded has run on the GPU: ends tfjs's open compute pass,
 * submits its command encoder and waits for its device's queue to drain, so no transfer is
 * timed. (Reading back a one-element slice does not work: a contiguous slice is a view, and the
 * read can complete before the kernel; submitting without ending the pass makes tfjs drop the
 * work.) `t` is read back instead when the backend is not WebGPU.
 */
export async function syncTfjs(tf: Tfjs, t: TfTensor): Promise<void> {
  const be = webgpuBackend(tf);
  if (!be) {
    await t.data();
    return;
  }
  be.ensureCommandEncoderReady();
  be.endComputePassEncoder();
  be.submitQueue();
  await be.device.queue.onSubmittedWorkDone();
}

/** Installs a GPU error scope on tfjs's device; the returned function throws what it caught. */
export function tfjsErrorScope(tf: Tfjs): () => Promise<void> {
  const be = webgpuBackend(tf);
  be?.device.pushErrorScope("validation");
  return async () => {
    if (!be) return;
    const err = await be.device.popErrorScope();
    if (err) throw new Error(`tfjs WebGPU error: ${err.message}`);
  };
}

/**
 * Median milliseconds of `fn` (a tfjs op returning one or more tensors), synchronised on the
 * GPU after each call, outputs disposed.
 */
export function timeTfjs(
  tf: Tfjs,
  fn: () => TfTensor | TfTensor[],
  opts: { warmup?: number; minRuns?: number; minMs?: number } = {},
): Promise<number> {
  return timeMedian(async () => {
    const out = fn();
    const list = Array.isArray(out) ? out : [out];
    await syncTfjs(tf, list[list.length - 1]);
    for (const t of list) t.dispose();
  }, opts);
}
