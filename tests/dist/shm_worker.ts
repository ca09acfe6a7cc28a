// One rank of tests/dist/shm_collective_test.ts: a real process attached to the shared-memory
// collective. Usage: shm_worker.ts NAME RANK WORLD SEED MODE (ops | mismatch | die | host).
// Prints one JSON line of results (ops, host) or exits non-zero with the collective's error.
// With NAME = mpi:DIR (under mpirun, ops only) it takes the MPI collective instead, rank and
// world from MPI, and writes its line to DIR/rank<r>.json.
import type { Collective } from "../../src/dist/collective.ts";
import { MpiCollective } from "../../src/dist/mpi_collective.ts";
import { ShmCollective } from "../../src/dist/shm_collective.ts";
import { initGpu } from "../../src/gpu/device.ts";
import { Tensor } from "../../src/tensor/tensor.ts";
import { rankData, SIZES } from "./shm_data.ts";

const [name, rankS, worldS, seedS, mode] = Deno.args;
const seed = Number(seedS);
const mpiDir = name.startsWith("mpi:") ? name.slice(4) : null;
// 256-byte slots: 64 elements, so every size above 64 crosses slots
const shm = mpiDir ? null : await ShmCollective.connect({
  name,
  rank: Number(rankS),
  world: Number(worldS),
  slotBytes: 256,
  pollMs: 50,
});
const mpi = mpiDir ? new MpiCollective() : null;
const c: Collective = (shm ?? mpi)!;
const { rank, world } = c;
const emit = async (line: string) => {
  if (mpiDir) await Deno.writeTextFile(`${mpiDir}/rank${rank}.json`, line);
  else console.log(line);
};
try {
  if (mode === "host" && shm) {
    const out: Record<string, number[]> = {};
    for (const n of SIZES) {
      const a = rankData(seed, rank, n, n);
      await shm.allReduceHost(a, "sum");
      out[`sum${n}`] = Array.from(a);
      out[`gather${n}`] = Array.from(await c.allGatherHost(rankData(seed, rank, 100 + n, n, true)));
      const rs = await shm.reduceScatterHost(rankData(seed, rank, 200 + n, n * world), "max");
      out[`rsmax${n}`] = Array.from(rs);
      const b = rankData(seed, rank, 300 + n, n);
      await shm.broadcastHost(b, world - 1);
      out[`bcast${n}`] = Array.from(b);
      await c.barrier();
    }
    await emit(JSON.stringify(out));
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
    await emit(JSON.stringify(out));
  } else if (mode === "mismatch" && shm) {
    const a = rankData(seed, rank, 1, 10);
    if (rank === 1) await shm.allGatherHost(a);
    else await shm.allReduceHost(a);
  } else if (mode === "die" && shm) {
    await shm.allReduceHost(rankData(seed, rank, 1, 100));
    if (rank === world - 1) Deno.exit(3);
    await shm.allReduceHost(rankData(seed, rank, 2, 100));
    await shm.barrier();
  } else {
    throw new Error(`mode ${mode} is not for ${mpiDir ? "MPI" : "shared memory"}`);
  }
} catch (e) {
  console.error((e as Error).message);
  Deno.exit(2);
} finally {
  shm?.close();
  mpi?.close();
}
