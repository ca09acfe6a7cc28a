// Learning-rate schedules (2021 warmup + step decay per iteration; later polynomial decay with
// warmup), linear lr scaling, gradient accumulation, and dynamic loss scaling.
import assert from "node:assert/strict";
import { Tensor } from "../../src/tensor/tensor.ts";
import { LossScaler, scaler2021 } from "../../src/train/loss_scale.ts";
import {
  GradAccumulation,
  PolySchedule,
  scaledLr,
  StepDecaySchedule,
} from "../../src/train/schedule.ts";
import { setup } from "../util.ts";

await setup();

const close = (a: number, b: number) => Math.abs(a - b) <= 1e-12 * Math.max(1, Math.abs(b));

Deno.test("2021 schedule: lr = 0.1/512·batch·world, warmup from 0, ×0.1 per decay step", () => {
  assert.ok(close(scaledLr(0.1, 128, 8), 0.2));
  const s = StepDecaySchedule.fromEpochs({
    baseLr: 0.2,
    numImages: 10_000,
    batch: 128,
    world: 2,
    warmupEpochs: 2,
    decayEpochs: [5, 8],
  });
  // 39 steps per epoch; warmup 78; decay at ⌊5·10000/256⌋ = 195 and ⌊8·10000/256⌋ = 312
  assert.deepEqual(s.settings.decaySteps, [195, 312]);
  assert.equal(s.settings.warmupSteps, 78);
  assert.equal(s.lrAt(0), 0);
  assert.ok(close(s.lrAt(39), 0.2 * 39 / 78));
  assert.ok(close(s.lrAt(78), 0.2));
  assert.ok(close(s.lrAt(194), 0.2));
  assert.ok(close(s.lrAt(195), 0.02));
  assert.ok(close(s.lrAt(312), 0.002));
  // the reference configs' warmup_epoch = -1: no warmup
  const n = StepDecaySchedule.fromEpochs({
    baseLr: 0.1,
    numImages: 5120,
    batch: 128,
    world: 1,
    warmupEpochs: -1,
    decayEpochs: [1],
  });
  assert.equal(n.lrAt(0), 0.1);
  assert.ok(close(n.lrAt(40), 0.01));
});

Deno.test("polynomial schedule with warmup (power 1), as PolynomialLRWarmup steps", () => {
  const s = new PolySchedule({ baseLr: 0.1, warmupSteps: 10, totalSteps: 110 });
  assert.equal(s.lrAt(0), 0.1); // the scheduler's first value is the optimiser's lr
  assert.ok(close(s.lrAt(1), 0.01));
  assert.ok(close(s.lrAt(10), 0.1));
  assert.ok(close(s.lrAt(60), 0.05));
  assert.equal(s.lrAt(110), 0);
  assert.equal(s.lrAt(500), 0);
  const q = new PolySchedule({ baseLr: 1, warmupSteps: 0, totalSteps: 4, power: 2 });
  assert.deepEqual([0, 1, 2, 3, 4].map((k) => q.lrAt(k)), [1, 0.5625, 0.25, 0.0625, 0]);
  assert.throws(() => new PolySchedule({ baseLr: 1, warmupSteps: 5, totalSteps: 5 }), /warmup 5/);
});

Deno.test("gradient accumulation steps every N micro-batches (counted from 1)", () => {
  const acc = new GradAccumulation(3);
  assert.deepEqual([1, 2, 3, 4, 5, 6].map((s) => acc.isStep(s)), [
    false,
    false,
    true,
    false,
    false,
    true,
  ]);
  assert.throws(() => new GradAccumulation(0), /0 must be an integer ≥ 1/);
});

Deno.test("loss scaler 2021: starts at batch, ×2 every 100 clean steps, capped at 128·batch", async () => {
  const s = scaler2021(4);
  const x = Tensor.fromArray([1, -2, 0.5], [3]);
  const g = Tensor.fromArray([0, 0, 0], [3]); // stays finite however often it is unscaled
  const seen: number[] = [];
  for (let step = 1; step <= 900; step++) {
    const y = s.scale(x);
    if (step % 100 === 1) seen.push((await y.readFloat())[0]);
    y.dispose();
    s.unscale([g]);
    s.update();
  }
  assert.deepEqual(seen, [4, 8, 16, 32, 64, 128, 256, 512, 512]);
  const st = await s.read();
  assert.equal(st.scale, 512);
  assert.equal(st.skippedSteps, 0);
  x.dispose();
  g.dispose();
  s.dispose();
});

Deno.test("loss scaler: overflow backs off ×0.5 and resets growth; cap clamps before use", async () => {
  const s = new LossScaler({ initScale: 1024, growthInterval: 3 });
  const bad = Tensor.fromArray([1, NaN], [2]);
  const good = Tensor.fromArray([2048, 1024], [2]);
  s.unscale([good]);
  assert.deepEqual(Array.from(await good.readFloat()), [2, 1]);
  s.update();
  s.unscale([bad]);
  s.update();
  let st = await s.read();
  assert.deepEqual([st.scale, st.skippedSteps, st.growthTracker], [512, 1, 0]);
  for (let i = 0; i < 3; i++) {
    const g = Tensor.fromArray([1], [1]);
    s.unscale([g]);
    s.update();
    g.dispose();
  }
  st = await s.read();
  assert.deepEqual([st.scale, st.foundInf], [1024, false]);
  const capped = new LossScaler({ initScale: 1000, maxScale: 512 });
  const y = capped.scale(Tensor.fromArray([1], [1]));
  assert.equal((await y.readFloat())[0], 512);
  for (const t of [bad, good, y]) t.dispose();
  s.dispose();
  capped.dispose();
});
