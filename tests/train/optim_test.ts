// Optimisers against PyTorch 1.13 trajectories (tests/fixtures/optim/optim.json, made by
// make_optim_fixture.py): SGD momentum / dampening / Nesterov / weight decay, AdamW with bias
// correction, clip_grad_norm_; sparse row updates; steps skipped on a loss-scaler overflow.
import assert from "node:assert/strict";
import { Tensor } from "../../src/tensor/tensor.ts";
import { clipGradNorm } from "../../src/train/clip.ts";
import { LossScaler } from "../../src/train/loss_scale.ts";
import { Optimizer, type OptimizerConfig } from "../../src/train/optim.ts";
import { assertClose, randn, setup } from "../util.ts";

await setup();

interface Case {
  name: string;
  shapes: number[][];
  init: number[][];
  grads: number[][][];
  lrs: number[];
  after: number[][][];
  clip: number | null;
  norms: number[];
}
const fixture: { torch: string; cases: Case[] } = JSON.parse(
  await Deno.readTextFile(new URL("../fixtures/optim/optim.json", import.meta.url)),
);

const CONFIGS: Record<string, OptimizerConfig> = {
  "sgd momentum 0.9 wd 5e-4": { kind: "sgd", lr: 0.1, momentum: 0.9, weightDecay: 5e-4 },
  "sgd momentum 0.9 dampening 0.1 wd 1e-2": {
    kind: "sgd",
    lr: 0.1,
    momentum: 0.9,
    dampening: 0.1,
    weightDecay: 1e-2,
  },
  "sgd nesterov momentum 0.8": { kind: "sgd", lr: 0.1, momentum: 0.8, nesterov: true },
  "sgd plain wd 2e-4": { kind: "sgd", lr: 0.1, weightDecay: 2e-4 },
  "adamw lr 1e-3 wd 0.1": { kind: "adamw", lr: 1e-3, weightDecay: 0.1 },
  "adamw betas (0.8, 0.99) eps 1e-6 wd 0.05": {
    kind: "adamw",
    lr: 1e-3,
    betas: [0.8, 0.99],
    eps: 1e-6,
    weightDecay: 0.05,
  },
  "clip 5 + sgd momentum 0.9 wd 5e-4": { kind: "sgd", lr: 0.1, momentum: 0.9, weightDecay: 5e-4 },
  "clip 5, small grads (no clipping) + sgd": {
    kind: "sgd",
    lr: 0.1,
    momentum: 0.9,
    weightDecay: 5e-4,
  },
};

for (const c of fixture.cases) {
  Deno.test(`${c.name}: ${c.after.length} steps equal PyTorch ${fixture.torch} within 1e-6`, async () => {
    const params = c.init.map((v, i) => {
      const t = Tensor.fromArray(v, c.shapes[i]);
      t.requiresGrad = true;
      return t;
    });
    const opt = new Optimizer(params, CONFIGS[c.name]);
    for (let k = 0; k < c.after.length; k++) {
      params.forEach((p, i) => {
        p.grad?.dispose();
        p.grad = Tensor.fromArray(c.grads[k][i], c.shapes[i]);
      });
      if (c.clip !== null) {
        const res = clipGradNorm(params, c.clip);
        const [norm] = await res.readFloat();
        assert.ok(
          Math.abs(norm - c.norms[k]) <= 1e-6 * c.norms[k],
          `norm ${norm} vs ${c.norms[k]}`,
        );
        res.dispose();
      }
      opt.lr = c.lrs[k];
      opt.step();
      for (let i = 0; i < params.length; i++) {
        assertClose(await params[i].readFloat(), c.after[k][i], 1e-6, `step ${k + 1} param ${i}`);
      }
    }
    assert.equal(await opt.stepCount(), c.after.length);
    for (const p of params) (p.grad?.dispose(), p.dispose());
    opt.dispose();
  });
}

Deno.test("sparse row update: listed rows and their momentum change, others stay bitwise", async () => {
  const R = 9, E = 5;
  const w0 = randn(R * E), m0 = randn(R * E);
  const w = Tensor.fromArray(w0, [R, E]), m = Tensor.fromArray(m0, [R, E]);
  const rows = Int32Array.from([1, 4, 8]);
  const g0 = randn(3 * E);
  const g = Tensor.fromArray(g0, [3, E]);
  const idx = Tensor.fromArray(rows, [3], "i32");
  const opt = new Optimizer([], { kind: "sgd", lr: 0.05, momentum: 0.9, weightDecay: 1e-3 });
  opt.begin(); // step 1: buf = d
  opt.updateRows(w, g, [m], idx);
  opt.begin(); // step 2: buf = μ·buf + d
  opt.updateRows(w, g, [m], idx);
  const [wr, mr] = [await w.readFloat(), await m.readFloat()];
  const ew = Float64Array.from(w0), em = Float64Array.from(m0);
  for (let s = 0; s < 2; s++) {
    rows.forEach((row, j) => {
      for (let c = 0; c < E; c++) {
        const i = row * E + c;
        const d = g0[j * E + c] + 1e-3 * ew[i];
        em[i] = s === 0 ? d : 0.9 * em[i] + d;
        ew[i] -= 0.05 * em[i];
      }
    });
  }
  assertClose(wr, ew, 1e-6, "weights");
  assertClose(mr, em, 1e-6, "momentum");
  for (let r = 0; r < R; r++) {
    if (rows.includes(r)) continue;
    for (let c = 0; c < E; c++) {
      assert.equal(wr[r * E + c], w0[r * E + c]);
      assert.equal(mr[r * E + c], m0[r * E + c]);
    }
  }
  for (const t of [w, m, g, idx]) t.dispose();
  opt.dispose();
});

Deno.test("AdamW skipped on a loss-scaler overflow: nothing changes and t does not advance", async () => {
  const scaler = new LossScaler({ initScale: 8 });
  const p = Tensor.fromArray(randn(6), [6]);
  p.requiresGrad = true;
  const opt = new Optimizer([p], { kind: "adamw", lr: 1e-2 }, { skipIf: scaler.foundInf });
  p.grad = Tensor.fromArray(randn(6).map((v) => v * 8), [6]);
  scaler.unscale([p.grad]);
  opt.step();
  scaler.update();
  const after1 = await p.readFloat();
  assert.equal(await opt.stepCount(), 1);
  p.grad.dispose();
  p.grad = Tensor.fromArray([1, Infinity, 0, 0, 0, 0], [6]);
  scaler.unscale([p.grad]);
  opt.step();
  scaler.update();
  assert.deepEqual(await p.readFloat(), after1);
  assert.equal(await opt.stepCount(), 1);
  const st = await scaler.read();
  assert.deepEqual([st.scale, st.skippedSteps, st.foundInf], [4, 1, true]);
  for (const t of [p.grad, p]) t.dispose();
  opt.dispose();
  scaler.dispose();
});

Deno.test("optimizer settings out of range name the value and the range", () => {
  assert.throws(
    () => new Optimizer([], { kind: "adamw", betas: [0.9, 1.0] }),
    /beta2 1 is outside the valid range \[0, 1\)/,
  );
  assert.throws(
    () => new Optimizer([], { kind: "sgd", lr: -1 }),
    /lr -1 is outside the valid range \[0, ∞\)/,
  );
  assert.throws(() => new Optimizer([], { kind: "sgd", lr: 0.1, nesterov: true }), /Nesterov/);
});
