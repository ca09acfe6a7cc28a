/**
 * PReLU (one slope per channel) forward and gradients against a float64 CPU reference at
 * real layer shapes, 1-D input, f16, finite differences, and bad input.
 */
import assert from "node:assert/strict";
import { gpu, initGpu } from "../../src/gpu/device.ts";
import { backward } from "../../src/tensor/autograd.ts";
import { prelu } from "../../src/tensor/ops/prelu.ts";
import { Tensor } from "../../src/tensor/tensor.ts";
import { poisonPool, randn, refPrelu, relErr, rounded, up } from "./conv_ref.ts";

await initGpu();

function refGrad(xh: Float64Array, shape: number[], ah: Float64Array, dyh: Float64Array) {
  const C = shape[1], HW = shape.length === 4 ? shape[2] * shape[3] : 1;
  const dx = new Float64Array(xh.length), da = new Float64Array(C);
  for (let i = 0; i < xh.length; i++) {
    const c = Math.floor(i / HW) % C;
    dx[i] = xh[i] > 0 ? dyh[i] : ah[c] * dyh[i];
    if (xh[i] <= 0) da[c] += xh[i] * dyh[i];
  }
  return { dx, da };
}

for (
  const [label, shape, dtype] of [
    ["r50 stem 64 @112 batch 1", [1, 64, 112, 112], "f32"],
    ["mbf 256 @14 odd batch 2", [2, 256, 13, 15], "f32"],
    ["1-D (N, C)", [8, 512], "f32"],
    ["f16 128 @28", [2, 128, 28, 28], "f16"],
  ] as const
) {
  Deno.test(`prelu vs float64 reference: ${label}`, async () => {
    if (dtype === "f16" && !gpu().features.f16) {
      console.log("skipped: this adapter has no shader-f16");
      return;
    }
    const tol = dtype === "f16" ? 1e-2 : 1e-4;
    const s: number[] = [...shape];
    const n = s.reduce((p, q) => p * q);
    const xh = rounded(randn(n), dtype), dyh = rounded(randn(n), dtype);
    const ah = rounded(randn(s[1]).map((v) => 0.25 + v / 5));
    const x = up(xh, s, dtype), a = up(ah, [s[1]]);
    x.requiresGrad = true;
    a.requiresGrad = true;
    poisonPool(n, dtype);
    const y = prelu(x, a);
    assert.ok(relErr(await y.readFloat(), refPrelu(xh, s, ah)) < tol, "y");
    poisonPool(n, dtype);
    backward(y, up(dyh, s, dtype));
    const g = refGrad(xh, s, ah, dyh);
    assert.ok(relErr(await x.grad!.readFloat(), g.dx) < tol, "dx");
    assert.ok(relErr(await a.grad!.readFloat(), g.da) < tol, "dslope");
  });
}

Deno.test("prelu gradients match finite differences", async () => {
  const s = [2, 3, 2, 3], n = 36;
  const xh = rounded(randn(n)), ah = rounded(randn(3)), r = rounded(randn(n));
  const loss = () => refPrelu(xh, s, ah).reduce((acc, v, i) => acc + v * r[i], 0);
  const fd = (v: Float64Array) =>
    v.map((_, i) => {
      const o = v[i], h = 1e-7;
      v[i] = o + h;
      const lp = loss();
      v[i] = o - h;
      const lm = loss();
      v[i] = o;
      return (lp - lm) / (2 * h);
    });
  const [gx, ga] = [fd(xh), fd(ah)];
  const x = up(xh, s), a = up(ah, [3]);
  x.requiresGrad = true;
  a.requiresGrad = true;
  backward(prelu(x, a), up(r, s));
  assert.ok(relErr(await x.grad!.readFloat(), gx) < 1e-5);
  assert.ok(relErr(await a.grad!.readFloat(), ga) < 1e-5);
});

Deno.test("prelu rejects a slope that does not match the channels", () => {
  assert.throws(
    () => prelu(Tensor.empty([2, 4, 3, 3]), Tensor.empty([3]), "prelu1"),
    /prelu\(prelu1\): slope must be f32 \[4\] for input \[2, 4, 3, 3\] with 4 channels; got f32 \[3\]/,
  );
  assert.throws(() => prelu(Tensor.empty([4]), Tensor.empty([4])), /input must be \(N, C\)/);
});
