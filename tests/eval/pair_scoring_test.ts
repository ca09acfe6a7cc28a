import assert from "node:assert/strict";
import { gpu, initGpu } from "../../src/gpu/device.ts";
import {
  arraySource,
  farRank,
  keyScore,
  type PairScoreResult,
  scoreAllPairs,
  scoreCrossPairs,
  scoreKey,
} from "../../src/eval/pair_scoring.ts";
import { poison, rand, randn, SEED } from "../util.ts";

await initGpu();

const FARS = [1e-4, 1e-3, 1e-2, 0.1, 0.5, 1];

/** Labels of `n` rows: ~`per` rows per identity, shuffled. */
function randomLabels(n: number, per: number): Int32Array {
  const ids = Math.max(1, Math.round(n / per));
  const l = new Int32Array(n);
  for (let i = 0; i < n; i++) l[i] = Math.floor(rand() * ids) * 7 - 3; // non-contiguous ids
  return l;
}

/**
 * Clustered embeddings with small integer entries: an identity centre plus integer noise. Every
 * dot product is an exact integer in f32 whatever the summation order, so the GPU's scores equal
 * the float64 brute force exactly and ties are plentiful. Some rows are exact duplicates.
 */
function integerEmbeddings(labels: Int32Array, E: number): Float32Array {
  const centres = new Map<number, Float32Array>();
  const x = new Float32Array(labels.length * E);
  for (let i = 0; i < labels.length; i++) {
    let c = centres.get(labels[i]);
    if (!c) {
      c = Float32Array.from({ length: E }, () => Math.floor(rand() * 9) - 4);
      centres.set(labels[i], c);
    }
    if (i > 0 && rand() < 0.05) { // duplicate an earlier row (same or other identity)
      const j = Math.floor(rand() * i);
      x.copyWithin(i * E, j * E, (j + 1) * E);
      continue;
    }
    for (let e = 0; e < E; e++) x[i * E + e] = c[e] + Math.floor(rand() * 5) - 2;
  }
  return x;
}

/** L2-normalised clustered float embeddings. */
function floatEmbeddings(labels: Int32Array, E: number): Float32Array {
  const centres = new Map<number, Float32Array>();
  const x = new Float32Array(labels.length * E);
  for (let i = 0; i < labels.length; i++) {
    let c = centres.get(labels[i]);
    if (!c) centres.set(labels[i], c = randn(E));
    const nz = randn(E, 1.2);
    let ss = 0;
    for (let e = 0; e < E; e++) ss += (c[e] + nz[e]) ** 2;
    for (let e = 0; e < E; e++) x[i * E + e] = (c[e] + nz[e]) / Math.sqrt(ss);
  }
  return x;
}

interface Ref {
  pos: Float64Array;
  neg: Float64Array; // descending
}

/** All pair scores in float64 from the same f32 inputs, split and sorted. */
function bruteForce(
  q: Float32Array,
  ql: Int32Array,
  g: Float32Array,
  gl: Int32Array,
  E: number,
  upper: boolean,
): Ref {
  const pos: number[] = [], neg: number[] = [];
  const nq = ql.length, ng = gl.length;
  for (let i = 0; i < nq; i++) {
    for (let j = upper ? i + 1 : 0; j < ng; j++) {
      let s = 0;
      for (let e = 0; e < E; e++) s += q[i * E + e] * g[j * E + e];
      (ql[i] === gl[j] ? pos : neg).push(s);
    }
  }
  return { pos: Float64Array.from(pos), neg: Float64Array.from(neg).sort().reverse() };
}

function refAt(ref: Ref, far: number) {
  const N = ref.neg.length;
  const k = Math.floor(far * N + 1e-9);
  const t = k >= N ? -Infinity : ref.neg[k];
  const accepted = ref.neg.filter((s) => s > t).length;
  const tp = ref.pos.filter((s) => s > t).length;
  return { k, t, accepted, tp, tar: tp / ref.pos.length };
}

/** Exact comparison (integer embeddings: every score is exact). */
function assertExact(got: PairScoreResult, ref: Ref, what: string) {
  assert.equal(got.positives, ref.pos.length, `${what}: positives (seed ${SEED})`);
  assert.equal(got.negatives, ref.neg.length, `${what}: negatives`);
  for (const r of got.results) {
    const e = refAt(ref, r.far);
    const at = `${what} FAR=${r.far} (seed ${SEED})`;
    assert.equal(r.k, e.k, `${at}: k`);
    assert.equal(r.threshold, e.t, `${at}: threshold`);
    assert.equal(r.acceptedNegatives, e.accepted, `${at}: accepted negatives`);
    assert.equal(r.acceptedPositives, e.tp, `${at}: accepted positives`);
    assert.equal((100 * r.tar).toFixed(4), (100 * e.tar).toFixed(4), `${at}: TAR %`);
  }
}

Deno.test("score keys preserve the order of f32 scores and invert exactly", () => {
  const xs = [-1, -0.5, -1e-30, -0, 0, 1e-30, 0.25, 0.5, 1, -Infinity, Infinity];
  const sorted = [...xs].sort((a, b) => a - b);
  const keys = sorted.map(scoreKey);
  for (let i = 1; i < keys.length; i++) assert.ok(keys[i] >= keys[i - 1], `key order at ${i}`);
  assert.equal(scoreKey(-0), scoreKey(0));
  for (const x of randn(100)) assert.equal(keyScore(scoreKey(x)), Math.fround(x));
  assert.equal(farRank(1e-6, 1e6), 1);
  assert.equal(farRank(1e-4, 96983824), 9698);
  assert.equal(farRank(1, 7), 7);
});

Deno.test("all-to-all: small blocks, partial tiles, diagonal masking and ties match brute force exactly", async () => {
  const E = 22; // padded to 24 on the GPU
  for (const [n, blockRows, colTiles] of [[701, 150, 1], [257, 1000, 2], [555, 1000, 3]]) {
    const labels = randomLabels(n, 6);
    const x = integerEmbeddings(labels, E);
    const ref = bruteForce(x, labels, x, labels, E, true);
    const opts = { fars: FARS, blockRows, colTiles };
    const got = await scoreAllPairs(arraySource(x, E), labels, opts);
    assert.equal(got.pairs, n * (n - 1) / 2);
    assertExact(got, ref, `all n=${n} blocks=${blockRows} colTiles=${colTiles}`);
  }
});

Deno.test("query × gallery: small blocks, streamed (not resident), poisoned buffers", async () => {
  const E = 16;
  const nq = 333, ng = 517;
  const ql = randomLabels(nq, 3), gl = randomLabels(ng, 5);
  const q = integerEmbeddings(ql, E), g = integerEmbeddings(gl, E);
  const ref = bruteForce(q, ql, g, gl, E, false);
  poison([4096]);
  poison([1 << 20], "f32", 2);
  poison([64]);
  const opts = { fars: FARS, blockRows: 97 };
  const got = await scoreCrossPairs(arraySource(q, E), ql, arraySource(g, E), gl, opts);
  assertExact(got, ref, "cross resident");
  poison([97 * E]);
  const streamed = await scoreCrossPairs(arraySource(q, E), ql, arraySource(g, E), gl, {
    ...opts,
    residentBytes: 0,
    colTiles: 2,
  });
  assertExact(streamed, ref, "cross streamed");
  const allStreamed = await scoreAllPairs(arraySource(g, E), gl, { ...opts, residentBytes: 0 });
  assertExact(allStreamed, bruteForce(g, gl, g, gl, E, true), "all streamed");
});

Deno.test("all-to-all on normalised float embeddings: thresholds within f32 rounding, counts exact", async () => {
  const E = 64, n = 1501;
  const labels = randomLabels(n, 7);
  const x = floatEmbeddings(labels, E);
  const ref = bruteForce(x, labels, x, labels, E, true);
  const got = await scoreAllPairs(arraySource(x, E), labels, { fars: FARS, blockRows: 400 });
  assert.equal(got.positives, ref.pos.length);
  assert.equal(got.negatives, ref.neg.length);
  const tol = 1e-6; // f32 accumulation of 64 products of unit vectors vs float64
  for (const r of got.results) {
    const e = refAt(ref, r.far);
    const at = `FAR=${r.far} (seed ${SEED})`;
    assert.equal(r.k, e.k, at);
    if (e.k >= ref.neg.length) {
      assert.equal(r.threshold, -Infinity, at);
      assert.equal(r.acceptedNegatives, ref.neg.length, at);
      continue;
    }
    assert.ok(Math.abs(r.threshold - e.t) <= tol, `${at}: threshold ${r.threshold} vs ${e.t}`);
    // negatives/positives near t may fall either side only if they lie within the tolerance
    const nearNeg = ref.neg.filter((s) => Math.abs(s - e.t) <= 2 * tol).length;
    const nearPos = ref.pos.filter((s) => Math.abs(s - e.t) <= 2 * tol).length;
    assert.ok(Math.abs(r.acceptedNegatives - e.accepted) <= Math.max(0, nearNeg - 1), at);
    assert.ok(r.acceptedNegatives <= r.k, `${at}: accepted ≤ k`);
    assert.ok(Math.abs(r.acceptedPositives - e.tp) <= nearPos, `${at}: TAR`);
    if (nearPos === 0) {
      assert.equal((100 * r.tar).toFixed(4), (100 * e.tar).toFixed(4), `${at}: TAR %`);
    }
  }
});

Deno.test({
  name: "f16 inputs (shader-f16): exact for the f16-rounded embeddings, both modes",
  ignore: !gpu().features.f16,
  fn: async () => {
    const E = 24, nq = 211, ng = 300;
    const ql = randomLabels(nq, 3), gl = randomLabels(ng, 4);
    // small integers are exact in f16, so the f16 path must match brute force exactly
    const q = integerEmbeddings(ql, E), g = integerEmbeddings(gl, E);
    const opts = { fars: FARS, blockRows: 90, precision: "f16" as const };
    const cross = await scoreCrossPairs(arraySource(q, E), ql, arraySource(g, E), gl, opts);
    assertExact(cross, bruteForce(q, ql, g, gl, E, false), "cross f16");
    const all = await scoreAllPairs(arraySource(g, E), gl, { ...opts, colTiles: 2 });
    assertExact(all, bruteForce(g, gl, g, gl, E, true), "all f16");
  },
});

Deno.test("a set of identical embeddings: every negative ties, none is accepted below FAR 1", async () => {
  const E = 8, n = 130;
  const labels = Int32Array.from({ length: n }, (_, i) => i % 10);
  const x = new Float32Array(n * E).fill(0.25);
  const got = await scoreAllPairs(arraySource(x, E), labels, { fars: [0.01, 0.5, 1] });
  const [a, b, c] = got.results;
  assert.equal(a.threshold, 0.5);
  assert.equal(a.acceptedNegatives, 0);
  assert.equal(a.tar, 0);
  assert.equal(b.acceptedNegatives, 0);
  assert.equal(c.threshold, -Infinity);
  assert.equal(c.acceptedNegatives, got.negatives);
  assert.equal(c.tar, 1);
});
