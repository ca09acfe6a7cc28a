// Partial FC: the fused step against a float64 reference, N = 1..4 in-process virtual ranks
// against one rank holding all classes, sampling (positives kept, exact count, only sampled
// rows and their momentum change), weights in several chunks, and bad input.
import assert from "node:assert/strict";
import { createInProcessGroup } from "../../src/dist/inprocess.ts";
import { Tensor } from "../../src/tensor/tensor.ts";
import { resolveMargin } from "../../src/train/margin.ts";
import { PartialFC, type PartialFCOptions } from "../../src/train/partial_fc.ts";
import { NonFiniteError } from "../../src/train/finite.ts";
import { assertClose, rand, randn, setup } from "../util.ts";
import { refPartialFC } from "./reference.ts";

await setup();

const C = 23, E = 16, b = 6;
const LR = 0.2, WD = 5e-4, MOM = 0.9;
const sgd = { kind: "sgd" as const, lr: LR, momentum: MOM, weightDecay: WD };

function labelsOf(n: number): Int32Array {
  return Int32Array.from({ length: n }, () => Math.floor(rand() * C));
}

/** Runs `steps` steps on `world` virtual ranks; returns per-step losses and grads, final weights. */
async function runRanks(
  world: number,
  x: Float32Array[],
  labels: Int32Array[],
  opts: Partial<PartialFCOptions> = {},
) {
  const group = createInProcessGroup(world);
  const B = x[0].length / E;
  const bl = B / world;
  const pfcs = group.map((coll) =>
    new PartialFC({
      numClasses: C,
      embeddingSize: E,
      collective: coll,
      optimizer: sgd,
      chunkRows: 4,
      seed: 11,
      margin: resolveMargin({ loss: "arcface" }),
      ...opts,
    })
  );
  const losses: number[] = [], grads: Float32Array[] = [];
  for (let s = 0; s < x.length; s++) {
    const results = await Promise.all(pfcs.map(async (pfc, r) => {
      const f = Tensor.fromArray(x[s].subarray(r * bl * E, (r + 1) * bl * E), [bl, E]);
      const out = await pfc.forwardBackward(f, labels[s].subarray(r * bl, (r + 1) * bl));
      const loss = (await out.loss.readFloat())[0];
      const g = await out.featureGrad.readFloat();
      f.dispose();
      out.loss.dispose();
      out.featureGrad.dispose();
      return { loss, g };
    }));
    for (const r of results) {
      assert.ok(Math.abs(r.loss - results[0].loss) <= 1e-6 * Math.abs(results[0].loss));
    }
    losses.push(results[0].loss);
    const all = new Float32Array(B * E);
    results.forEach((r, i) => all.set(r.g.map((v) => v / world), i * bl * E));
    grads.push(all);
  }
  const w = await Promise.all(pfcs.map((p) => p.readWeights()));
  const m = await Promise.all(pfcs.map((p) => p.readState(0)));
  const cat = (parts: Float32Array[]) => {
    const out = new Float32Array(C * E);
    let o = 0;
    for (const p of parts) (out.set(p, o), o += p.length);
    return out;
  };
  for (const p of pfcs) p.dispose();
  return { losses, grads, weights: cat(w), momentum: cat(m) };
}

Deno.test("PartialFC one rank, 6 weight chunks: loss, feature grad and SGD update match float64", async () => {
  const x = [randn(b * E)];
  const labels = [labelsOf(b)];
  labels[0][0] = C - 1; // a class in the last, short chunk
  const probe = new PartialFC({ numClasses: C, embeddingSize: E, chunkRows: 4, seed: 11 });
  assert.equal(probe.weights.length, 6);
  const w0 = await probe.readWeights();
  probe.dispose();
  const std = Math.sqrt(w0.reduce((a, v) => a + v * v, 0) / w0.length);
  assert.ok(std > 0.007 && std < 0.013, `init std ${std}`);
  const res = await runRanks(1, x, labels);
  const ref = refPartialFC(x[0], w0, labels[0], C, E, resolveMargin({ loss: "arcface" }));
  assert.ok(
    Math.abs(res.losses[0] - ref.loss) <= 1e-5 * ref.loss,
    `${res.losses[0]} vs ${ref.loss}`,
  );
  assertClose(res.grads[0], ref.dx, 1e-5, "feature gradient");
  // first SGD step: buf = dw + wd·w, w ← w − lr·buf
  const buf = ref.dw.map((g, i) => g + WD * w0[i]);
  assertClose(res.momentum, buf, 1e-5, "momentum after one step");
  assertClose(res.weights, w0.map((v, i) => v - LR * buf[i]), 1e-6, "updated centres");
});

Deno.test("PartialFC N = 1, 2, 3, 4 in-process ranks equal one rank with all classes", async () => {
  const steps = 2, B = 12;
  const x = Array.from({ length: steps }, () => randn(B * E));
  const labels = Array.from({ length: steps }, () => labelsOf(B));
  const one = await runRanks(1, x, labels);
  for (const world of [2, 3, 4]) {
    const many = await runRanks(world, x, labels);
    for (let s = 0; s < steps; s++) {
      assert.ok(
        Math.abs(many.losses[s] - one.losses[s]) <= 1e-5 * one.losses[s],
        `world ${world} step ${s} loss ${many.losses[s]} vs ${one.losses[s]}`,
      );
      assertClose(many.grads[s], one.grads[s], 1e-5, `world ${world} step ${s} feature grad`);
    }
    assertClose(many.weights, one.weights, 1e-5, `world ${world} class centres`);
    assertClose(many.momentum, one.momentum, 1e-5, `world ${world} momentum`);
  }
});

Deno.test("PartialFC sample_rate 0.25 on 2 ranks: positives kept, exact count, only sampled rows move", async () => {
  const CC = 80, B = 8, world = 2;
  const group = createInProcessGroup(world);
  const pfcs = group.map((coll) =>
    new PartialFC({
      numClasses: CC,
      embeddingSize: E,
      collective: coll,
      sampleRate: 0.25,
      optimizer: sgd,
      chunkRows: 7,
      seed: 5,
    })
  );
  assert.deepEqual(pfcs.map((p) => p.numSample), [10, 10]);
  const before = await Promise.all(pfcs.map((p) => p.readWeights()));
  let prevMom = await Promise.all(pfcs.map((p) => p.readState(0)));
  let prevW = before;
  for (let step = 0; step < 2; step++) {
    const x = randn(B * E);
    const labels = Int32Array.from({ length: B }, () => Math.floor(rand() * CC));
    const outs = await Promise.all(pfcs.map(async (p, r) => {
      const f = Tensor.fromArray(x.subarray(r * 4 * E, (r + 1) * 4 * E), [4, E]);
      const o = await p.forwardBackward(f, labels.subarray(r * 4, r * 4 + 4));
      f.dispose();
      o.loss.dispose();
      o.featureGrad.dispose();
      return o.sample;
    }));
    const w = await Promise.all(pfcs.map((p) => p.readWeights()));
    const mom = await Promise.all(pfcs.map((p) => p.readState(0)));
    for (let r = 0; r < world; r++) {
      const idx = outs[r].index!;
      const start = pfcs[r].shard.classStart, n = pfcs[r].shard.numLocal;
      assert.equal(idx.length, 10, "sample count is int(rate · num_local)");
      for (let i = 1; i < idx.length; i++) assert.ok(idx[i] > idx[i - 1], "sorted, unique");
      for (let i = 0; i < B; i++) {
        const l = labels[i] - start;
        if (l >= 0 && l < n) {
          assert.ok(idx.includes(l), `positive ${labels[i]} sampled on rank ${r}`);
          assert.equal(idx[outs[r].labels[i]], l, "label remapped into the sample");
        } else assert.equal(outs[r].labels[i], -1);
      }
      const sampled = new Set(idx);
      for (let row = 0; row < n; row++) {
        const a = prevW[r].subarray(row * E, (row + 1) * E),
          c = w[r].subarray(row * E, (row + 1) * E);
        const ma = prevMom[r].subarray(row * E, (row + 1) * E);
        const mc = mom[r].subarray(row * E, (row + 1) * E);
        const same = a.every((v, i) => v === c[i]) && ma.every((v, i) => v === mc[i]);
        if (sampled.has(row)) assert.ok(!same, `sampled row ${row} of rank ${r} changed`);
        else assert.ok(same, `unsampled row ${row} of rank ${r} and its momentum untouched`);
      }
    }
    prevW = w;
    prevMom = mom;
  }
  for (const p of pfcs) p.dispose();
});

Deno.test("PartialFC bad input: labels, sample rate, embedding size, chunk size", async () => {
  assert.throws(
    () => new PartialFC({ numClasses: C, embeddingSize: E, sampleRate: 0 }),
    /sample_rate 0 is outside the valid range \(0, 1\]/,
  );
  assert.throws(
    () => new PartialFC({ numClasses: C, embeddingSize: E, sampleRate: 1.5 }),
    /sample_rate 1.5 is outside the valid range \(0, 1\]/,
  );
  assert.throws(
    () => new PartialFC({ numClasses: C, embeddingSize: E, chunkRows: 0 }),
    /chunkRows 0 outside the valid range \[1, \d+\]/,
  );
  const pfc = new PartialFC({ numClasses: C, embeddingSize: E });
  const f = Tensor.fromArray(randn(2 * E), [2, E]);
  await assert.rejects(
    () => pfc.forwardBackward(f, [3, 23]),
    /label 23 at position 1 is outside the valid range \[0, 23\)/,
  );
  await assert.rejects(() => pfc.forwardBackward(f, [-1, 2]), /label -1 at position 0/);
  const g = Tensor.fromArray(randn(2 * (E + 1)), [2, E + 1]);
  await assert.rejects(
    () => pfc.forwardBackward(g, [1, 2]),
    /features f32 \[2, 17\] must be f32 \[batch, 16\] \(embedding size 16\)/,
  );
  f.dispose();
  g.dispose();
  pfc.dispose();
});

Deno.test("PartialFC non-finite values stop with the step and the first non-finite tensor", async () => {
  const pfc = new PartialFC({ numClasses: C, embeddingSize: E, chunkRows: 8 });
  const run = async (x: Float32Array) => {
    const f = Tensor.fromArray(x, [b, E]);
    const o = await pfc.forwardBackward(f, labelsOf(b));
    f.dispose();
    o.loss.dispose();
    o.featureGrad.dispose();
  };
  await run(randn(b * E));
  await run(randn(b * E));
  const bad = randn(b * E);
  bad[E + 3] = NaN;
  await run(bad); // step 3 records the checks; the next call reports them
  const err = await assert.rejects(() => run(randn(b * E)), NonFiniteError);
  void err;
  await assert.rejects(
    () => pfc.assertFinite(),
    /step 3: non-finite values \(Inf\/NaN\); first non-finite tensor: embeddings/,
  );
  pfc.dispose();
  // a poisoned class centre is named as such
  const p2 = new PartialFC({ numClasses: C, embeddingSize: E });
  const w = await p2.readWeights();
  w[5 * E] = Infinity;
  p2.load(w, [new Float32Array(C * E)]);
  const f = Tensor.fromArray(randn(b * E), [b, E]);
  const o = await p2.forwardBackward(f, labelsOf(b));
  await assert.rejects(() => p2.assertFinite(), /step 1: .*class centres/);
  for (const t of [f, o.loss, o.featureGrad]) t.dispose();
  p2.dispose();
});

Deno.test("PartialFC with AdamW: 3 ranks equal one rank (Adam m and v travel with the rows)", async () => {
  const adamw = { kind: "adamw" as const, lr: 0.01, weightDecay: 0.1 };
  const steps = 2, B = 6;
  const x = Array.from({ length: steps }, () => randn(B * E));
  const labels = Array.from({ length: steps }, () => labelsOf(B));
  const one = await runRanks(1, x, labels, { optimizer: adamw });
  const three = await runRanks(3, x, labels, { optimizer: adamw });
  assertClose(three.weights, one.weights, 1e-5, "AdamW class centres");
  assertClose(three.momentum, one.momentum, 1e-5, "AdamW first moment");
});
