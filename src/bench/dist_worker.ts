/**
 * One rank of `deno task bench dist` (src/bench/dist.ts): attaches to the shared-memory
 * collective and times `allReduceHost` (f32 sum) at each size, as dist_torch.py times gloo.
 * Usage: dist_worker.ts NAME RANK WORLD SIZES REPS_MS. Rank 0 prints one JSON line:
 * {"n": ms per all-reduce (median of 5 samples)}.
 *
 * @module
 */
import { ShmCollective } from "../dist/shm_collective.ts";

const [name, rankS, worldS, sizes, repsMsS] = Deno.args;
const rank = Number(rankS), world = Number(worldS), repsMs = Number(repsMsS);
const c = await ShmCollective.connect({ name, rank, world });
const out: Record<string, number> = {};
for (const n of sizes.split(",").map(Number)) {
  const x = Float32Array.from({ length: n }, () => Math.random());
  for (let i = 0; i < 3; i++) await c.allReduceHost(x);
  let t0 = performance.now();
  await c.allReduceHost(x);
  const one = Float32Array.of(performance.now() - t0);
  await c.broadcastHost(one, 0); // every rank runs the same number of calls
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
