// Activation checkpointing (the r2060 option, available on any stage of any backbone): the
// recomputed backward gives the same gradients as the stored one, running statistics are
// updated once, and less memory stays live between forward and backward.
import assert from "node:assert/strict";
import { createBackbone } from "../../src/nn/backbones/mod.ts";
import { backward, mul, sumAll, Tensor, tidy } from "../../src/tensor/mod.ts";
import { randn, setup } from "../util.ts";

const g = await setup();

async function run(checkpointStages: number[]) {
  const net = createBackbone("toy", { seed: 11, embeddingSize: 16, checkpointStages });
  const x = Tensor.fromArray(randnFixed, [2, 3, 112, 112]);
  const c = Tensor.fromArray(cFixed, [2, 16]);
  const before = g.allocator.stats.liveBytes;
  const emb = tidy(() => net.call(x));
  const held = g.allocator.stats.liveBytes - before;
  backward(tidy(() => sumAll(mul(emb, c))));
  const grads = new Map<string, Float32Array>();
  for (const [n, p] of net.namedParameters()) if (p.grad) grads.set(n, await p.grad.readFloat());
  const state = await net.stateDict();
  return { grads, state, held };
}
const randnFixed = randn(2 * 3 * 112 * 112);
const cFixed = randn(32);

Deno.test("checkpointed stages give the same gradients and statistics, holding less", async () => {
  const plain = await run([]);
  const ck = await run([0, 1, 2]);
  assert.equal(ck.grads.size, plain.grads.size);
  for (const [n, v] of plain.grads) {
    assert.deepEqual(Array.from(ck.grads.get(n)!), Array.from(v), `gradient of ${n}`);
  }
  for (const [k, v] of plain.state) {
    assert.deepEqual(
      Array.from(ck.state.get(k)!.data as Float32Array),
      Array.from(v.data as Float32Array),
      k,
    );
  }
  assert.equal(Number((ck.state.get("layer1.1.num_batches_tracked")!.data as BigInt64Array)[0]), 1);
  assert.ok(
    ck.held < plain.held,
    `checkpointed forward holds ${ck.held} bytes, plain ${plain.held}`,
  );
});

Deno.test("checkpointStages names a stage that does not exist", () => {
  assert.throws(() => createBackbone("toy", { checkpointStages: [7] }), /toy has no stage 7/);
});
