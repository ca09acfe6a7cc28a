// GradSync over 3 in-process ranks: every rank's gradients become the element-wise mean (a
// missing gradient counts as zeros), and checkReplicas tells identical from diverged ranks.
import assert from "node:assert/strict";
import { createInProcessGroup } from "../../src/dist/inprocess.ts";
import { checkReplicas, GradSync } from "../../src/dist/grad_sync.ts";
import { Tensor } from "../../src/tensor/tensor.ts";
import { rand, SEED, setup } from "../util.ts";

await setup();

Deno.test("GradSync averages gradients over ranks; missing ones count as zeros", async () => {
  const W = 3, shapes = [[5, 3], [7], [2, 2, 2]];
  const grads = Array.from(
    { length: W },
    (_, r) =>
      shapes.map((s, i) =>
        r === 1 && i === 1 ? null : Float32Array.from({ length: s.reduce((a, b) => a * b) }, rand)
      ),
  );
  const group = createInProcessGroup(W);
  const out = await Promise.all(group.map(async (c) => {
    const params = shapes.map((s) => Tensor.full(s, 0));
    params.forEach((p, i) => {
      const g = grads[c.rank][i];
      p.grad = g ? Tensor.fromArray(g, shapes[i]) : null;
    });
    const sync = new GradSync(params, c);
    await sync.average();
    const r: number[][] = await Promise.all(
      params.map(async (p) => Array.from(await p.grad!.read())),
    );
    sync.dispose();
    for (const p of params) p.grad?.dispose(), p.dispose();
    return r;
  }));
  shapes.forEach((_, i) => {
    const n = out[0][i].length;
    for (let k = 0; k < n; k++) {
      let s = 0;
      for (let r = 0; r < W; r++) s = Math.fround(s + (grads[r][i]?.[k] ?? 0));
      const want = Math.fround(s * Math.fround(1 / W));
      for (let r = 0; r < W; r++) {
        assert.ok(
          Math.abs(out[r][i][k] - want) <= 1e-6 * Math.abs(want) + 1e-7,
          `param ${i}[${k}] rank ${r}: ${out[r][i][k]} vs ${want} (seed ${SEED})`,
        );
      }
    }
  });
});

Deno.test("checkReplicas passes identical ranks and names the diverged one", async () => {
  const group = createInProcessGroup(3);
  const values = Float32Array.from({ length: 10 }, rand);
  const hashes = await Promise.all(group.map((c) => {
    const p = Tensor.fromArray(values, [10]);
    return checkReplicas([p], c).finally(() => p.dispose());
  }));
  assert.equal(new Set(hashes).size, 1);
  const group2 = createInProcessGroup(3);
  const errs = await Promise.all(group2.map(async (c) => {
    const v = values.slice();
    if (c.rank === 2) v[7] = Math.fround(v[7] + 1e-3);
    const p = Tensor.fromArray(v, [10]);
    try {
      await checkReplicas([p], c);
      return "";
    } catch (e) {
      return (e as Error).message;
    } finally {
      p.dispose();
    }
  }));
  for (const e of errs) assert.match(e, /replicas diverged: the parameters of rank\(s\) 2 differ/);
});
