// Deterministic per-rank inputs shared by shm_worker.ts and shm_collective_test.ts: both sides
// generate the same arrays from (seed, rank, tag), so the test recomputes every expected result.

/** `n` values in [-8, 8) with 1/64 steps (f32) or integers in [-1000, 1000) (i32). */
export function rankData(seed: number, rank: number, tag: number, n: number, i32 = false) {
  let s = (seed ^ (rank + 1) * 0x9e3779b1 ^ (tag + 7) * 0x85ebca6b) >>> 0 || 1;
  const next = () => {
    s ^= s << 13, s >>>= 0, s ^= s >>> 17, s ^= s << 5, s >>>= 0;
    return s / 4294967296;
  };
  if (i32) return Int32Array.from({ length: n }, () => Math.floor(next() * 2000) - 1000);
  return Float32Array.from({ length: n }, () => Math.floor(next() * 1024) / 64 - 8 + next() / 3);
}

/** The sizes each collective runs at: within a slot, across several slots, ragged. */
export const SIZES = [1, 5, 64, 1000, 4099];
