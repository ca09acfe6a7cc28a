/**
 * GEMM, matmul and linear against a float64 CPU reference on fresh random inputs, with the
 * output poisoned (NaN) before every kernel: all layouts, batching (incl. stride-0 broadcast
 * and 3-D · 2-D), bias, alpha/beta, leading dimensions, unaligned views (the scalar-load
 * path), f16, the row-chunked path for operands beyond one binding, gradients (vs the CPU
 * reference and finite differences) and bad input.
 */
import assert from "node:assert/strict";
import { gpu, initGpu } from "../../src/gpu/device.ts";
import { backward } from "../../src/tensor/autograd.ts";
import { roundHalf } from "../../src/tensor/dtype.ts";
import { mul } from "../../src/tensor/ops/elementwise.ts";
import { gemm, linear, matmul } from "../../src/tensor/ops/matmul.ts";
import { sumAll } from "../../src/tensor/ops/reduce.ts";
import { Tensor } from "../../src/tensor/tensor.ts";

await initGpu();

const F32_TOL = 1e-5, F16_TOL = 1e-2;

function rand(n: number, f16 = false): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = f16 ? roundHalf(Math.random() * 2 - 1) : Math.random() * 2 - 1;
  return a;
}

/** Relative L2 error; NaN or a missing output fails. */
function relErr(got: ArrayLike<number>, want: ArrayLike<number>): number {
  assert.equal(got.length, want.length);
  let e = 0, n = 0;
  for (let i = 0; i < want.length; i++) {
    if (!Number.isFinite(got[i])) return Infinity;
    e += (got[i] - want[i]) ** 2;
    n += want[i] ** 2;
  }
  return Math.sqrt(e / Math.max(n, 1e-30));
}

interface Ref {
  M: number;
  N: number;
  K: number;
  batch?: number;
  transA?: boolean;
  transB?: boolean;
  lda?: number;
  ldb?: number;
  ldc?: number;
  strideA?: number;
  strideB?: number;
  strideC?: number;
  alpha?: number;
  beta?: number;
}

/** Float64 reference of `gemm` over host arrays (c is updated in place, like the kernel). */
function cpuGemm(
  s: Ref,
  a: ArrayLike<number>,
  b: ArrayLike<number>,
  c: Float64Array,
  bias?: ArrayLike<number>,
) {
  const { M, N, K, batch = 1, transA = false, transB = false, alpha = 1, beta = 0 } = s;
  const lda = s.lda ?? (transA ? M : K), ldb = s.ldb ?? (transB ? K : N), ldc = s.ldc ?? N;
  const sa = s.strideA ?? M * K, sb = s.strideB ?? K * N, sc = s.strideC ?? M * ldc;
  for (let z = 0; z < batch; z++) {
    for (let i = 0; i < M; i++) {
      for (let j = 0; j < N; j++) {
        let acc = 0;
        for (let k = 0; k < K; k++) {
          const av = a[z * sa + (transA ? k * lda + i : i * lda + k)];
          const bv = b[z * sb + (transB ? j * ldb + k : k * ldb + j)];
          acc += av * bv;
        }
        const ci = z * sc + i * ldc + j;
        c[ci] = alpha * acc + (bias ? bias[j] : 0) + (beta !== 0 ? beta * c[ci] : 0);
      }
    }
  }
}

/**
 * Runs `gemm` on random operands of exactly the sizes the layout needs (plus `pad` leading
 * elements to shift alignment) into a NaN-poisoned C (or random C when beta ≠ 0), compares
 * every element C covers with the CPU reference; elements between rows (ldc > N) must stay
 * untouched.
 */
async function checkGemm(
  s: Ref & { bias?: boolean; pad?: number; maxBindingBytes?: number },
  dtype: "f32" | "f16" = "f32",
) {
  const { M, N, K, batch = 1, transA = false, transB = false, pad = 0 } = s;
  const lda = s.lda ?? (transA ? M : K), ldb = s.ldb ?? (transB ? K : N), ldc = s.ldc ?? N;
  const sa = s.strideA ?? M * K, sb = s.strideB ?? K * N, sc = s.strideC ?? M * ldc;
  const na = sa * (batch - 1) + ((transA ? K : M) - 1) * lda + (transA ? M : K);
  const nb = sb * (batch - 1) + ((transB ? N : K) - 1) * ldb + (transB ? K : N);
  const nc = sc * (batch - 1) + (M - 1) * ldc + N;
  const f16 = dtype === "f16";
  const ha = rand(pad + na, f16), hb = rand(pad + nb, f16), hbias = rand(N, f16);
  const hc = s.beta ? rand(pad + nc, f16) : new Float32Array(pad + nc).fill(NaN);
  const a = Tensor.fromArray(ha, [pad + na], dtype), b = Tensor.fromArray(hb, [pad + nb], dtype);
  const c = Tensor.fromArray(hc, [pad + nc], dtype);
  const bias = s.bias ? Tensor.fromArray(hbias, [N], dtype) : undefined;
  const av = a.rows(pad, pad + na), bv = b.rows(pad, pad + nb), cv = c.rows(pad, pad + nc);
  gemm({
    ...s,
    a: av,
    b: bv,
    c: cv,
    bias,
    dtype,
    maxBindingBytes: s.maxBindingBytes,
  });
  const got = await cv.readFloat();
  const want = Float64Array.from(hc.subarray(pad));
  cpuGemm(s, ha.subarray(pad), hb.subarray(pad), want, s.bias ? hbias : undefined);
  // Covered elements must match; uncovered ones (row padding of ldc) keep their old value.
  const covered = new Uint8Array(nc);
  for (let z = 0; z < batch; z++) {
    for (let i = 0; i < M; i++) covered.fill(1, z * sc + i * ldc, z * sc + i * ldc + N);
  }
  const g: number[] = [], w: number[] = [];
  for (let i = 0; i < nc; i++) {
    if (covered[i]) {
      g.push(got[i]);
      w.push(want[i]);
    } else if (!(Number.isNaN(hc[pad + i]) && Number.isNaN(got[i]))) {
      assert.equal(got[i], hc[pad + i], `element ${i} outside C was written`);
    }
  }
  const err = relErr(g, w);
  const tol = f16 ? F16_TOL : F32_TOL;
  assert.ok(err < tol, `gemm ${dtype} ${JSON.stringify(s)}: relative error ${err}`);
  for (const t of [a, b, c, av, bv, cv, bias]) t?.dispose();
}

const LAYOUTS = [[false, false], [false, true], [true, false], [true, true]] as const;
const SHAPES = [[1, 1, 1], [7, 13, 5], [33, 65, 17], [16, 8, 4], [5, 1, 9], [1, 40, 3], [20, 3, 1]];

Deno.test("gemm f32: every layout and odd shape matches the CPU reference", async () => {
  for (const [transA, transB] of LAYOUTS) {
    for (const [M, N, K] of SHAPES) await checkGemm({ M, N, K, transA, transB });
  }
});

Deno.test("gemm: aligned fast path and unaligned views agree with the reference", async () => {
  for (const [transA, transB] of LAYOUTS) {
    // Multiples of 4 everywhere: the vec4 path (plus a K tail of 3 and edge tiles).
    await checkGemm({ M: 36, N: 44, K: 64, transA, transB });
    await checkGemm({
      M: 20,
      N: 12,
      K: 23,
      transA,
      transB,
      lda: transA ? 20 : 24,
      ldb: transB ? 24 : 12,
    });
    // Views starting at an element offset that is not a multiple of 4: the scalar path.
    await checkGemm({ M: 12, N: 16, K: 8, transA, transB, pad: 3 });
  }
});

Deno.test("gemm: bias, alpha, beta, leading dimensions", async () => {
  for (const [transA, transB] of LAYOUTS) {
    await checkGemm({ M: 9, N: 11, K: 6, transA, transB, bias: true });
    await checkGemm({ M: 9, N: 11, K: 6, transA, transB, alpha: -0.5, beta: 0.75 });
    await checkGemm({
      M: 6,
      N: 7,
      K: 5,
      transA,
      transB,
      lda: 9,
      ldb: 10,
      ldc: 12,
      bias: true,
      alpha: 2,
      beta: 1,
    });
  }
  await checkGemm({ M: 4, N: 4, K: 0, beta: 0.5, bias: true }); // K = 0: bias + beta·C
});

Deno.test("gemm: batches with strides, including stride 0 (broadcast)", async () => {
  for (const [transA, transB] of LAYOUTS) {
    await checkGemm({ M: 5, N: 6, K: 7, batch: 3, transA, transB });
    await checkGemm({ M: 8, N: 12, K: 16, batch: 2, transA, transB, strideB: 0 });
    await checkGemm({ M: 3, N: 5, K: 4, batch: 1, transA, transB });
  }
  await checkGemm({ M: 4, N: 3, K: 5, batch: 3, strideA: 0, ldc: 4, strideC: 13 });
});

Deno.test("gemm: operands beyond the binding limit are processed in chunks", async () => {
  // Partial FC logits x[M,K]·W[N,K]ᵀ with W split into ~4 row chunks; C column ranges via ldc.
  await checkGemm({ M: 128, N: 300, K: 32, transB: true, maxBindingBytes: 256 + 80 * 32 * 4 });
  await checkGemm({ M: 9, N: 70, K: 12, transB: true, bias: true, maxBindingBytes: 1024 });
  // A and C in row chunks (NN), and batches split.
  await checkGemm({ M: 70, N: 9, K: 12, maxBindingBytes: 1024 });
  await checkGemm({ M: 6, N: 5, K: 7, batch: 5, transA: true, maxBindingBytes: 512 });
  const before = gpu().stats.dispatches;
  await checkGemm({ M: 4, N: 100, K: 8, transB: true, maxBindingBytes: 256 + 25 * 8 * 4 });
  assert.ok(gpu().stats.dispatches - before >= 4, "expected several chunk dispatches");
});

Deno.test("gemm f16 (f32 accumulation)", async (t) => {
  if (!gpu().features.f16) {
    console.log("skipped: this adapter has no shader-f16");
    return;
  }
  for (const [transA, transB] of LAYOUTS) {
    await t.step(`f16 ${transA ? "T" : "N"}${transB ? "T" : "N"}`, async () => {
      await checkGemm({ M: 33, N: 65, K: 17, transA, transB, bias: true }, "f16");
      await checkGemm({ M: 32, N: 64, K: 256, transA, transB }, "f16");
      await checkGemm({ M: 7, N: 13, K: 5, transA, transB, pad: 1, alpha: 0.5, beta: 1 }, "f16");
    });
  }
});

/** Host matrix helpers for the matmul/linear tests. */
function hostMatmul(
  a: Float32Array,
  b: Float32Array,
  M: number,
  K: number,
  N: number,
  tA = false,
  tB = false,
) {
  const c = new Float64Array(M * N);
  cpuGemm({ M, N, K, transA: tA, transB: tB }, a, b, c);
  return c;
}

Deno.test("matmul: 2-D, 3-D · 3-D, 3-D · 2-D, bias, alpha", async () => {
  for (const [transA, transB] of LAYOUTS) {
    const [M, K, N] = [7, 10, 6];
    const ha = rand(M * K), hb = rand(K * N), hbias = rand(N);
    const a = Tensor.fromArray(ha, transA ? [K, M] : [M, K]);
    const b = Tensor.fromArray(hb, transB ? [N, K] : [K, N]);
    const bias = Tensor.fromArray(hbias, [N]);
    const y = matmul(a, b, { transA, transB, bias, alpha: 1.5 });
    assert.deepEqual(y.shape, [M, N]);
    const want = hostMatmul(ha, hb, M, K, N, transA, transB).map((v, i) => 1.5 * v + hbias[i % N]);
    assert.ok(relErr(await y.readFloat(), want) < F32_TOL);
    for (const t of [a, b, bias, y]) t.dispose();
  }
  // Batched 3-D · 3-D (batch 1 and 3) and 3-D · 2-D.
  for (const B of [1, 3]) {
    const [M, K, N] = [5, 9, 4];
    const ha = rand(B * M * K), hb = rand(B * K * N);
    const a = Tensor.fromArray(ha, [B, M, K]), b = Tensor.fromArray(hb, [B, N, K]);
    const y = matmul(a, b, { transB: true });
    assert.deepEqual(y.shape, [B, M, N]);
    const want = new Float64Array(B * M * N);
    cpuGemm({ M, N, K, batch: B, transB: true }, ha, hb, want);
    assert.ok(relErr(await y.readFloat(), want) < F32_TOL);
    const w = Tensor.fromArray(hb.subarray(0, K * N), [K, N]);
    const y2 = matmul(a, w);
    assert.deepEqual(y2.shape, [B, M, N]);
    assert.ok(
      relErr(await y2.readFloat(), hostMatmul(ha, hb.subarray(0, K * N), B * M, K, N)) < F32_TOL,
    );
    for (const t of [a, b, y, w, y2]) t.dispose();
  }
});

/** loss = Σ matmul(a, b, opts) ⊙ R; returns the loss value. */
async function lossOf(
  ha: Float32Array,
  hb: Float32Array,
  hr: Float32Array,
  sa: number[],
  sb: number[],
  sr: number[],
  opts: { transA?: boolean; transB?: boolean },
) {
  const a = Tensor.fromArray(ha, sa), b = Tensor.fromArray(hb, sb), r = Tensor.fromArray(hr, sr);
  const y = matmul(a, b, opts), l = sumAll(mul(y, r));
  const v = (await l.readFloat())[0];
  for (const t of [a, b, r, y, l]) t.dispose();
  return v;
}

Deno.test("matmul gradients: CPU reference and finite differences, every layout", async () => {
  for (const [transA, transB] of LAYOUTS) {
    const [M, K, N] = [5, 7, 3];
    const sa = transA ? [K, M] : [M, K], sb = transB ? [N, K] : [K, N];
    const ha = rand(M * K), hb = rand(K * N), hr = rand(M * N);
    const a = Tensor.fromArray(ha, sa),
      b = Tensor.fromArray(hb, sb),
      r = Tensor.fromArray(hr, [M, N]);
    a.requiresGrad = b.requiresGrad = true;
    const y = matmul(a, b, { transA, transB });
    const loss = sumAll(mul(y, r));
    backward(loss);
    const ga = await a.grad!.readFloat(), gb = await b.grad!.readFloat();
    // dL/dop(A) = R·op(B)ᵀ (M×K), dL/dop(B) = op(A)ᵀ·R (K×N), stored in A's and B's layouts.
    const opB = (k: number, j: number) => transB ? hb[j * K + k] : hb[k * N + j];
    const opA = (i: number, k: number) => transA ? ha[k * M + i] : ha[i * K + k];
    const wantA = new Float64Array(M * K), wantB = new Float64Array(K * N);
    for (let i = 0; i < M; i++) {
      for (let k = 0; k < K; k++) {
        let s = 0;
        for (let j = 0; j < N; j++) s += hr[i * N + j] * opB(k, j);
        wantA[transA ? k * M + i : i * K + k] = s;
      }
    }
    for (let k = 0; k < K; k++) {
      for (let j = 0; j < N; j++) {
        let s = 0;
        for (let i = 0; i < M; i++) s += opA(i, k) * hr[i * N + j];
        wantB[transB ? j * K + k : k * N + j] = s;
      }
    }
    assert.ok(relErr(ga, wantA) < F32_TOL, `dA ${transA}${transB}`);
    assert.ok(relErr(gb, wantB) < F32_TOL, `dB ${transA}${transB}`);
    // Central differences (exact for a bilinear loss up to rounding) on a few entries.
    const eps = 0.25;
    for (const [which, h, grad] of [["a", ha, ga], ["b", hb, gb]] as const) {
      for (let t = 0; t < 3; t++) {
        const idx = Math.floor(Math.random() * h.length);
        const plus = h.slice(), minus = h.slice();
        plus[idx] += eps;
        minus[idx] -= eps;
        const [lp, lm] = which === "a"
          ? [
            await lossOf(plus, hb, hr, sa, sb, [M, N], { transA, transB }),
            await lossOf(minus, hb, hr, sa, sb, [M, N], { transA, transB }),
          ]
          : [
            await lossOf(ha, plus, hr, sa, sb, [M, N], { transA, transB }),
            await lossOf(ha, minus, hr, sa, sb, [M, N], { transA, transB }),
          ];
        const fd = (lp - lm) / (2 * eps);
        assert.ok(
          Math.abs(fd - grad[idx]) < 1e-4 * (1 + Math.abs(fd)),
          `FD d${which}[${idx}]: ${fd} vs ${grad[idx]}`,
        );
      }
    }
    for (const t of [a.grad!, b.grad!, a, b, r]) t.dispose();
  }
});

Deno.test("linear: forward and gradients of x, W and bias (batched input)", async () => {
  const [B, S, In, Out] = [2, 3, 6, 5];
  const hx = rand(B * S * In), hw = rand(Out * In), hb = rand(Out), hr = rand(B * S * Out);
  const x = Tensor.fromArray(hx, [B, S, In]), w = Tensor.fromArray(hw, [Out, In]);
  const bias = Tensor.fromArray(hb, [Out]), r = Tensor.fromArray(hr, [B, S, Out]);
  x.requiresGrad = w.requiresGrad = bias.requiresGrad = true;
  const y = linear(x, w, bias);
  assert.deepEqual(y.shape, [B, S, Out]);
  const want = hostMatmul(hx, hw, B * S, In, Out, false, true).map((v, i) => v + hb[i % Out]);
  assert.ok(relErr(await y.readFloat(), want) < F32_TOL);
  backward(sumAll(mul(y, r)));
  const wantGx = hostMatmul(hr, hw, B * S, Out, In);
  const wantGw = hostMatmul(hr, hx, Out, B * S, In, true, false);
  const wantGb = new Float64Array(Out);
  for (let i = 0; i < B * S; i++) for (let j = 0; j < Out; j++) wantGb[j] += hr[i * Out + j];
  assert.ok(relErr(await x.grad!.readFloat(), wantGx) < F32_TOL);
  assert.ok(relErr(await w.grad!.readFloat(), wantGw) < F32_TOL);
  assert.ok(relErr(await bias.grad!.readFloat(), wantGb) < F32_TOL);
  for (const t of [x.grad!, w.grad!, bias.grad!, x, w, bias, r, y]) t.dispose();
});

Deno.test("bad input: shape and dtype mismatches name the op and shapes", () => {
  const a = Tensor.empty([3, 4]), b = Tensor.empty([5, 6]), h = Tensor.empty([4, 6], "f16");
  assert.throws(() => matmul(a, b), /matmul \[3, 4\] · \[5, 6\].*inner dimensions 4 and 5/);
  assert.throws(() => matmul(a, h), /matmul.*dtypes differ \(f32, f16\)/);
  const bias = Tensor.empty([7]);
  assert.throws(() => matmul(a, Tensor.empty([4, 6]), { bias }), /bias \[7\] must be \[6\]/);
  assert.throws(
    () => matmul(Tensor.empty([2, 3, 4]), Tensor.empty([3, 4, 5])),
    /batch sizes 2 and 3/,
  );
  assert.throws(() => matmul(Tensor.empty([4]), Tensor.empty([4, 2])), /2-D/);
  assert.throws(
    () => matmul(Tensor.empty([2, 2], "i32"), Tensor.empty([2, 2], "i32")),
    /matmul: expected an f32 or f16/,
  );
  assert.throws(
    () => gemm({ a, b, c: Tensor.empty([3, 6]), M: 3, N: 6, K: 5, dtype: "f32", label: "probe" }),
    /probe: A holds 12 elements, needs 15/,
  );
  assert.throws(
    () => gemm({ a, b: h, c: Tensor.empty([3, 6]), M: 3, N: 6, K: 4, dtype: "f32" }),
    /gemm: B has 2-byte elements, dtype is f32/,
  );
  assert.throws(
    () => gemm({ a, b, c: a, M: 3, N: 4, K: 4, lda: 2, dtype: "f32" }),
    /leading dimensions/,
  );
});
