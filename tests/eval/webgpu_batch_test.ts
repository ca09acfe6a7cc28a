// The WebGPU engine splits a batch whose activations exceed one storage binding into
// sub-batches (eval mode: identical results), so any requested batch runs on lavapipe too.
import assert from "node:assert/strict";
import { gpu, initGpu } from "../../src/gpu/device.ts";
import { createBackbone } from "../../src/nn/backbones/mod.ts";
import { WebGpuEngine } from "../../src/eval/webgpu_engine.ts";

await initGpu();

Deno.test("fittingBatch is the binding limit over the largest activation per image", async () => {
  const engine = WebGpuEngine.fromModel(createBackbone("mbf", { seed: 1 }), 512);
  // mbf's largest activation: the 128-channel 56×56 maps after the stem, f32
  const expect = Math.floor((gpu().maxBinding - 4096) / (128 * 56 * 56 * 4));
  assert.equal(engine.fittingBatch(), expect);
  const toy = WebGpuEngine.fromModel(createBackbone("toy", { seed: 1 }), 128);
  const n = 3;
  const images = Uint8Array.from({ length: n * 112 * 112 * 3 }, (_, i) => (i * 7) % 256);
  const one = await toy.embedImages(images, n, { batch: 1 });
  const big = await toy.embedImages(images, n, { batch: 10_000 });
  assert.deepEqual(Array.from(big), Array.from(one));
});
