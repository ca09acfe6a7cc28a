// One rank of tests/dist/shm_collective_test.ts: a real process attached to the shared-memory
// collective. Usage: shm_worker.ts NAME RANK WORLD SEED MODE (ops | mismatch | die | host).
// Prints one JSON line of results (ops, host) or exits non-zero with the collective's error.
import { ShmCollective } from "../../src/dist/shm_collective.ts";
import { initGpu } from "../../src/gpu/device.ts";
import { Tensor } from "../../src/tensor/tensor.ts";
import { rankData, SIZES } from "./shm_data.ts";

const [name, rankS, worldS, seedS, mode] = Deno.args;
const rank = Number(rankS), world = Number(worldS), seed = Number(seedS);
// 256-byte slots: 64 elements, so every size above 64 crosses slots
const c = await ShmCollective.connect({ name, rank, world, slotBytes: 256, pollMs: 50 });
try {
  if (mode === "host") {
    const out: Record<string, number[]> = {};
    for (const n of SIZES) {
      const a = rankData(seed, rank, n, n);
      await c.allReduceHost(a, "sum");
      out[`sum${n}`] = Array.from(a);
      out[`gather${n}`] = Array.from(await c.allGatherHost(rankData(seed, rank, 100 + n, n, true)));
      const rs = await c.reduceScatterHost(rankData(seed, rank, 200 + n, n * world), "max");
      out[`rsmax${n}`] = Array.from(rs);
      const b = rankData(seed, rank, 300 + n, n);
      await c.broadcastHost(b, world - 1);
      out[`bcast${n}`] = Array.from(b);
      await c.barrier();
    }
    console.log(JSON.stringify(out));
  } else if (mode === "ops") {
    await initGpu();
    const out: Record<string, number[]> = {};
    for (const n of SIZES) {
      const t = Tensor.fromArray(rankData(seed, rank, n, n), [n]);
      await c.allReduce(t, "sum");
      out[`sum${n}`] = Array.from(await t.read());
      const m = Tensor.fromArray(rankData(seed, rank, 50 + n, n, true), [n], "i32");
      await c.allReduce(m, "max");
      out[`imax${n}`] = Array.from(await m.read());
      const x = Tensor.fromArray(rankData(seed, rank, 100 + n, n), [n]);
      const all = Tensor.empty([world * n]);
      await c.allGather(x, all);
      out[`gather${n}`] = Array.from(await all.read());
      const big = Tensor.fromArray(rankData(seed, rank, 200 + n, n * world), [world * n]);
      const mine = Tensor.empty([n]);
      await c.reduceScatter(big, mine, "sum");
      out[`rssum${n}`] = Array.from(await mine.read());
      const b = Tensor.fromArray(rankData(seed, rank, 300 + n, n), [n]);
      await c.broadcast(b, 1 % world);
      out[`bcast${n}`] = Array.from(await b.read());
      for (const u of [t, m, x, all, big, mine, b]) u.dispose();
    }
    console.log(JSON.stringify(out));
  } else if (mode === "mismatch") {
    const a = rankData(seed, rank, 1, 10);
    if (rank === 1) await c.allGatherHost(a);
    else await c.allReduceHost(a);
  } else if (mode === "die") {
    await c.allReduceHost(rankData(seed, rank, 1, 100));
    if (rank === world - 1) Deno.exit(3);
    await c.allReduceHost(rankData(seed, rank, 2, 100));
    await c.barrier();
  }
} catch (e) {
  console.error((e as Error).message);
  Deno.exit(2);
} finally {
  c.close();
}
