// Elementwise ops, reductions, normalisation, gather/scatter, dropout and reshape: forward and
// backward against float64 CPU references on fresh random inputs with poisoned outputs.
import assert from "node:assert/strict";
import {
  add,
  axpy,
  backward,
  cast,
  copy,
  dropout,
  fill,
  flatten,
  indexAdd,
  indexSelect,
  l2NormAxis,
  lincomb,
  maxAxis,
  meanAxis,
  mul,
  normalizeRows,
  reshape,
  scale,
  sub,
  sumAll,
  sumAxis,
  Tensor,
} from "../../src/tensor/mod.ts";
import { assertClose, poison, randn, setup } from "../util.ts";

const g = await setup();
const F16 = g.features.f16;
if (!F16) console.log("f16 cases skipped: this adapter has no shader-f16");

/** A parameter tensor with fresh random values. */
function param(shape: number[], dtype: "f32" | "f16" = "f32"): [Tensor, Float32Array] {
  const n = shape.reduce((a, b) => a * b, 1);
  const host = randn(n);
  const t = Tensor.fromArray(host, shape, dtype);
  t.requiresGrad = true;
  return [t, dtype === "f16" ? Float32Array.from(host, (v) => roundHalfJs(v)) : host];
}
function roundHalfJs(v: number): number {
  const h = new Float32Array([v]);
  return Number(new Float32Array(new Float16Array([h[0]]))[0]);
}

/** Loss = Σ w ⊙ y with fixed random weights w; returns the GPU loss and w. */
function weightedSum(y: Tensor): [Tensor, Float32Array] {
  const w = randn(y.size);
  const wt = Tensor.fromArray(w, y.shape, y.dtype);
  return [sumAll(mul(y, wt)), w];
}

const SHAPES: number[][] = [[1, 1], [7, 13], [33, 65], [3, 300]];

for (const dtype of ["f32", "f16"] as const) {
  const tol = dtype === "f32" ? 1e-5 : 1e-2;
  Deno.test({
    name: `elementwise ${dtype}: add, sub, mul, lincomb, scale and their gradients`,
    ignore: dtype === "f16" && !F16,
    fn: async () => {
      for (const shape of SHAPES) {
        const [x, xh] = param(shape, dtype);
        const [y, yh] = param(shape, dtype);
        const n = xh.length;
        const cases: [
          string,
          (a: Tensor, b: Tensor) => Tensor,
          (a: number, b: number) => number,
          (a: number, b: number) => [number, number],
        ][] = [
          ["add", add, (a, b) => a + b, () => [1, 1]],
          ["sub", sub, (a, b) => a - b, () => [1, -1]],
          ["mul", mul, (a, b) => a * b, (a, b) => [b, a]],
          ["lincomb", (a, b) => lincomb(a, b, 0.5, -2), (a, b) => 0.5 * a - 2 * b, () => [0.5, -2]],
          ["scale", (a) => scale(a, 3, 0.25), (a) => 3 * a + 0.25, () => [3, 0]],
        ];
        for (const [name, op, f, df] of cases) {
          poison(shape, dtype);
          const out = op(x, y);
          const expect = Array.from({ length: n }, (_, i) => f(xh[i], yh[i]));
          assertClose(await out.read(), expect, tol, `${name} ${dtype} ${shape}`);
          const [loss, w] = weightedSum(out);
          x.grad = null;
          y.grad = null;
          backward(loss);
          const gx = Array.from({ length: n }, (_, i) => w[i] * df(xh[i], yh[i])[0]);
          assertClose(await x.grad!.read(), gx, tol, `${name} grad x ${dtype} ${shape}`);
          if (name !== "scale") {
            const gy = Array.from({ length: n }, (_, i) => w[i] * df(xh[i], yh[i])[1]);
            assertClose(await y.grad!.read(), gy, tol, `${name} grad y ${dtype} ${shape}`);
          } else assert.equal(y.grad, null, "scale must not give y a gradient");
        }
      }
    },
  });
}

Deno.test({
  name: "cast f32 ↔ f16 rounds to nearest and passes gradients back",
  ignore: !F16,
  fn: async () => {
    const [x, xh] = param([5, 9]);
    poison([5, 9], "f16");
    const h = cast(x, "f16");
    assert.equal(h.dtype, "f16");
    const back = cast(h, "f32");
    assertClose(await back.read(), xh.map(roundHalfJs), 1e-7, "cast round trip");
    const [loss, w] = weightedSum(back);
    backward(loss);
    assertClose(await x.grad!.read(), w.map(roundHalfJs), 1e-3, "cast grad");
  },
});

Deno.test("copy, fill and axpy (in place, beta = 0 ignores poisoned contents)", async () => {
  const [x, xh] = param([4, 11]);
  assertClose(await copy(x).read(), xh, 0, "copy");
  assertClose(await fill([3, 3], 2.5).read(), new Array(9).fill(2.5), 0, "fill");
  const o = fill([4, 11], NaN);
  axpy(o, x, 2, 0);
  assertClose(await o.read(), xh.map((v) => 2 * v), 1e-7, "axpy beta 0");
  axpy(o, x, -1, 0.5);
  assertClose(await o.read(), new Array(xh.length).fill(0), 1e-7, "axpy beta 0.5");
  assert.throws(() => axpy(o, fill([3], 1)), /axpy: target f32 \[4,11\] and source f32 \[3\]/);
});

function cpuReduce(x: Float32Array, R: number, C: number, axis: 0 | 1, how: string): number[] {
  const n = axis === 1 ? R : C, m = axis === 1 ? C : R;
  const out: number[] = [];
  for (let k = 0; k < n; k++) {
    let s = 0, mx = -Infinity;
    for (let j = 0; j < m; j++) {
      const v = axis === 1 ? x[k * C + j] : x[j * C + k];
      s += how === "l2" ? v * v : v;
      mx = Math.max(mx, v);
    }
    out.push(how === "sum" ? s : how === "mean" ? s / m : how === "max" ? mx : Math.sqrt(s));
  }
  return out;
}

Deno.test("reductions over rows and columns, forward and backward", async () => {
  const ops = { sum: sumAxis, mean: meanAxis, max: maxAxis, l2: l2NormAxis };
  for (const [R, C] of [[1, 1], [7, 300], [300, 7], [1, 1000], [65, 33]]) {
    for (const axis of [0, 1] as const) {
      for (const [how, op] of Object.entries(ops)) {
        const [x, xh] = param([R, C]);
        poison([axis === 1 ? R : C]);
        const out = op(x, axis);
        const ref = cpuReduce(xh, R, C, axis, how);
        assertClose(await out.read(), ref, 1e-5, `${how} axis ${axis} [${R},${C}]`);
        const [loss, w] = weightedSum(out);
        backward(loss);
        const gx = new Float64Array(R * C);
        for (let r = 0; r < R; r++) {
          for (let c = 0; c < C; c++) {
            const k = axis === 1 ? r : c, pos = axis === 1 ? c : r;
            const v = xh[r * C + c];
            if (how === "sum") gx[r * C + c] = w[k];
            if (how === "mean") gx[r * C + c] = w[k] / (axis === 1 ? C : R);
            if (how === "l2") gx[r * C + c] = w[k] * v / ref[k];
            if (how === "max") {
              let first = -1;
              for (let j = 0; j < (axis === 1 ? C : R); j++) {
                const e = axis === 1 ? xh[k * C + j] : xh[j * C + k];
                if (e === ref[k]) {
                  first = j;
                  break;
                }
              }
              gx[r * C + c] = pos === first ? w[k] : 0;
            }
          }
        }
        assertClose(await x.grad!.read(), gx, 1e-5, `${how} grad axis ${axis} [${R},${C}]`);
      }
    }
  }
});

Deno.test("normalizeRows matches F.normalize, including a zero row, with its gradient", async () => {
  for (const [R, C] of [[1, 1], [5, 512], [9, 3]]) {
    const host = randn(R * C);
    host.fill(0, 0, C); // first row all zeros: output 0, gradient g / eps
    const x = Tensor.fromArray(host, [R, C]);
    x.requiresGrad = true;
    poison([R, C]);
    const y = normalizeRows(x);
    const ref = new Float64Array(R * C);
    const nrm: number[] = [];
    for (let r = 0; r < R; r++) {
      let s = 0;
      for (let c = 0; c < C; c++) s += host[r * C + c] ** 2;
      nrm.push(Math.sqrt(s));
      for (let c = 0; c < C; c++) ref[r * C + c] = host[r * C + c] / Math.max(nrm[r], 1e-12);
    }
    assertClose(await y.read(), ref, 1e-5, `normalize [${R},${C}]`);
    const [loss, w] = weightedSum(y);
    backward(loss);
    const gx = new Float64Array(R * C);
    for (let r = 1; r < R; r++) {
      let gy = 0;
      for (let c = 0; c < C; c++) gy += w[r * C + c] * ref[r * C + c];
      for (let c = 0; c < C; c++) {
        gx[r * C + c] = (w[r * C + c] - ref[r * C + c] * gy) / nrm[r];
      }
    }
    const got = await x.grad!.read();
    for (let c = 0; c < C; c++) {
      assert.ok(Math.abs(got[c] - w[c] / 1e-12) <= 1e-5 * Math.abs(w[c] / 1e-12));
    }
    assertClose(got.slice(C), gx.slice(C), 1e-5, `normalize grad [${R},${C}]`);
  }
});

Deno.test("indexSelect and indexAdd with repeated indices, gradients, bad indices", async () => {
  const [src, sh] = param([10, 7]);
  const idx = new Int32Array([3, 0, 3, 9, 3]);
  poison([5, 7]);
  const sel = indexSelect(src, idx);
  const ref = Array.from(idx).flatMap((i) => Array.from(sh.slice(i * 7, i * 7 + 7)));
  assertClose(await sel.read(), ref, 0, "indexSelect");
  const [loss, w] = weightedSum(sel);
  backward(loss);
  const gs = new Float64Array(70);
  idx.forEach((r, i) => {
    for (let c = 0; c < 7; c++) gs[r * 7 + c] += w[i * 7 + c];
  });
  assertClose(await src.grad!.read(), gs, 1e-6, "indexSelect grad (summed duplicates)");

  const [base, bh] = param([10, 7]);
  const [rows, rh] = param([5, 7]);
  const out = indexAdd(base, idx, rows);
  const expect = Float64Array.from(bh);
  idx.forEach((r, i) => {
    for (let c = 0; c < 7; c++) expect[r * 7 + c] += rh[i * 7 + c];
  });
  assertClose(await out.read(), expect, 1e-6, "indexAdd");
  const [l2, w2] = weightedSum(out);
  backward(l2);
  assertClose(await base.grad!.read(), w2, 0, "indexAdd grad base");
  const gr = Array.from(idx).flatMap((r) => Array.from(w2.slice(r * 7, r * 7 + 7)));
  assertClose(await rows.grad!.read(), gr, 0, "indexAdd grad rows");

  assert.throws(
    () => indexSelect(src, new Int32Array([0, 10])),
    /indexSelect: index 10 at position 1 is outside \[0, 10\) for \[10, 7\]/,
  );
  assert.throws(() => indexSelect(src, new Int32Array([-1])), /index -1 at position 0/);
});

Deno.test("dropout: p = 0 is identity; mask, scale and gradient agree; seeds differ", async () => {
  const [x, xh] = param([64, 64]);
  assertClose(await dropout(x, 0, 1).read(), xh, 0, "dropout p=0");
  const y = dropout(x, 0.25, 1234);
  const yh = await y.read();
  let dropped = 0;
  for (let i = 0; i < yh.length; i++) {
    if (yh[i] === 0) dropped++;
    else assert.ok(Math.abs(yh[i] - xh[i] / 0.75) <= 1e-6 * Math.abs(xh[i] / 0.75) + 1e-7);
  }
  const frac = dropped / yh.length;
  assert.ok(frac > 0.2 && frac < 0.3, `dropped fraction ${frac} for p = 0.25`);
  const [loss, w] = weightedSum(y);
  backward(loss);
  const gx = await x.grad!.read();
  for (let i = 0; i < gx.length; i++) {
    const expect = yh[i] === 0 ? 0 : w[i] / 0.75;
    assert.ok(Math.abs(gx[i] - expect) <= 1e-6 * Math.abs(expect) + 1e-7, `grad ${i}`);
  }
  const other = await dropout(x, 0.25, 999).read();
  assert.ok(other.some((v, i) => (v === 0) !== (yh[i] === 0)), "another seed, another mask");
  assert.throws(() => dropout(x, 1, 0), /dropout: p = 1 must be in \[0, 1\)/);
});

Deno.test("reshape and flatten are views whose gradients reshape back", async () => {
  const [x, xh] = param([2, 3, 4, 5]);
  const f = flatten(x);
  assert.deepEqual(f.shape, [2, 60]);
  const r = reshape(f, [-1, 4]);
  assert.deepEqual(r.shape, [30, 4]);
  assertClose(await r.read(), xh, 0, "reshape keeps order");
  const [loss, w] = weightedSum(r);
  backward(loss);
  assert.deepEqual(x.grad!.shape, [2, 3, 4, 5]);
  assertClose(await x.grad!.read(), w, 0, "reshape grad");
  assert.throws(() => reshape(x, [7, -1]), /reshape: cannot infer -1 in \[7, -1\]/);
});

Deno.test("shape and dtype mismatches throw errors naming the op and shapes", () => {
  const a = Tensor.fromArray([1, 2, 3], [3]);
  const b = Tensor.fromArray([1, 2], [2]);
  assert.throws(() => add(a, b), /add: shapes \[3\] and \[2\] differ/);
  const i = Tensor.fromArray([1, 2, 3], [3], "i32");
  assert.throws(() => mul(i, i), /mul: expected an f32 or f16 tensor, got i32 \[3\]/);
  assert.throws(() => sumAxis(a, 1), /sum\(axis 1\): input must be 2-D, got \[3\]/);
});
