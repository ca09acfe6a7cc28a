/**
 * BatchNorm (and the fused BN+PReLU / BN+add) against PyTorch's own numbers
 * (tests/fixtures/bn_torch.json, made by make_bn_fixture.py) and against a float64 CPU
 * reference at real layer shapes, with finite-difference gradient checks and bad input.
 */
import assert from "node:assert/strict";
import { gpu, initGpu } from "../../src/gpu/device.ts";
import { backward } from "../../src/tensor/autograd.ts";
import { batchNorm, setBnLayout } from "../../src/tensor/ops/batchnorm.ts";
import { batchNormAdd, batchNormPrelu } from "../../src/tensor/ops/bn_prelu.ts";
import { Tensor } from "../../src/tensor/tensor.ts";
import { poisonPool, randn, refBatchNorm, refPrelu, relErr, rounded, up } from "./conv_ref.ts";

await initGpu();

interface Step {
  training: boolean;
  x: number[];
  dy: number[];
  y: number[];
  dx: number[];
  dweight: number[] | null;
  dbias: number[] | null;
  dslope: number[] | null;
  running_mean: number[];
  running_var: number[];
}
interface Case {
  name: string;
  shape: number[];
  eps: number;
  momentum: number;
  weight: number[] | null;
  bias: number[] | null;
  slope: number[] | null;
  frozen_weight: boolean;
  running_mean0: number[];
  running_var0: number[];
  steps: Step[];
}

const fixture = JSON.parse(
  await Deno.readTextFile(new URL("../fixtures/bn_torch.json", import.meta.url)),
) as { cases: Case[] };

function maxAbs(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

for (const cs of fixture.cases) {
  Deno.test(`batchNorm matches PyTorch: ${cs.name}`, async () => {
    const C = cs.shape[1];
    const w = cs.weight ? Tensor.fromArray(cs.weight, [C]) : null;
    const b = cs.bias ? Tensor.fromArray(cs.bias, [C]) : null;
    const a = cs.slope ? Tensor.fromArray(cs.slope, [C]) : null;
    const rm = Tensor.fromArray(cs.running_mean0, [C]);
    const rv = Tensor.fromArray(cs.running_var0, [C]);
    if (w) w.requiresGrad = !cs.frozen_weight;
    if (b) b.requiresGrad = true;
    if (a) a.requiresGrad = true;
    for (const [i, st] of cs.steps.entries()) {
      const x = Tensor.fromArray(st.x, cs.shape);
      x.requiresGrad = true;
      const opts = { training: st.training, momentum: cs.momentum, eps: cs.eps, name: cs.name };
      poisonPool(x.size);
      const y = a ? batchNormPrelu(x, w, b, rm, rv, a, opts) : batchNorm(x, w, b, rm, rv, opts);
      const where = `${cs.name} step ${i}`;
      assert.ok(relErr(await y.readFloat(), st.y) < 1e-5, `${where} y`);
      // Running statistics follow PyTorch's update rule to f32 rounding.
      assert.ok(maxAbs(await rm.readFloat(), st.running_mean) < 1e-6, `${where} running_mean`);
      assert.ok(maxAbs(await rv.readFloat(), st.running_var) < 1e-6, `${where} running_var`);
      poisonPool(x.size);
      backward(y, Tensor.fromArray(st.dy, cs.shape));
      assert.ok(relErr(await x.grad!.readFloat(), st.dx) < 1e-4, `${where} dx`);
      if (w && !cs.frozen_weight) {
        assert.ok(relErr(await w.grad!.readFloat(), st.dweight!) < 1e-4, `${where} dweight`);
      }
      if (w && cs.frozen_weight) assert.equal(w.grad, null, `${where}: frozen weight got a grad`);
      if (b) assert.ok(relErr(await b.grad!.readFloat(), st.dbias!) < 1e-4, `${where} dbias`);
      if (a) assert.ok(relErr(await a.grad!.readFloat(), st.dslope!) < 1e-4, `${where} dslope`);
      for (const t of [w, b, a]) {
        t?.grad?.dispose();
        if (t) t.grad = null;
      }
    }
  });
}

/** float64 reference of BN (+PReLU) training/eval backward. */
function refBnGrad(
  xh: Float64Array,
  shape: number[],
  wh: Float64Array,
  bh: Float64Array,
  slope: Float64Array | null,
  dyh: Float64Array,
  training: boolean,
  rm: Float64Array,
  rv: Float64Array,
  eps: number,
) {
  const [N, C] = shape;
  const HW = shape.length === 4 ? shape[2] * shape[3] : 1;
  const M = N * HW;
  const f = refBatchNorm(xh, shape, wh, bh, training ? null : rm, training ? null : rv, eps);
  const dz = new Float64Array(xh.length);
  const dslope = new Float64Array(C);
  for (let i = 0; i < xh.length; i++) {
    const c = Math.floor(i / HW) % C;
    if (slope && f.y[i] <= 0) {
      dz[i] = dyh[i] * slope[c];
      dslope[c] += dyh[i] * f.y[i];
    } else dz[i] = dyh[i];
  }
  const dw = new Float64Array(C), db = new Float64Array(C), dx = new Float64Array(xh.length);
  const xhat = (i: number, c: number) => (xh[i] - f.mean[c]) / Math.sqrt(f.var[c] + eps);
  for (let i = 0; i < xh.length; i++) {
    const c = Math.floor(i / HW) % C;
    db[c] += dz[i];
    dw[c] += dz[i] * xhat(i, c);
  }
  for (let i = 0; i < xh.length; i++) {
    const c = Math.floor(i / HW) % C;
    const g = wh[c] / Math.sqrt(f.var[c] + eps);
    dx[i] = training ? g * (dz[i] - db[c] / M - xhat(i, c) * dw[c] / M) : g * dz[i];
  }
  return { y: slope ? refPrelu(f.y, shape, slope) : f.y, dx, dw, db, dslope, f };
}

/** The lane layout bnLayout picks on a GPU adapter. */
const GPU64 = { lpc: 64, wg: 64 };

for (
  const [label, shape, prelu, training, dtype, layout] of [
    ["r50 bn 64 @56 batch 2", [2, 64, 56, 56], false, true, "f32"],
    ["r50 bn+prelu 128 @28 odd", [1, 128, 27, 29], true, true, "f32"],
    ["mbf bn+prelu 512 @7 eval", [2, 512, 7, 7], true, false, "f32"],
    ["bn1d 512 batch 8", [8, 512], false, true, "f32"],
    ["f16 bn+prelu 64 @28", [2, 64, 28, 28], true, true, "f16"],
    // the layout a GPU adapter gets (64 lanes per channel, one barrier), here on any adapter
    ["r50 bn+prelu 128 @28 odd, 64 lanes/channel", [1, 128, 27, 29], true, true, "f32", GPU64],
    ["mbf bn+prelu 512 @7, 64 lanes/channel", [2, 512, 7, 7], true, true, "f32", GPU64],
    ["r50 bn 64 @14 eval, 64 lanes/channel", [2, 64, 14, 14], false, false, "f32", GPU64],
  ] as const
) {
  Deno.test(`batchNorm vs float64 reference: ${label}`, async () => {
    setBnLayout(layout ?? null);
    if (dtype === "f16" && !gpu().features.f16) {
      console.log("skipped: this adapter has no shader-f16");
      return;
    }
    const tol = dtype === "f16" ? 1e-2 : 1e-4;
    const s: number[] = [...shape];
    const C = s[1];
    const n = s.reduce((p, q) => p * q);
    const xh = rounded(randn(n, 2).map((v) => v + 0.5), dtype);
    const dyh = rounded(randn(n), dtype);
    const wh = rounded(randn(C).map((v) => 1 + 0.5 * v));
    const bh = rounded(randn(C, 0.2));
    const ah = prelu ? rounded(randn(C).map((v) => 0.25 + 0.2 * v)) : null;
    const rmh = rounded(randn(C, 0.3));
    const rvh = rounded(randn(C).map((v) => 1.5 + v));
    const x = up(xh, s, dtype), w = up(wh, [C]), b = up(bh, [C]);
    const a = ah ? up(ah, [C]) : null;
    const rm = up(rmh, [C]), rv = up(rvh, [C]);
    for (const t of [x, w, b, a]) if (t) t.requiresGrad = true;
    const opts = { training, momentum: 0.1, eps: 1e-5 };
    poisonPool(n, dtype);
    const y = a ? batchNormPrelu(x, w, b, rm, rv, a, opts) : batchNorm(x, w, b, rm, rv, opts);
    const ref = refBnGrad(xh, s, wh, bh, ah, dyh, training, rmh, rvh, 1e-5);
    const ey = relErr(await y.readFloat(), ref.y);
    poisonPool(n, dtype);
    backward(y, up(dyh, s, dtype));
    const errs = [
      ["y", ey],
      ["dx", relErr(await x.grad!.readFloat(), ref.dx)],
      ["dw", relErr(await w.grad!.readFloat(), ref.dw)],
      ["db", relErr(await b.grad!.readFloat(), ref.db)],
      ["dslope", a ? relErr(await a.grad!.readFloat(), ref.dslope) : 0],
    ] as const;
    if (training) {
      const M = n / C;
      const wantRm = rmh.map((v, c) => 0.9 * v + 0.1 * ref.f.mean[c]);
      const wantRv = rvh.map((v, c) => 0.9 * v + 0.1 * ref.f.var[c] * M / (M - 1));
      assert.ok(relErr(await rm.readFloat(), wantRm) < tol, "running_mean");
      assert.ok(relErr(await rv.readFloat(), wantRv) < tol, "running_var");
    }
    setBnLayout(null);
    for (const [what, e] of errs) assert.ok(e < tol, `${label} ${what}: ${e}`);
  });
}

for (
  const [label, shape, corners, layout] of [
    ["first element 30σ out", [4, 32, 14, 14], false],
    ["every image's corner 10σ out, M/64 = 2·HW", [128, 2, 7, 7], true],
    ["first element 30σ out, 7×7 batch 8", [8, 16, 7, 7], false],
    ["first element 30σ out, 64 lanes/channel", [4, 32, 14, 14], false, GPU64],
  ] as const
) {
  Deno.test(`batchNorm keeps float32 accuracy with a far mean: ${label}`, async () => {
    setBnLayout(layout ?? null);
    // A conv output's first element (a zero-padded corner) can sit many σ from the channel
    // mean, and a channel's mean can be large against its σ. A one-pass variance shifted by
    // the first element then cancels ~log2((x₀ − mean)²/σ²) bits, and x·scale + (β −
    // mean·scale) ~log2(|mean|/σ) bits: y, dx and dγ were off by ~3e-5 here (mbf's early
    // BatchNorms by up to 6e-6 in invstd, 5–13× PyTorch's float32 error of ~5e-8 in y). The
    // second case would defeat a shift taken from the same pixel of every image.
    const s = [...shape], [N, C] = s, HW = s[2] * s[3], n = N * C * HW;
    const sd = Float64Array.from(randn(C), (v) => 0.05 * Math.exp(v));
    const xh = rounded(
      randn(n).map((v, i) => {
        const c = Math.floor(i / HW) % C;
        const out = corners ? i % HW === 0 : i < C * HW && i % HW === 0;
        return sd[c] * (4 + (out ? (corners ? 10 : 30) : v));
      }),
    );
    const dyh = rounded(randn(n)), wh = rounded(randn(C).map((v) => 1 + 0.5 * v));
    const bh = rounded(randn(C, 0.2)), rmh = new Float64Array(C);
    const rvh = new Float64Array(C).fill(1);
    const x = up(xh, s), w = up(wh, [C]), b = up(bh, [C]), rm = up(rmh, [C]), rv = up(rvh, [C]);
    for (const t of [x, w, b]) t.requiresGrad = true;
    // momentum 1: the running variance is this batch's (unbiased) variance alone
    const y = batchNorm(x, w, b, rm, rv, { training: true, momentum: 1 });
    const ref = refBnGrad(xh, s, wh, bh, null, dyh, true, rmh, rvh, 1e-5);
    const ey = relErr(await y.readFloat(), ref.y);
    backward(y, up(dyh, s));
    const M = n / C;
    // dβ = Σ dy per channel is a sum of M signed terms: its rounding error scales with Σ|dy|,
    // not with the sum, which random dy can make small (with C = 2 a plain relative error
    // of 1e-6 failed a full test run on 2026-12-05 at 1.1e-6), so it is measured against Σ|dy|
    // (seen ≤ 8e-9 over 12 runs)
    const mass = new Float64Array(C);
    for (let i = 0; i < n; i++) mass[Math.floor(i / HW) % C] += Math.abs(dyh[i]);
    const db = await b.grad!.readFloat();
    let num = 0, den = 0;
    for (let c = 0; c < C; c++) num += (db[c] - ref.db[c]) ** 2, den += mass[c] ** 2;
    const errs = [
      ["y", ey, 3e-7],
      ["dx", relErr(await x.grad!.readFloat(), ref.dx), 3e-7],
      ["dw", relErr(await w.grad!.readFloat(), ref.dw), 1e-6],
      ["db (against Σ|dy|)", Math.sqrt(num / den), 1e-7],
      [
        "running_var",
        relErr(await rv.readFloat(), ref.f.var.map((v) => v * M / (M - 1))),
        3e-7,
      ],
    ] as const;
    setBnLayout(null);
    for (const [what, e, tol] of errs) assert.ok(e < tol, `${label} ${what}: relative error ${e}`);
  });
}

Deno.test("batchNormPrelu equals prelu(batchNorm) and batchNormAdd adds the residual", async () => {
  const { prelu } = await import("../../src/tensor/ops/prelu.ts");
  const s = [2, 8, 5, 7], C = 8, n = 2 * 8 * 35;
  const xh = randn(n, 2), rh = randn(n);
  const x = up(xh, s), w = up(randn(C).map((v) => 1 + v / 2), [C]), b = up(randn(C), [C]);
  const a = up(randn(C).map((v) => 0.25 + v / 5), [C]);
  const mk = () => [up(new Float64Array(C), [C]), up(new Float64Array(C).fill(1), [C])];
  const [rm1, rv1] = mk(), [rm2, rv2] = mk(), [rm3, rv3] = mk();
  const opts = { training: true };
  const fused = await batchNormPrelu(x, w, b, rm1, rv1, a, opts).readFloat();
  const split = await prelu(batchNorm(x, w, b, rm2, rv2, opts), a).readFloat();
  assert.ok(relErr(fused, split) < 1e-6);
  const r = up(rh, s);
  const added = await batchNormAdd(x, w, b, rm3, rv3, r, opts).readFloat();
  const plain = await batchNorm(x, w, b, rm3, rv3, opts).readFloat();
  assert.ok(relErr(added, plain.map((v, i) => v + rh[i])) < 1e-6);
});

Deno.test("the fused kernels agree across vec4, ragged and scalar layouts, with a residual", async () => {
  // HW % 4 == 0 (vec4), HW = 9 with N·C·HW % 4 == 0 (masked vec4 steps), HW = 9 with an odd
  // total (scalar fallback), and a view starting at an odd element (scalar fallback)
  for (const s of [[2, 16, 4, 4], [4, 5, 3, 3], [3, 5, 3, 3], [2, 8, 4, 4, 1]]) {
    const odd = s.length === 5, shape = s.slice(0, 4), [N, C, H, W] = shape;
    const n = N * C * H * W;
    const xh = rounded(randn(n + 1, 2).map((v) => v + 1)), rh = rounded(randn(n));
    const wh = rounded(randn(C).map((v) => 1 + v / 2)), bh = rounded(randn(C, 0.2));
    const base = up(xh, [n + 1]);
    const xs = base.rows(odd ? 1 : 0, odd ? n + 1 : n);
    const x = xs.view(shape), w = up(wh, [C]), b = up(bh, [C]), r = up(rh, shape);
    const rm = up(new Float64Array(C), [C]), rv = up(new Float64Array(C).fill(1), [C]);
    const got = await batchNormAdd(x, w, b, rm, rv, r, { training: true }).readFloat();
    const f = refBatchNorm(xh.slice(odd ? 1 : 0, odd ? n + 1 : n), shape, wh, bh, null, null, 1e-5);
    assert.ok(relErr(got, f.y.map((v, i) => v + rh[i])) < 1e-6, `batchNormAdd ${s}`);
    const wantRv = f.var.map((v) => 0.9 + 0.1 * v * (n / C) / (n / C - 1));
    assert.ok(relErr(await rv.readFloat(), wantRv) < 1e-6, `running_var ${s}`);
  }
});

Deno.test("batchNorm gradients match finite differences (training, through the statistics)", async () => {
  const s = [2, 3, 2, 3], C = 3, n = 36;
  const xh = rounded(randn(n, 2)), wh = rounded(randn(C).map((v) => 1 + v / 2));
  const bh = rounded(randn(C)), ah = rounded(randn(C).map((v) => 0.3 + v / 5));
  const r = rounded(randn(n));
  const loss = () => {
    const f = refBatchNorm(xh, s, wh, bh, null, null, 1e-5);
    return refPrelu(f.y, s, ah).reduce((acc, v, i) => acc + v * r[i], 0);
  };
  const fd = (v: Float64Array) =>
    v.map((_, i) => {
      const o = v[i], h = 1e-6;
      v[i] = o + h;
      const lp = loss();
      v[i] = o - h;
      const lm = loss();
      v[i] = o;
      return (lp - lm) / (2 * h);
    });
  const want = [fd(xh), fd(wh), fd(bh), fd(ah)];
  const x = up(xh, s), w = up(wh, [C]), b = up(bh, [C]), a = up(ah, [C]);
  for (const t of [x, w, b, a]) t.requiresGrad = true;
  const y = batchNormPrelu(x, w, b, null, null, a, { training: true });
  backward(y, up(r, s));
  const got = [x.grad!, w.grad!, b.grad!, a.grad!];
  for (let i = 0; i < 4; i++) {
    const e = relErr(await got[i].readFloat(), want[i]);
    assert.ok(e < 1e-4, `grad ${["x", "weight", "bias", "slope"][i]}: ${e}`);
  }
});

Deno.test("batchNorm rejects bad input with the layer, shapes and rule", () => {
  const x = Tensor.empty([2, 4, 3, 3]);
  const c4 = () => Tensor.empty([4]);
  assert.throws(
    () => batchNorm(x, Tensor.empty([3]), c4(), c4(), c4(), { training: true, name: "bn1" }),
    /batchNorm\(bn1\): weight must be f32 \[4\] for input \[2, 4, 3, 3\] with 4 channels; got f32 \[3\]/,
  );
  assert.throws(
    () => batchNorm(x, null, null, null, null, { training: false, name: "bn1" }),
    /batchNorm\(bn1\): eval mode needs running_mean/,
  );
  assert.throws(
    () => batchNorm(Tensor.empty([1, 4]), null, null, c4(), c4(), { training: true }),
    /more than 1 value per channel/,
  );
  assert.throws(
    () => batchNorm(Tensor.empty([2, 4, 3]), null, null, c4(), c4(), { training: true }),
    /input must be \(N, C\) or \(N, C, H, W\)/,
  );
});

Deno.test("setBnLayout rejects a layout the kernels cannot run", () => {
  assert.throws(() => setBnLayout({ lpc: 64, wg: 8 }), /lpc 64 and wg 8 must be powers of 2/);
  assert.throws(() => setBnLayout({ lpc: 3, wg: 64 }), /powers of 2/);
  assert.throws(() => setBnLayout({ lpc: 1, wg: 512 }), /≤ 256/);
});
