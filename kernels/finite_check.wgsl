// Non-finite guard: when any element of x is Inf or NaN, flag ← min(flag, code). Checks run
// in a step's execution order with increasing codes, so the flag names the first tensor that
// went non-finite. The flag starts at 0xffffffff.
struct P { ox: u32, ofl: u32, n: u32, code: u32 }
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> flag: array<atomic<u32>>;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * 256u;
  if (i >= p.n) { return; }
  if ((bitcast<u32>(x[p.ox + i]) & 0x7f800000u) == 0x7f800000u) {
    atomicMin(&flag[p.ofl], p.code);
  }
}
