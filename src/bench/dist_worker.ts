/**
 * One rank of `deno task bench dist` (src/bench/dist.ts): attaches to the shared-memory
 * collective (or, with NAME = mpi under mpirun, the MPI one) and times `allReduceHost` (f32
 * sum) at each size, as dist_torch.py times gloo. Usage: dist_worker.ts NAME RANK WORLD SIZES
 * REPS_MS. Rank 0 prints one JSON line: {"n": ms per all-reduce (median of 5 samples)}.
 *
 * @module
 */
import { MpiCollective } from "../dist/mpi_collective.ts";
import { ShmCollective } from "../dist/shm_collective.ts";

const [name, rankS, worldS, sizes, repsMsS] = Deno.args;
const repsMs = Number(repsMsS);
const c = name === "mpi"
  ? new MpiCollective()
  : await ShmCollective.connect({ name, rank: Number(rankS), world: Number(worldS) });
const rank = c.rank;
const out: Record<string, number> = {};
for (const n of sizes.split(",").map(Number)) {
  const x = Float32Array.from({ length: n }, () => Math.random());
  for (let i = 0; i < 3; i++) await c.allReduceHost(x);
  let t0 = performance.now();
  await c.allReduceHost(x);
  const one = Float32Array.of(performance.now() - t0);
  // every rank runs the same number of calls
  if (c instanceof MpiCollective) await c.allReduceHost(one, "max");
  else await c.broadcastHost(one, 0);
  const reps = Math.max(1, Math.min(1000, Math.floor(repsMs / Math.max(one[0], 1e-3))));
  const times: number[] = [];
  for (let s = 0; s < 5; s++) {
    await c.barrier();
    t0 = performance.now();
    for (let r = 0; r < reps; r++) await c.allReduceHost(x);
    times.push((performance.now() - t0) / reps);
  }
  times.sort((a, b) => a - b);
  out[n] = times[2];
}
if (rank === 0) console.log(JSON.stringify(out));
c.close();
