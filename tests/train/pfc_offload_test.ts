// Partial FC with host-resident class centres (`offload`) against the GPU-resident layer:
// same samples, losses, feature gradients, centres and optimiser state step by step (SGD on
// one rank, AdamW on two), unsampled rows and their state untouched; checkpoints move between
// the two modes; and a run resumed from a checkpoint samples (and updates) exactly what an
// uninterrupted run does — the sampler is reseeded per step from (seed, rank, step).
import assert from "node:assert/strict";
import { Rng } from "../../src/data/rng.ts";
import { createInProcessGroup } from "../../src/dist/inprocess.ts";
import { Linear } from "../../src/nn/layers.ts";
import { Tensor } from "../../src/tensor/tensor.ts";
import { loadCheckpoint, saveCheckpoint } from "../../src/train/checkpoint.ts";
import { Optimizer, type OptimizerConfig } from "../../src/train/optim.ts";
import { PartialFC, type PartialFCOptions } from "../../src/train/partial_fc.ts";
import { ClassSampler } from "../../src/train/sampling.ts";
import { assertClose, rand, randn, setup } from "../util.ts";

await setup();

const C = 60, E = 16, b = 6, RATE = 0.3;
const sgd: OptimizerConfig = { kind: "sgd", lr: 0.2, momentum: 0.9, weightDecay: 5e-4 };
const adamw: OptimizerConfig = { kind: "adamw", lr: 0.01, weightDecay: 0.1 };

const labelsOf = (n: number) => Int32Array.from({ length: n }, () => Math.floor(rand() * C));
const make = (opts: Partial<PartialFCOptions>) =>
  new PartialFC({
    numClasses: C,
    embeddingSize: E,
    sampleRate: RATE,
    optimizer: sgd,
    chunkRows: 7, // 9 storage chunks; 18 sampled rows → staged chunks of 7, 7, 4
    seed: 3,
    ...opts,
  });

interface StepOut {
  loss: number;
  grad: Float32Array;
  index: Int32Array;
  transferBytes: number;
}

async function step(pfc: PartialFC, x: Float32Array, labels: Int32Array): Promise<StepOut> {
  const f = Tensor.fromArray(x, [x.length / E, E]);
  const o = await pfc.forwardBackward(f, labels);
  const loss = (await o.loss.readFloat())[0];
  const grad = await o.featureGrad.readFloat();
  for (const t of [f, o.loss, o.featureGrad]) t.dispose();
  return { loss, grad, index: o.sample.index!, transferBytes: o.transferBytes };
}

const rowsOf = (a: Float32Array, r: number) => a.subarray(r * E, (r + 1) * E);
const same = (a: Float32Array, c: Float32Array) => a.every((v, i) => v === c[i]);

Deno.test("offloaded centres equal resident ones step by step (SGD, rate 0.3, 4 steps); unsampled rows untouched", async () => {
  const res = make({});
  const off = make({ offload: true });
  assert.equal(res.offloaded, false);
  assert.equal(off.offloaded, true);
  assert.equal(off.weights.length, 0, "no GPU weight chunks when offloaded");
  assertClose(await off.readWeights(), await res.readWeights(), 0, "same init");
  let prevW = await off.readWeights(), prevM = await off.readState(0);
  for (let s = 0; s < 4; s++) {
    const x = randn(b * E), labels = labelsOf(b);
    const a = await step(res, x, labels), o = await step(off, x, labels);
    assert.deepEqual(o.index, a.index, `step ${s + 1}: same sample`);
    assert.equal(o.index.length, 18);
    assert.ok(Math.abs(o.loss - a.loss) <= 1e-6 * Math.abs(a.loss), `loss ${o.loss} vs ${a.loss}`);
    assertClose(o.grad, a.grad, 1e-6, `step ${s + 1} feature gradient`);
    assert.equal(a.transferBytes, 0);
    assert.equal(o.transferBytes, 2 * 18 * E * 4 * 2, "weights + momentum, both ways");
    const [w, m] = [await off.readWeights(), await off.readState(0)];
    assertClose(w, await res.readWeights(), 1e-6, `step ${s + 1} centres`);
    assertClose(m, await res.readState(0), 1e-6, `step ${s + 1} momentum`);
    const sampled = new Set(o.index);
    for (let r = 0; r < C; r++) {
      const moved = !same(rowsOf(w, r), rowsOf(prevW, r)) && !same(rowsOf(m, r), rowsOf(prevM, r));
      const kept = same(rowsOf(w, r), rowsOf(prevW, r)) && same(rowsOf(m, r), rowsOf(prevM, r));
      if (sampled.has(r)) {
        assert.ok(moved, `step ${s + 1}: sampled row ${r} and its momentum moved`);
      } else assert.ok(kept, `step ${s + 1}: unsampled row ${r} and its momentum untouched`);
    }
    [prevW, prevM] = [w, m];
  }
  res.dispose();
  off.dispose();
});

Deno.test("offloaded AdamW on 2 ranks equals resident (m and v travel with the rows)", async () => {
  const run = async (offload: boolean, xs: Float32Array[], ls: Int32Array[]) => {
    const group = createInProcessGroup(2);
    const pfcs = group.map((collective) => make({ collective, optimizer: adamw, offload }));
    const losses: number[] = [];
    for (let s = 0; s < xs.length; s++) {
      const outs = await Promise.all(
        pfcs.map((p, r) =>
          step(p, xs[s].subarray(r * 3 * E, (r + 1) * 3 * E), ls[s].subarray(r * 3, r * 3 + 3))
        ),
      );
      losses.push(outs[0].loss);
    }
    const read = (f: (p: PartialFC) => Promise<Float32Array>) => Promise.all(pfcs.map(f));
    const out = {
      losses,
      w: await read((p) => p.readWeights()),
      m: await read((p) => p.readState(0)),
      v: await read((p) => p.readState(1)),
    };
    for (const p of pfcs) p.dispose();
    return out;
  };
  const xs = [randn(b * E), randn(b * E)], ls = [labelsOf(b), labelsOf(b)];
  const [a, o] = [await run(false, xs, ls), await run(true, xs, ls)];
  for (let s = 0; s < 2; s++) {
    assert.ok(Math.abs(o.losses[s] - a.losses[s]) <= 1e-6 * a.losses[s], `loss step ${s + 1}`);
  }
  for (let r = 0; r < 2; r++) {
    assertClose(o.w[r], a.w[r], 1e-6, `rank ${r} centres`);
    assertClose(o.m[r], a.m[r], 1e-6, `rank ${r} Adam m`);
    assertClose(o.v[r], a.v[r], 1e-6, `rank ${r} Adam v`);
  }
});

Deno.test("sampler: each step's draw is a pure function of (seed, step)", () => {
  const shard = { numLocal: 1000, classStart: 0 };
  const labels = Int32Array.from([5, 17, 999]);
  const a = new ClassSampler(shard, 0.1, 42), c = new ClassSampler(shard, 0.1, 42);
  for (let s = 0; s < 5; s++) a.sample(labels, s); // a has drawn before, c has not
  assert.deepEqual(c.sample(labels, 7).index, a.sample(labels, 7).index);
  assert.notDeepEqual(a.sample(labels, 8).index, a.sample(labels, 7).index);
  assert.notDeepEqual(
    new ClassSampler(shard, 0.1, 43).sample(labels, 7).index,
    c.sample(labels, 7).index,
  );
});

Deno.test("a run resumed from a checkpoint samples and updates as an uninterrupted one, across offload modes", async () => {
  const steps = 4, N = 2;
  const xs = Array.from({ length: steps }, () => randn(b * E));
  const ls = Array.from({ length: steps }, () => labelsOf(b));
  const runSteps = async (pfc: PartialFC, from: number, to: number) => {
    const outs: StepOut[] = [];
    for (let s = from; s < to; s++) outs.push(await step(pfc, xs[s], ls[s]));
    return outs;
  };
  const full = make({ offload: true });
  const ref = await runSteps(full, 0, steps);
  const [refW, refM] = [await full.readWeights(), await full.readState(0)];
  full.dispose();
  // the backbone's part of a checkpoint: a small Linear and its optimiser
  const parts = (pfc: PartialFC) => {
    const model = new Linear(4, 3, true, { kind: "torchDefault" }, new Rng(1));
    return { model, optimizer: new Optimizer(model.trainableParameters(), sgd), pfc };
  };
  const record = {
    step: N,
    epoch: 0,
    sampler: { epoch: 0, position: N * b },
    network: "test",
    numClasses: C,
    embeddingSize: E,
    world: 1,
    best: {},
  };
  for (const [saveOff, loadOff] of [[true, false], [false, true]]) {
    const dir = await Deno.makeTempDir();
    try {
      const first = make({ offload: saveOff });
      await runSteps(first, 0, N);
      await saveCheckpoint(dir, parts(first), record);
      first.dispose();
      const second = make({ offload: loadOff });
      const rec = await loadCheckpoint(`${dir}/checkpoint.safetensors`, parts(second));
      assert.equal(rec.step, N);
      assert.equal(second.steps, N, "the layer resumes at the checkpoint's step");
      const after = await runSteps(second, N, steps);
      const what = `saved ${saveOff ? "offloaded" : "resident"}, resumed ${
        loadOff ? "offloaded" : "resident"
      }`;
      for (let s = N; s < steps; s++) {
        const [r, o] = [ref[s], after[s - N]];
        assert.deepEqual(o.index, r.index, `${what}: step ${s + 1} samples the same classes`);
        assert.ok(Math.abs(o.loss - r.loss) <= 1e-6 * r.loss, `${what}: step ${s + 1} loss`);
        assertClose(o.grad, r.grad, 1e-6, `${what}: step ${s + 1} feature gradient`);
      }
      assertClose(await second.readWeights(), refW, 1e-6, `${what}: centres`);
      assertClose(await second.readState(0), refM, 1e-6, `${what}: momentum`);
      second.dispose();
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  }
  // the steps draw different samples (so the equalities above test the resume, not luck)
  assert.notDeepEqual(ref[N].index, ref[0].index);
});

Deno.test("offloaded load during init, and load after a step, win over the pending host writes", async () => {
  const pfc = make({ offload: true });
  const w = randn(C * E, 0.01), m = randn(C * E, 0.01);
  pfc.load(w, [m]); // the GPU init of the host table may still be running
  assertClose(await pfc.readWeights(), w, 0, "loaded centres");
  await step(pfc, randn(b * E), labelsOf(b));
  pfc.load(w, [m]); // the step's download is still pending
  assertClose(await pfc.readWeights(), w, 0, "centres loaded after a step");
  assertClose(await pfc.readState(0), m, 0, "momentum loaded after a step");
  assert.throws(() => pfc.load(w, [m, m]), /2 optimiser state arrays, the optimiser has 1/);
  pfc.dispose();
});
