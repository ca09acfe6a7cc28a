// Per-channel sums for the BatchNorm (+PReLU) backward, one workgroup per channel:
//   red[c] = Σ dz,  red[C + c] = Σ dz·x̂,  red[2C + c] = Σ dy·z·[z ≤ 0]  (PRELU only)
// where x̂ = (x − mean)·invstd, z = x̂·γ + β (recomputed, not saved) and dz = dy·PReLU'(z)
// (dz = dy without PRELU). f32 accumulation, blocked per image and per 8 images.
override HAS_W: bool = true;
override HAS_B: bool = true;
override PRELU: bool = false;

struct P { ox: u32, ody: u32, ost: u32, ow: u32, ob: u32, oa: u32, ored: u32, N: u32, C: u32, HW: u32 }
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> x: array<T>;
@group(0) @binding(2) var<storage, read> dy: array<T>;
@group(0) @binding(3) var<storage, read> st: array<f32>;
@group(0) @binding(4) var<storage, read> w: array<f32>;
@group(0) @binding(5) var<storage, read> b: array<f32>;
@group(0) @binding(6) var<storage, read> slope: array<f32>;
@group(0) @binding(7) var<storage, read_write> red: array<f32>;

const WG = 64u;
var<workgroup> s1: array<f32, WG>;
var<workgroup> s2: array<f32, WG>;
var<workgroup> s3: array<f32, WG>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let c = wid.x;
  let mean = st[p.ost + c];
  let inv = st[p.ost + p.C + c];
  var gw = 1.0;
  if (HAS_W) { gw = w[p.ow + c]; }
  var gb = 0.0;
  if (HAS_B) { gb = b[p.ob + c]; }
  var a = 0.0;
  if (PRELU) { a = slope[p.oa + c]; }
  // sums per image, added up in blocks of 8 images, then over blocks (as batchnorm_stats)
  var sd = 0.0;
  var sdx = 0.0;
  var sa = 0.0;
  for (var n0 = 0u; n0 < p.N; n0 += 8u) {
    var bd = 0.0;
    var bdx = 0.0;
    var ba = 0.0;
    for (var n = n0; n < min(n0 + 8u, p.N); n++) {
      let base = (n * p.C + c) * p.HW;
      var id = 0.0;
      var idx = 0.0;
      var ia = 0.0;
      for (var i = lid; i < p.HW; i += WG) {
        let xh = (f32(x[p.ox + base + i]) - mean) * inv;
        var d = f32(dy[p.ody + base + i]);
        if (PRELU) {
          let z = xh * gw + gb;
          if (z <= 0.0) {
            ia += d * z;
            d *= a;
          }
        }
        id += d;
        idx += d * xh;
      }
      bd += id;
      bdx += idx;
      ba += ia;
    }
    sd += bd;
    sdx += bdx;
    sa += ba;
  }
  s1[lid] = sd;
  s2[lid] = sdx;
  s3[lid] = sa;
  workgroupBarrier();
  for (var h = WG / 2u; h > 0u; h >>= 1u) {
    if (lid < h) {
      s1[lid] += s1[lid + h];
      s2[lid] += s2[lid + h];
      s3[lid] += s3[lid + h];
    }
    workgroupBarrier();
  }
  if (lid == 0u) {
    red[p.ored + c] = s1[0];
    red[p.ored + p.C + c] = s2[0];
    red[p.ored + 2u * p.C + c] = s3[0];
  }
}
