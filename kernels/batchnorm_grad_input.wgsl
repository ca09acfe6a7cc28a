// Gradient of BatchNorm (+PReLU) with respect to its input, elementwise (grid as the apply
// kernel), from the per-channel sums of batchnorm_grad_reduce (red):
//   TRAINING: dx = γ·invstd·(dz − (Σdz + x̂·Σdz·x̂)/M)     (through the batch statistics)
//   eval:     dx = γ·invstd·dz
// with dz = dy·PReLU'(z), z = x̂·γ + β recomputed.
override HAS_W: bool = true;
override HAS_B: bool = true;
override PRELU: bool = false;
override TRAINING: bool = true;

struct P { ox: u32, ody: u32, ost: u32, ow: u32, ob: u32, oa: u32, ored: u32, odx: u32,
           C: u32, HW: u32, M: f32 }
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> x: array<T>;
@group(0) @binding(2) var<storage, read> dy: array<T>;
@group(0) @binding(3) var<storage, read> st: array<f32>;
@group(0) @binding(4) var<storage, read> w: array<f32>;
@group(0) @binding(5) var<storage, read> b: array<f32>;
@group(0) @binding(6) var<storage, read> slope: array<f32>;
@group(0) @binding(7) var<storage, read> red: array<f32>;
@group(0) @binding(8) var<storage, read_write> dx: array<T>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let c = wid.y;
  let n = wid.z;
  let mean = st[p.ost + c];
  let inv = st[p.ost + p.C + c];
  var gw = 1.0;
  if (HAS_W) { gw = w[p.ow + c]; }
  var gb = 0.0;
  if (HAS_B) { gb = b[p.ob + c]; }
  var a = 0.0;
  if (PRELU) { a = slope[p.oa + c]; }
  var k1 = 0.0;
  var k2 = 0.0;
  if (TRAINING) {
    k1 = red[p.ored + c] / p.M;
    k2 = red[p.ored + p.C + c] / p.M;
  }
  let g = gw * inv;
  let base = (n * p.C + c) * p.HW;
  for (var j = 0u; j < 4u; j++) {
    let i = wid.x * 256u + j * 64u + lid;
    if (i < p.HW) {
      let xh = (f32(x[p.ox + base + i]) - mean) * inv;
      var d = f32(dy[p.ody + base + i]);
      if (PRELU) {
        if (xh * gw + gb <= 0.0) { d *= a; }
      }
      dx[p.odx + base + i] = T(g * (d - k1 - xh * k2));
    }
  }
}
