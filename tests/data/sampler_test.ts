import assert from "node:assert/strict";
import { DistributedSampler } from "../../src/data/sampler.ts";

Deno.test("ranks take disjoint shards covering the dataset; padding wraps around", () => {
  const n = 103, world = 4;
  const shards = Array.from(
    { length: world },
    (_, r) => new DistributedSampler({ length: n, rank: r, worldSize: world, seed: 5 }).indices(0),
  );
  for (const s of shards) assert.equal(s.length, 26);
  const all = shards.flatMap((s) => [...s]);
  assert.equal(all.length, 104);
  assert.equal(new Set(all).size, n); // every index, one repeated as padding
});

Deno.test("drop_last trims to a multiple of the world size with no repeats", () => {
  const n = 103, world = 4;
  const shards = Array.from(
    { length: world },
    (_, r) =>
      new DistributedSampler({ length: n, rank: r, worldSize: world, dropLast: true }).indices(2),
  );
  const all = shards.flatMap((s) => [...s]);
  assert.equal(all.length, 100);
  assert.equal(new Set(all).size, 100);
});

Deno.test("seeded per-epoch shuffles: same seed+epoch → same order, new epoch → new order", () => {
  const a = new DistributedSampler({ length: 1000, seed: 1 });
  const b = new DistributedSampler({ length: 1000, seed: 1 });
  assert.deepEqual(a.indices(3), b.indices(3));
  assert.notDeepEqual([...a.indices(3)], [...a.indices(4)]);
  assert.notDeepEqual(
    [...a.indices(0)],
    [...new DistributedSampler({ length: 1000, seed: 2 }).indices(0)],
  );
  const plain = new DistributedSampler({ length: 10, shuffle: false, rank: 1, worldSize: 2 });
  assert.deepEqual([...plain.indices(0)], [1, 3, 5, 7, 9]);
});

Deno.test("state resumes mid-epoch", () => {
  const s = new DistributedSampler({ length: 50, seed: 9 });
  s.setEpoch(2);
  s.advance(20);
  const saved = s.state();
  assert.deepEqual(saved, { epoch: 2, position: 20 });
  const t = new DistributedSampler({ length: 50, seed: 9 });
  t.restore(saved);
  assert.deepEqual(t.state(), saved);
  assert.deepEqual(t.indices(t.state().epoch), s.indices(2));
  assert.throws(() => t.restore({ epoch: -1, position: 0 }), /bad sampler state/);
});
