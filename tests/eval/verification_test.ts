import assert from "node:assert/strict";
import {
  evaluateVerification,
  kFoldRanges,
  pairDistances,
  thresholdGrid,
} from "../../src/eval/verification.ts";
import { writeNpy } from "../../src/io/npy.ts";

const PYTHON = "/usr/bin/python3";
const REF = new URL("./verification_ref.py", import.meta.url).pathname;

/** Deterministic PRNG (mulberry32) with a Box–Muller normal. */
function rng(seed: number) {
  let a = seed >>> 0;
  const uniform = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const normal = () => Math.sqrt(-2 * Math.log(1 - uniform())) * Math.cos(2 * Math.PI * uniform());
  return { uniform, normal };
}

interface Case {
  emb: Float32Array;
  flip: Float32Array;
  dim: number;
  issame: boolean[];
}

/** Pairs of noisy identity embeddings; `noise` sets how hard the task is. */
function makeCase(seed: number, pairs: number, dim: number, noise: number): Case {
  const r = rng(seed);
  const emb = new Float32Array(2 * pairs * dim);
  const flip = new Float32Array(2 * pairs * dim);
  const issame: boolean[] = [];
  const id = () => Array.from({ length: dim }, () => r.normal());
  for (let p = 0; p < pairs; p++) {
    const same = r.uniform() < 0.5;
    issame.push(same);
    const a = id();
    const b = same ? a : id();
    const scale = 0.5 + 20 * r.uniform();
    for (let j = 0; j < dim; j++) {
      emb[(2 * p) * dim + j] = scale * (a[j] + noise * r.normal());
      emb[(2 * p + 1) * dim + j] = scale * (b[j] + noise * r.normal());
      flip[(2 * p) * dim + j] = emb[(2 * p) * dim + j] + 0.1 * scale * r.normal();
      flip[(2 * p + 1) * dim + j] = emb[(2 * p + 1) * dim + j] + 0.1 * scale * r.normal();
    }
  }
  // Edge cases: a pair of identical images (distance 0) and a pair whose flips cancel them
  // (zero rows stay zero, distance 0). A single zero row would put the distance at 1 ± 1 ulp,
  // exactly on a threshold, where summation order decides: no implementation agrees there.
  for (let j = 0; j < dim; j++) {
    emb[2 * dim + j] = emb[j];
    emb[3 * dim + j] = emb[j];
    flip[2 * dim + j] = flip[j];
    flip[3 * dim + j] = flip[j];
    flip[4 * dim + j] = -emb[4 * dim + j];
    flip[5 * dim + j] = -emb[5 * dim + j];
  }
  return { emb, flip, dim, issame };
}

function close(actual: number, expected: number, what: string, tol = 1e-6) {
  if (Number.isNaN(expected)) {
    assert.ok(Number.isNaN(actual), `${what}: expected NaN, got ${actual}`);
    return;
  }
  assert.ok(Math.abs(actual - expected) <= tol, `${what}: ${actual} vs reference ${expected}`);
}

Deno.test("kFoldRanges splits like sklearn KFold(10, shuffle=False)", () => {
  assert.deepEqual(kFoldRanges(23, 10).map(([s, e]) => e - s), [3, 3, 3, 2, 2, 2, 2, 2, 2, 2]);
  assert.deepEqual(kFoldRanges(20, 10)[9], [18, 20]);
  assert.throws(() => kFoldRanges(5, 10), /cannot split 5 pairs into 10 folds/);
});

Deno.test("thresholdGrid equals np.arange(0, 4, step)", () => {
  const t = thresholdGrid(4, 0.01);
  assert.equal(t.length, 400);
  assert.equal(t[1], 0.01);
  assert.equal(t[399], 399 * 0.01);
  assert.equal(thresholdGrid(4, 0.001).length, 4000);
});

Deno.test("pairDistances sums flips, normalises and leaves zero rows at zero", () => {
  const emb = new Float32Array([3, 4, 0, 2, 1, 1, -1, -1]);
  const flip = new Float32Array([0, 0, 0, 0, 1, 1, 1, 1]);
  const d = pairDistances(emb, flip, 2);
  // pair 0: (0.6, 0.8) vs (0, 1) → 0.36 + 0.04; pair 1: (0.707, 0.707) vs (0, 0) → 1
  close(d[0], 0.4, "pair 0", 1e-12);
  close(d[1], 1, "pair 1", 1e-12);
});

Deno.test("evaluateVerification equals an independent sklearn/numpy implementation", async () => {
  const cases = [
    makeCase(1, 607, 32, 1.1), // ~90 % accuracy, P not a multiple of 10
    makeCase(2, 120, 8, 2.0), // hard, small folds, many ties between thresholds
    makeCase(3, 300, 16, 0.3), // nearly separable
  ];
  const dir = await Deno.makeTempDir({ prefix: "verif_" });
  try {
    const dirs: string[] = [];
    for (const [i, c] of cases.entries()) {
      const d = `${dir}/case${i}`;
      await Deno.mkdir(d);
      const rows = c.emb.length / c.dim;
      await writeNpy(`${d}/emb.npy`, { dtype: "float32", shape: [rows, c.dim], data: c.emb });
      await writeNpy(`${d}/flip.npy`, { dtype: "float32", shape: [rows, c.dim], data: c.flip });
      await writeNpy(`${d}/issame.npy`, {
        dtype: "bool",
        shape: [c.issame.length],
        data: Uint8Array.from(c.issame, Number),
      });
      dirs.push(d);
    }
    const out = await new Deno.Command(PYTHON, { args: [REF, ...dirs] }).output();
    assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
    const refs = JSON.parse(new TextDecoder().decode(out.stdout));
    for (const [i, c] of cases.entries()) {
      const ours = evaluateVerification(c.emb, c.flip, c.dim, c.issame);
      const ref = refs[i];
      const tag = `case ${i}`;
      assert.ok(Number.isFinite(ours.val) && ours.far >= 0, `${tag}: val ${ours.val}`);
      assert.ok(ours.accuracy > 0.55 && ours.accuracy < 1, `${tag}: accuracy ${ours.accuracy}`);
      close(ours.accuracy, ref.accuracy, `${tag} accuracy`);
      close(ours.std, ref.std, `${tag} std`);
      close(ours.xnorm, ref.xnorm, `${tag} xnorm`);
      close(ours.bestThreshold, ref.bestThreshold, `${tag} bestThreshold`);
      close(ours.val, ref.val, `${tag} val`);
      close(ours.valStd, ref.valStd, `${tag} valStd`);
      close(ours.far, ref.far, `${tag} far`);
      assert.equal(ours.foldAccuracies.length, 10);
      ours.foldAccuracies.forEach((a, f) => close(a, ref.foldAccuracies[f], `${tag} fold ${f}`));
      ours.foldThresholds.forEach((t, f) =>
        close(t, ref.foldThresholds[f], `${tag} threshold ${f}`, 1e-12)
      );
      ours.tpr.forEach((t, k) => close(t, ref.tpr[k], `${tag} tpr[${k}]`));
      ours.fpr.forEach((t, k) => close(t, ref.fpr[k], `${tag} fpr[${k}]`));
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("evaluateVerification rejects embeddings of the wrong size", () => {
  assert.throws(
    () => evaluateVerification(new Float32Array(10), new Float32Array(10), 2, [true, false, true]),
    /embeddings must be 6×2/,
  );
});
