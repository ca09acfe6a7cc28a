// The shared-memory collective between real processes (tests/dist/shm_worker.ts, one Deno
// process per rank, 64-element slots so most sizes cross several blocks): every operation's
// result recomputed here in the same rank order (bit-exact f32 sums), a rank that calls another
// operation, a rank that dies mid-job (the others fail naming it, no hang), attach errors, and
// no object left in /dev/shm.
import assert from "node:assert/strict";
import { ShmCollective } from "../../src/dist/shm_collective.ts";
import { SharedRegion } from "../../src/dist/shm.ts";
import { SEED } from "../util.ts";
import { rankData, SIZES } from "./shm_data.ts";

const WORKER = new URL("./shm_worker.ts", import.meta.url).pathname;
let jobs = 0;

interface Rank {
  code: number;
  out: string;
  err: string;
}

async function runJob(
  world: number,
  mode: string,
): Promise<{ ranks: Rank[]; name: string; ms: number }> {
  const name = `/arcface-test-${Deno.pid}-${jobs++}`;
  const t0 = performance.now();
  const procs = Array.from({ length: world }, (_, r) =>
    new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", WORKER, name, String(r), String(world), String(SEED), mode],
      stdout: "piped",
      stderr: "piped",
    }).spawn());
  const ranks = await Promise.all(procs.map(async (p) => {
    const o = await p.output();
    const dec = new TextDecoder();
    return { code: o.code, out: dec.decode(o.stdout), err: dec.decode(o.stderr) };
  }));
  return { ranks, name, ms: performance.now() - t0 };
}

function parse(r: Rank, rank: number): Record<string, number[]> {
  assert.equal(r.code, 0, `rank ${rank} exited ${r.code}: ${r.err}`);
  return JSON.parse(r.out.trim().split("\n").pop()!);
}

/** Element-wise f32 reduction in rank order, as the collective does. */
function reduce(parts: ArrayLike<number>[], op: "sum" | "max"): number[] {
  const acc = Array.from(parts[0]);
  for (let s = 1; s < parts.length; s++) {
    for (let i = 0; i < acc.length; i++) {
      acc[i] = op === "sum" ? Math.fround(acc[i] + parts[s][i]) : Math.max(acc[i], parts[s][i]);
    }
  }
  return acc;
}

function assertNoLeftover(name: string): void {
  assert.equal(SharedRegion.open(name, 0), null, `${name} left in /dev/shm`);
}

Deno.test("shared-memory collectives of GPU tensors over 3 processes match a recomputation", async () => {
  const W = 3;
  const { ranks, name } = await runJob(W, "ops");
  const res = ranks.map(parse);
  for (const n of SIZES) {
    const data = (tag: number, len: number, i32 = false) =>
      Array.from({ length: W }, (_, r) => rankData(SEED, r, tag, len, i32));
    const sum = reduce(data(n, n), "sum");
    const imax = reduce(data(50 + n, n, true), "max");
    const gather = data(100 + n, n).flatMap((a) => Array.from(a));
    const bigs = data(200 + n, n * W);
    const bcast = Array.from(rankData(SEED, 1, 300 + n, n));
    res.forEach((r, rank) => {
      const at = `n ${n}, rank ${rank} (seed ${SEED})`;
      assert.deepEqual(r[`sum${n}`], sum, `all-reduce sum, ${at}`);
      assert.deepEqual(r[`imax${n}`], imax, `all-reduce i32 max, ${at}`);
      assert.deepEqual(r[`gather${n}`], gather, `all-gather, ${at}`);
      const part = bigs.map((b) => b.subarray(rank * n, (rank + 1) * n));
      assert.deepEqual(r[`rssum${n}`], reduce(part, "sum"), `reduce-scatter, ${at}`);
      assert.deepEqual(r[`bcast${n}`], bcast, `broadcast from rank 1, ${at}`);
    });
  }
  assertNoLeftover(name);
});

for (const W of [2, 4]) {
  Deno.test(`shared-memory host collectives over ${W} processes`, async () => {
    const { ranks, name } = await runJob(W, "host");
    const res = ranks.map(parse);
    for (const n of SIZES) {
      const data = (tag: number, len: number, i32 = false) =>
        Array.from({ length: W }, (_, r) => rankData(SEED, r, tag, len, i32));
      const sum = reduce(data(n, n), "sum");
      const gather = data(100 + n, n, true).flatMap((a) => Array.from(a));
      const bigs = data(200 + n, n * W);
      const bcast = Array.from(rankData(SEED, W - 1, 300 + n, n));
      res.forEach((r, rank) => {
        const at = `n ${n}, rank ${rank} (seed ${SEED})`;
        assert.deepEqual(r[`sum${n}`], sum, `sum, ${at}`);
        assert.deepEqual(r[`gather${n}`], gather, `gather, ${at}`);
        const part = bigs.map((b) => b.subarray(rank * n, (rank + 1) * n));
        assert.deepEqual(r[`rsmax${n}`], reduce(part, "max"), `reduce-scatter max, ${at}`);
        assert.deepEqual(r[`bcast${n}`], bcast, `broadcast, ${at}`);
      });
    }
    assertNoLeftover(name);
  });
}

Deno.test("a rank calling another collective fails every rank, naming both calls", async () => {
  const { ranks, name } = await runJob(3, "mismatch");
  ranks.forEach((r, rank) => {
    assert.equal(r.code, 2, `rank ${rank}: ${r.err}`);
    assert.match(r.err, /allGatherHost\(10 elements\)/, `rank ${rank}: ${r.err}`);
    assert.match(r.err, /allReduce\(10 elements\)/, `rank ${rank}: ${r.err}`);
  });
  assertNoLeftover(name);
});

Deno.test("a rank that dies mid-job stops the others with its rank and pid, no hang", async () => {
  const { ranks, name, ms } = await runJob(3, "die");
  assert.equal(ranks[2].code, 3);
  for (const rank of [0, 1]) {
    assert.equal(ranks[rank].code, 2, `rank ${rank}: ${ranks[rank].err}`);
    assert.match(ranks[rank].err, /rank 2 \(pid \d+\) exited during collective #\d+/);
  }
  assert.ok(ms < 60_000, `took ${ms} ms`);
  assertNoLeftover(name);
});

Deno.test("attach errors: bad rank or world, missing ranks after the timeout", async () => {
  const name = `/arcface-test-${Deno.pid}-attach`;
  await assert.rejects(
    ShmCollective.connect({ name, rank: 2, world: 2 }),
    /rank 2 outside \[0, 2\)/,
  );
  await assert.rejects(
    ShmCollective.connect({ name, rank: 0, world: 0 }),
    /world 0 outside/,
  );
  await assert.rejects(
    ShmCollective.connect({ name: "no-slash", rank: 0, world: 1 }),
    /use "\/" followed by/,
  );
  await assert.rejects(
    ShmCollective.connect({ name, rank: 0, world: 3, attachTimeoutMs: 300, pollMs: 50 }),
    /ranks 1, 2 of 3 did not attach to "\/arcface-test-\d+-attach" within 0.3 s/,
  );
  assertNoLeftover(name);
  await assert.rejects(
    ShmCollective.connect({ name, rank: 1, world: 2, attachTimeoutMs: 200 }),
    /rank 0 did not create shared memory/,
  );
  const one = await ShmCollective.connect({ name, rank: 0, world: 1 });
  const a = Float32Array.from([1, 2, 3]);
  await one.allReduceHost(a);
  assert.deepEqual(Array.from(a), [1, 2, 3]);
  assert.deepEqual(Array.from(await one.allGatherHost(Int32Array.from([4, 5]))), [4, 5]);
  one.close();
  assertNoLeftover(name);
});
