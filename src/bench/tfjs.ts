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
function webgpuBackend(tf: Tfjs): { device: GPUDevice; submitQueue(): void } | undefined {
  const be = tf.backend() as unknown as { device?: GPUDevice; submitQueue?: () => void };
  if (!be.device || !be.submitQueue) return undefined;
  return be as { device: GPUDevice; submitQueue(): void };
}

/**
 * Waits until everything tfjs has recorded has run on the GPU, by reading back one element of
 * `t` (tfjs submits its queue for the read, and the copy runs after the work it depends on).
 * A readback of the whole output would time the transfer, not the kernel.
 */
export async function syncTfjs(tf: Tfjs, t: TfTensor): Promise<void> {
  const flat = tf.reshape(t, [-1]);
  const one = tf.slice(flat, [0], [1]);
  await one.data();
  one.dispose();
  flat.dispose();
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
