// End to end: a two-layer linear embedding net trained through Partial FC (ArcFace, two
// in-process ranks, sample rate 0.5) with SGD, clipping and the 2021 schedule drives the loss
// down and classifies held-out samples by their nearest class centre.
import assert from "node:assert/strict";
import { createInProcessGroup } from "../../src/dist/inprocess.ts";
import { backward, noGrad } from "../../src/tensor/autograd.ts";
import { linear } from "../../src/tensor/ops/matmul.ts";
import { scale } from "../../src/tensor/ops/elementwise.ts";
import { Tensor } from "../../src/tensor/tensor.ts";
import { clipGradNorm } from "../../src/train/clip.ts";
import { Optimizer } from "../../src/train/optim.ts";
import { PartialFC } from "../../src/train/partial_fc.ts";
import { StepDecaySchedule } from "../../src/train/schedule.ts";
import { rand, randn, setup } from "../util.ts";

await setup();

const K = 10, D = 12, H = 16, E = 8, WORLD = 2, BL = 16;

Deno.test("tiny ArcFace fit on separable synthetic classes: loss falls, held-out accuracy > 90%", async () => {
  const means = Array.from({ length: K }, () => randn(D, 1.5));
  const sample = (n: number) => {
    const x = new Float32Array(n * D), y = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      y[i] = Math.floor(rand() * K);
      const noise = randn(D, 0.3);
      for (let d = 0; d < D; d++) x[i * D + d] = means[y[i]][d] + noise[d];
    }
    return { x, y };
  };
  const param = (shape: number[], std: number) => {
    const t = Tensor.fromArray(randn(shape[0] * (shape[1] ?? 1), std), shape);
    t.requiresGrad = true;
    return t;
  };
  // one backbone replica per rank, identical at the start (data parallel)
  const init = [param([H, D], 0.3), param([H], 0), param([E, H], 0.3), param([E], 0)];
  const hostInit = await Promise.all(init.map((t) => t.readFloat()));
  const group = createInProcessGroup(WORLD);
  const ranks = await Promise.all(group.map((coll) => {
    const params = init.map((t, i) => {
      const p = Tensor.fromArray(hostInit[i], t.shape);
      p.requiresGrad = true;
      return p;
    });
    const pfc = new PartialFC({
      numClasses: K,
      embeddingSize: E,
      sampleRate: 0.5,
      collective: coll,
      margin: { loss: "arcface" },
      optimizer: { kind: "sgd", lr: 0.1, momentum: 0.9, weightDecay: 5e-4 },
      seed: 3,
    });
    const opt = new Optimizer(params, { kind: "sgd", lr: 0.1, momentum: 0.9, weightDecay: 5e-4 });
    return { coll, params, pfc, opt };
  }));
  for (const t of init) t.dispose();
  const schedule = new StepDecaySchedule({ baseLr: 0.1, warmupSteps: 5, decaySteps: [70] });
  const embed = (params: Tensor[], x: Tensor) => {
    const h = linear(x, params[0], params[1]);
    const e = linear(h, params[2], params[3]);
    h.dispose();
    return e;
  };
  const losses: number[] = [];
  for (let step = 0; step < 60; step++) {
    const lr = schedule.lrAt(step);
    const batch = sample(BL * WORLD);
    const stepLoss = await Promise.all(ranks.map(async ({ coll, params, pfc, opt }) => {
      const lo = coll.rank * BL, hi = lo + BL;
      const x = Tensor.fromArray(batch.x.subarray(lo * D, hi * D), [BL, D]);
      // the autograd tape is per process: virtual ranks record and run their backbone's
      // forward + backward without an await in between (the embedding is recomputed)
      const e0 = noGrad(() => embed(params, x));
      const { loss, featureGrad } = await pfc.forwardBackward(e0, batch.y.subarray(lo, hi), { lr });
      const e = embed(params, x);
      backward(e, featureGrad);
      e0.dispose();
      for (const p of params) {
        // data-parallel averaging, as DDP does (Partial FC's ×world compensates it)
        await coll.allReduce(p.grad!, "sum");
        const avg = noGrad(() => scale(p.grad!, 1 / WORLD));
        p.grad!.dispose();
        p.grad = avg;
      }
      clipGradNorm(params, 5).dispose();
      opt.lr = lr;
      opt.step();
      opt.zeroGrad();
      const l = (await loss.readFloat())[0];
      for (const t of [x, e, loss, featureGrad]) t.dispose();
      return l;
    }));
    assert.ok(Math.abs(stepLoss[0] - stepLoss[1]) <= 1e-5 * stepLoss[0]);
    losses.push(stepLoss[0]);
  }
  const first = losses.slice(0, 5).reduce((a, b) => a + b) / 5;
  const last = losses.slice(-5).reduce((a, b) => a + b) / 5;
  console.log(`ArcFace loss ${first.toFixed(2)} → ${last.toFixed(2)}`);
  assert.ok(last < 0.5 * first, `loss ${first} → ${last}`);
  // held-out: nearest class centre by cosine
  const test = sample(200);
  const { params } = ranks[0];
  const x = Tensor.fromArray(test.x, [200, D]);
  const e = noGrad(() => embed(params, x));
  const emb = await e.readFloat();
  const centres = new Float32Array(K * E);
  let o = 0;
  for (const r of ranks) {
    const w = await r.pfc.readWeights();
    centres.set(w, o);
    o += w.length;
  }
  let correct = 0;
  for (let i = 0; i < 200; i++) {
    let best = -Infinity, arg = -1;
    for (let k = 0; k < K; k++) {
      let dot = 0, nw = 0, ne = 0;
      for (let d = 0; d < E; d++) {
        dot += emb[i * E + d] * centres[k * E + d];
        nw += centres[k * E + d] ** 2;
        ne += emb[i * E + d] ** 2;
      }
      const c = dot / Math.sqrt(nw * ne);
      if (c > best) (best = c, arg = k);
    }
    if (arg === test.y[i]) correct++;
  }
  console.log(`held-out accuracy ${correct / 2}%`);
  assert.ok(correct >= 180, `held-out accuracy ${correct}/200`);
  x.dispose();
  e.dispose();
  for (const r of ranks) {
    r.pfc.dispose();
    r.opt.dispose();
    for (const p of r.params) (p.grad?.dispose(), p.dispose());
  }
});
