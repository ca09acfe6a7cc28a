// Gradient of a conv bias: db[k] = Σ_{n, pixel} dY[n, k, pixel]. One workgroup per channel,
// lanes stride over the pixels and combine in workgroup memory; f32 accumulation.
struct P { idy: u32, idb: u32, N: u32, K: u32, HW: u32 }
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> dy: array<T>;
@group(0) @binding(2) var<storage, read_write> db: array<T>;

const WG = 64u;
var<workgroup> s: array<f32, WG>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let k = wid.x;
  var a = 0.0;
  for (var n = 0u; n < p.N; n++) {
    let b = p.idy + (n * p.K + k) * p.HW;
    for (var i = lid; i < p.HW; i += WG) { a += f32(dy[b + i]); }
  }
  s[lid] = a;
  workgroupBarrier();
  for (var h = WG / 2u; h > 0u; h >>= 1u) {
    if (lid < h) { s[lid] += s[lid + h]; }
    workgroupBarrier();
  }
  if (lid == 0u) { db[p.idb + k] = T(s[0]); }
}
