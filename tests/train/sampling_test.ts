// Partial FC host bookkeeping: shard formulas, Python's int(rate · num_local), label
// remapping, sampling (positives kept, exact count, sorted, uniform negatives, all positives
// when they exceed the sample size) and its cost at 10⁶ classes.
import assert from "node:assert/strict";
import { checkLabels, ClassSampler, numSampleOf, shardOf } from "../../src/train/sampling.ts";

Deno.test("shards: num_local and class_start as the reference computes them", () => {
  assert.deepEqual([0, 1, 2].map((r) => shardOf(10, 3, r)), [
    { numLocal: 4, classStart: 0 },
    { numLocal: 3, classStart: 4 },
    { numLocal: 3, classStart: 7 },
  ]);
  assert.deepEqual(shardOf(93431, 8, 7), { numLocal: 11678, classStart: 81753 });
  assert.equal(numSampleOf(0.1, 10), 1); // 0.1·10 = 1.0000000000000002 in Python too
  assert.equal(numSampleOf(0.3, 10), 3);
  assert.equal(numSampleOf(0.29, 100), 28); // 0.29·100 = 28.999999999999996
});

Deno.test("labels outside [0, C) are named with their position and the range", () => {
  assert.throws(() => checkLabels([1, 2, 100], 100), /label 100 at position 2 .* \[0, 100\)/);
  assert.throws(() => checkLabels([1.5], 100), /label 1.5 at position 0/);
});

Deno.test("sampler: remap, positives kept, exact sorted count, uniform negatives", () => {
  const shard = { numLocal: 50, classStart: 100 };
  const s = new ClassSampler(shard, 0.2, 7);
  const counts = new Float64Array(50);
  const trials = 4000;
  for (let t = 0; t < trials; t++) {
    const { index, labels, count } = s.sample(Int32Array.from([103, 7, 149, 103, 160]));
    assert.equal(count, 10);
    assert.deepEqual(Array.from(labels).map((l) => (l < 0 ? -1 : index![l])), [3, -1, 49, 3, -1]);
    for (let i = 1; i < 10; i++) assert.ok(index![i] > index![i - 1]);
    for (const c of index!) counts[c]++;
  }
  assert.equal(counts[3], trials);
  assert.equal(counts[49], trials);
  // each of the 48 negatives is drawn with probability 8/48
  for (let c = 0; c < 50; c++) {
    if (c === 3 || c === 49) continue;
    const f = counts[c] / trials;
    assert.ok(Math.abs(f - 8 / 48) < 0.03, `negative ${c} drawn with frequency ${f}`);
  }
  // most negatives wanted (drawn as the complement): still exact, sorted, positives kept
  const most = new ClassSampler(shard, 0.9, 9);
  const left = new Float64Array(50);
  for (let t = 0; t < 2000; t++) {
    const { index } = most.sample(Int32Array.from([100, 120]));
    assert.equal(index!.length, 45);
    assert.ok(index!.includes(0) && index!.includes(20));
    for (let i = 1; i < 45; i++) assert.ok(index![i] > index![i - 1]);
    const set = new Set(index);
    for (let c = 0; c < 50; c++) if (!set.has(c)) left[c]++;
  }
  assert.equal(left[0] + left[20], 0);
  for (let c = 1; c < 50; c++) {
    if (c !== 20) assert.ok(Math.abs(left[c] / 2000 - 5 / 48) < 0.03, `left out ${c}`);
  }
  // more positives than the sample size: exactly the positives
  const few = new ClassSampler(shard, 0.05, 1); // int(2.5) = 2
  const r = few.sample(Int32Array.from([110, 120, 130, 110]));
  assert.deepEqual(Array.from(r.index!), [10, 20, 30]);
  assert.deepEqual(Array.from(r.labels), [0, 1, 2, 0]);
});

Deno.test("sampler cost at 10⁶ classes, rate 0.1, global batch 1024", () => {
  const s = new ClassSampler({ numLocal: 1_000_000, classStart: 0 }, 0.1, 3);
  const labels = Int32Array.from({ length: 1024 }, (_, i) => (i * 7919) % 1_000_000);
  s.sample(labels);
  const t0 = performance.now();
  for (let i = 0; i < 5; i++) assert.equal(s.sample(labels).count, 100_000);
  const ms = (performance.now() - t0) / 5;
  console.log(`sampling 10⁶ classes at rate 0.1: ${ms.toFixed(2)} ms per step`);
});
