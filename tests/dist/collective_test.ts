// Collectives: a world of one and in-process virtual ranks (concurrent async tasks sharing the
// GPU): all-reduce sum/max, all-gather, reduce-scatter, broadcast, barrier, host all-gather,
// and the errors for mismatched calls and ranks that never arrive.
import assert from "node:assert/strict";
import type { Collective } from "../../src/dist/collective.ts";
import { createInProcessGroup } from "../../src/dist/inprocess.ts";
import { SingleCollective } from "../../src/dist/single.ts";
import { Tensor } from "../../src/tensor/tensor.ts";
import { setup } from "../util.ts";

await setup();

const W = 3;

/** Runs `fn` on every rank concurrently. */
function onAll<R>(group: Collective[], fn: (c: Collective) => Promise<R>): Promise<R[]> {
  return Promise.all(group.map(fn));
}

Deno.test("in-process all-reduce sum and max (f32, i32) over 3 ranks", async () => {
  const group = createInProcessGroup(W);
  const out = await onAll(group, async (c) => {
    const t = Tensor.fromArray([c.rank, -c.rank, 10 * c.rank + 1], [3]);
    const m = Tensor.fromArray(new Int32Array([c.rank, 5 - c.rank]), [2], "i32");
    await c.allReduce(t, "sum");
    await c.allReduce(m, "max");
    const r = [Array.from(await t.read()), Array.from(await m.read())];
    t.dispose();
    m.dispose();
    return r;
  });
  for (const [s, m] of out) {
    assert.deepEqual(s, [3, -3, 33]);
    assert.deepEqual(m, [2, 5]);
  }
});

Deno.test("in-process all-gather, reduce-scatter, broadcast, barrier, host all-gather", async () => {
  const group = createInProcessGroup(W);
  const out = await onAll(group, async (c) => {
    const x = Tensor.fromArray([c.rank, c.rank + 0.5], [1, 2]);
    const all = Tensor.empty([W, 2]);
    await c.allGather(x, all);
    const big = Tensor.fromArray(Array.from({ length: 2 * W }, (_, i) => i * (c.rank + 1)), [W, 2]);
    const mine = Tensor.empty([1, 2]);
    await c.reduceScatter(big, mine);
    const b = Tensor.fromArray([c.rank * 7], [1]);
    await c.broadcast(b, 2);
    await c.barrier();
    const labels = await c.allGatherHost(Int32Array.from([c.rank, c.rank * 10]));
    const r = {
      all: Array.from(await all.read()),
      mine: Array.from(await mine.read()),
      b: (await b.read())[0],
      labels: Array.from(labels),
    };
    for (const t of [x, all, big, mine, b]) t.dispose();
    return r;
  });
  out.forEach((r, rank) => {
    assert.deepEqual(r.all, [0, 0.5, 1, 1.5, 2, 2.5]);
    // Σ over ranks (r+1)·i = 6·i for i = 2·rank, 2·rank+1
    assert.deepEqual(r.mine, [6 * 2 * rank, 6 * (2 * rank + 1)]);
    assert.equal(r.b, 14);
    assert.deepEqual(r.labels, [0, 0, 1, 10, 2, 20]);
  });
});

Deno.test("in-process: mismatched calls and absent ranks fail with a clear message", async () => {
  const g2 = createInProcessGroup(2);
  const t = [Tensor.fromArray([1], [1]), Tensor.fromArray([2], [1])];
  const results = await Promise.allSettled([g2[0].allReduce(t[0], "sum"), g2[1].barrier()]);
  assert.ok(results.some((r) => r.status === "rejected" && /called/.test(String(r.reason))));
  const lonely = createInProcessGroup(2, { timeoutMs: 100 });
  await assert.rejects(() => lonely[0].barrier(), /rank\(s\) 1 never arrived/);
  for (const x of t) x.dispose();
});

Deno.test("world of one: reductions are identities, gathers copy", async () => {
  const c = new SingleCollective();
  const t = Tensor.fromArray([1, 2], [2]);
  await c.allReduce(t, "max");
  const o = Tensor.empty([2]);
  await c.allGather(t, o);
  const r = Tensor.empty([2]);
  await c.reduceScatter(o, r);
  await c.broadcast(r);
  await c.barrier();
  assert.deepEqual(Array.from(await r.read()), [1, 2]);
  assert.deepEqual(Array.from(await c.allGatherHost(Int32Array.from([4]))), [4]);
  assert.throws(() => c.allGather(t, Tensor.empty([3])), /must hold 1 × input/);
  for (const x of [t, o, r]) x.dispose();
});
