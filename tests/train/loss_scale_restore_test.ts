// A resumed fp16 run continues with the saved loss scale, growth tracker and skip count.
import assert from "node:assert/strict";
import { initGpu } from "../../src/gpu/device.ts";
import { LossScaler } from "../../src/train/loss_scale.ts";

await initGpu();

Deno.test("LossScaler.restore brings back scale, growth tracker and skipped steps", async () => {
  const s = new LossScaler({ initScale: 4, growthInterval: 100 });
  s.restore({ scale: 1024, growthTracker: 7, skippedSteps: 3, foundInf: false });
  const r = await s.read();
  assert.equal(r.scale, 1024);
  assert.equal(r.growthTracker, 7);
  assert.equal(r.skippedSteps, 3);
  assert.equal(r.foundInf, false);
  s.dispose();
});
