/**
 * The profiler breaks one forward+backward of a conv–BN–PReLU block down by kernel
 * (what `ARCFACE_PROFILE=1` shows for a training step). Run alone to see the table:
 * `ARCFACE_PROFILE=1 deno test -A tests/tensor/conv_block_profile_test.ts`.
 */
import assert from "node:assert/strict";
import { gpu, initGpu } from "../../src/gpu/device.ts";
import { backward } from "../../src/tensor/autograd.ts";
import { batchNormPrelu } from "../../src/tensor/ops/bn_prelu.ts";
import { conv2d } from "../../src/tensor/ops/conv2d.ts";
import { Tensor } from "../../src/tensor/tensor.ts";
import { randn, up } from "./conv_ref.ts";

await initGpu({ profile: true });

Deno.test("profile of a conv–BN–PReLU block lists its kernels", async () => {
  const profiler = gpu().profiler!;
  const [N, C, H, K] = [2, 16, 14, 32];
  const x = up(randn(N * C * H * H), [N, C, H, H]);
  const w = up(randn(K * C * 9, 0.1), [K, C, 3, 3]);
  const [bw, bb, rm, rv, a] = [1, 0, 0, 1, 0.25].map((v) => Tensor.full([K], v));
  for (const t of [x, w, bw, bb, a]) t.requiresGrad = true;
  await gpu().sync();
  await profiler.entries();
  profiler.reset();
  const y = batchNormPrelu(
    conv2d(x, w, { stride: 2, padding: 1 }),
    bw,
    bb,
    rm,
    rv,
    a,
    { training: true },
  );
  backward(y, up(randn(y.size), y.shape));
  await gpu().sync();
  const names = (await profiler.entries()).map((e) => e.name);
  console.log(await profiler.report());
  for (
    const k of [
      "conv2d fwd 3x3",
      "batchnorm+prelu fwd",
      "batchnorm+prelu bwd",
      "conv2d bwd-input 3x3",
      "conv2d weight-t",
      "conv2d bwd-weight 3x3",
    ]
  ) assert.ok(names.includes(k), `profile lacks ${k}: ${names.join(", ")}`);
});
