// Deterministic index_add along dim 0: out[dst[u], :] = beta·out[dst[u], :] + Σ src[j, :] over
// the source rows j of segment u (rows that share a destination are summed in index order,
// no atomics). The host builds the segments: plan = [dst (U) | start (U+1) | order (n)].
struct P { os: u32, op: u32, oo: u32, U: u32, C: u32, beta: f32 }
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> src: array<T>;
@group(0) @binding(2) var<storage, read> plan: array<i32>;
@group(0) @binding(3) var<storage, read_write> o: array<T>;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let e = gid.x + gid.y * nwg.x * 256u;
  if (e >= p.U * p.C) { return; }
  let u = e / p.C;
  let c = e - u * p.C;
  let d = u32(plan[p.op + u]);
  let s0 = u32(plan[p.op + p.U + u]);
  let s1 = u32(plan[p.op + p.U + u + 1u]);
  var acc = 0.0;
  for (var j = s0; j < s1; j++) {
    let row = u32(plan[p.op + 2u * p.U + 1u + j]);
    acc += f32(src[p.os + row * p.C + c]);
  }
  let oi = p.oo + d * p.C + c;
  if (p.beta != 0.0) { acc += p.beta * f32(o[oi]); }
  o[oi] = T(acc);
}
