// BatchNorm statistics, one workgroup per channel c of an (N, C, HW) activation.
// TRAINING: batch mean and biased variance (one pass of shifted sums, shift = the channel's
// first element, f32 accumulation), written to st = [mean(C), invstd(C)], and the running
// statistics updated in place as PyTorch does: rm ← (1−m)·rm + m·mean,
// rv ← (1−m)·rv + m·var·M/(M−1) (unbiased), M = N·HW. UPDATE false skips the update.
// Eval: st from the running statistics.
override TRAINING: bool = true;
override UPDATE: bool = true;

struct P { ox: u32, orm: u32, orv: u32, ost: u32, N: u32, C: u32, HW: u32, eps: f32, momentum: f32 }
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> x: array<T>;
@group(0) @binding(2) var<storage, read_write> rm: array<f32>;
@group(0) @binding(3) var<storage, read_write> rv: array<f32>;
@group(0) @binding(4) var<storage, read_write> st: array<f32>;

const WG = 64u;
var<workgroup> s1: array<f32, WG>;
var<workgroup> s2: array<f32, WG>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let c = wid.x;
  if (!TRAINING) {
    if (lid == 0u) {
      st[p.ost + c] = rm[p.orm + c];
      st[p.ost + p.C + c] = inverseSqrt(rv[p.orv + c] + p.eps);
    }
    return;
  }
  let shift = f32(x[p.ox + c * p.HW]);
  var a = 0.0;
  var b = 0.0;
  for (var n = 0u; n < p.N; n++) {
    let base = p.ox + (n * p.C + c) * p.HW;
    for (var i = lid; i < p.HW; i += WG) {
      let d = f32(x[base + i]) - shift;
      a += d;
      b += d * d;
    }
  }
  s1[lid] = a;
  s2[lid] = b;
  workgroupBarrier();
  for (var h = WG / 2u; h > 0u; h >>= 1u) {
    if (lid < h) {
      s1[lid] += s1[lid + h];
      s2[lid] += s2[lid + h];
    }
    workgroupBarrier();
  }
  if (lid == 0u) {
    let M = f32(p.N * p.HW);
    let m1 = s1[0] / M;
    let v = max(s2[0] / M - m1 * m1, 0.0);
    let mean = shift + m1;
    st[p.ost + c] = mean;
    st[p.ost + p.C + c] = inverseSqrt(v + p.eps);
    if (UPDATE) {
      rm[p.orm + c] = (1.0 - p.momentum) * rm[p.orm + c] + p.momentum * mean;
      rv[p.orv + c] = (1.0 - p.momentum) * rv[p.orv + c] + p.momentum * (v * M / (M - 1.0));
    }
  }
}
