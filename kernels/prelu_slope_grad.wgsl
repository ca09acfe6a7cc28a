// Gradient of the PReLU slopes: da[c] = Σ_{n, pixel} dy·x·[x ≤ 0]. One workgroup per channel,
// lanes stride over the pixels and combine in workgroup memory; f32 accumulation, blocked
// per image and per 8 images.
struct P { ox: u32, og: u32, oda: u32, N: u32, C: u32, HW: u32 }
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> x: array<T>;
@group(0) @binding(2) var<storage, read> g: array<T>;
@group(0) @binding(3) var<storage, read_write> da: array<f32>;

const WG = 64u;
var<workgroup> s: array<f32, WG>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let c = wid.x;
  // sums per image, added up in blocks of 8 images, then over blocks (as batchnorm_fwd)
  var acc = 0.0;
  for (var n0 = 0u; n0 < p.N; n0 += 8u) {
    var blk = 0.0;
    for (var n = n0; n < min(n0 + 8u, p.N); n++) {
      let base = (n * p.C + c) * p.HW;
      var img = 0.0;
      for (var i = lid; i < p.HW; i += WG) {
        let v = f32(x[p.ox + base + i]);
        if (v <= 0.0) { img += v * f32(g[p.og + base + i]); }
      }
      blk += img;
    }
    acc += blk;
  }
  s[lid] = acc;
  workgroupBarrier();
  for (var h = WG / 2u; h > 0u; h >>= 1u) {
    if (lid < h) { s[lid] += s[lid + h]; }
    workgroupBarrier();
  }
  if (lid == 0u) { da[p.oda + c] = s[0]; }
}
