/**
 * Helpers shared by the tests: fresh random inputs (the seed is printed so a failure can be
 * replayed with TEST_SEED), relative errors, and poisoning of the allocator's free lists so
 * that kernels write into NaN-filled buffers.
 *
 * @module
 */
import { gpu, initGpu } from "../src/gpu/device.ts";
import { BYTES, type DType } from "../src/tensor/dtype.ts";
import { fill } from "../src/tensor/ops/elementwise.ts";
import { numel } from "../src/tensor/tensor.ts";

/** The seed of this test process: TEST_SEED or the clock. */
export const SEED = Number(Deno.env.get("TEST_SEED") ?? (Date.now() % 2147483647));
let state = SEED >>> 0 || 1;

/** Prints the seed once, so that any failure can be replayed. */
console.log(`test seed ${SEED} (replay with TEST_SEED=${SEED})`);

/** Uniform in [0, 1) from a xorshift generator seeded by SEED. */
export function rand(): number {
  state ^= state << 13;
  state >>>= 0;
  state ^= state >>> 17;
  state ^= state << 5;
  state >>>= 0;
  return state / 4294967296;
}

/** Standard normal samples. */
export function randn(n: number, scale = 1): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const u = Math.max(rand(), 1e-12), v = rand();
    out[i] = scale * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }
  return out;
}

/** Relative L2 error ‖a − b‖ / max(‖b‖, tiny); NaN anywhere gives Infinity. */
export function relErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} vs ${b.length}`);
  let num = 0, den = 0;
  for (let i = 0; i < a.length; i++) {
    const d = a[i] - b[i];
    if (!Number.isFinite(a[i])) return Infinity;
    num += d * d;
    den += b[i] * b[i];
  }
  return Math.sqrt(num) / Math.max(Math.sqrt(den), 1e-30);
}

/** Throws with a readable message unless relErr(actual, expected) < tol. */
export function assertClose(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  tol: number,
  what: string,
): void {
  const e = relErr(actual, expected);
  if (!(e < tol || (tol === 0 && e === 0))) {
    const show = (x: ArrayLike<number>) => Array.from(x).slice(0, 6).map((v) => v.toPrecision(6));
    throw new Error(
      `${what}: relative error ${e.toExponential(3)} exceeds ${tol} (seed ${SEED})\n` +
        `  actual   ${show(actual)}\n  expected ${show(expected)}`,
    );
  }
}

/**
 * Fills `count` pooled buffers of the size class of `shape`/`dtype` with NaN and frees them,
 * so the next allocations of that size receive NaN-poisoned memory.
 */
export function poison(shape: readonly number[], dtype: DType = "f32", count = 4): void {
  const ts = [];
  const fdtype = dtype === "f16" ? "f16" : "f32";
  const n = Math.ceil(numel(shape) * BYTES[dtype] / BYTES[fdtype]);
  for (let i = 0; i < count; i++) ts.push(fill([Math.max(n, 1)], NaN, fdtype));
  for (const t of ts) t.dispose();
}

/** Initialises the GPU for a test file and returns it. */
export async function setup() {
  await initGpu();
  return gpu();
}

/** Whether the adapter has shader-f16 (prints why a test is skipped when not). */
export function hasF16(test: string): boolean {
  const ok = gpu().features.f16;
  if (!ok) console.log(`skipped ${test}: this adapter has no shader-f16`);
  return ok;
}
