// out[i, :] = src[idx[i], :] for rows of C elements (index_select along dim 0).
// Indices are validated on the host before upload; here they are clamped only as a guard.
struct P { os: u32, oi: u32, oo: u32, n: u32, C: u32, R: u32 }
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> src: array<T>;
@group(0) @binding(2) var<storage, read> idx: array<i32>;
@group(0) @binding(3) var<storage, read_write> o: array<T>;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let e = gid.x + gid.y * nwg.x * 256u;
  if (e >= p.n * p.C) { return; }
  let i = e / p.C;
  let c = e - i * p.C;
  let r = min(u32(max(idx[p.oi + i], 0)), p.R - 1u);
  o[p.oo + e] = src[p.os + r * p.C + c];
}
