// BatchNorm statistics, one workgroup per channel c of an (N, C, HW) activation.
// TRAINING: batch mean and biased variance in one pass of sums shifted by a pilot mean
// (f32 accumulation, lanes combined by a tree): shift = the mean of 64 elements spread over the
// channel, then Σd and Σd² of d = x − shift give mean = shift + Σd/M and
// var = Σd²/M − (Σd/M)². Such a shifted variance loses ~log2(1 + (shift − mean)²/var) bits to
// cancellation: ~0 for the pilot (|shift − mean| ~ σ/8), but up to 7 bits for the old shift
// by the channel's first element, a zero-padded corner of a conv output that sits up to 9σ
// from the mean in mbf (invstd off by up to 6e-6). A true two-pass costs ~25% more time.
// Written to st = [mean(C), invstd(C)], and the running statistics updated in place as
// PyTorch does: rm ← (1−m)·rm + m·mean, rv ← (1−m)·rv + m·var·M/(M−1) (unbiased), M = N·HW.
// UPDATE false skips the update. Eval: st from the running statistics.
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
  // the pilot: one element per lane, spread over the channel, at varying pixels even when
  // M/64 is a multiple of HW (which would pick the same, e.g. corner, pixel each time)
  let M = p.N * p.HW;
  let step = M / WG;
  let k = select(lid % M, lid * step + (lid * 37u) % step, M >= WG);
  s1[lid] = f32(x[p.ox + ((k / p.HW) * p.C + c) * p.HW + k % p.HW]);
  workgroupBarrier();
  for (var h = WG / 2u; h > 0u; h >>= 1u) {
    if (lid < h) { s1[lid] += s1[lid + h]; }
    workgroupBarrier();
  }
  let shift = s1[0] / f32(WG);
  workgroupBarrier();
  // sums per image, added up in blocks of 8 images, then over blocks: rounding grows with
  // HW/64 + 8 + N/8 terms in a row rather than N·HW/64
  var a = 0.0;
  var b = 0.0;
  for (var n0 = 0u; n0 < p.N; n0 += 8u) {
    var ba = 0.0;
    var bb = 0.0;
    for (var n = n0; n < min(n0 + 8u, p.N); n++) {
      let base = p.ox + (n * p.C + c) * p.HW;
      var ia = 0.0;
      var ib = 0.0;
      for (var i = lid; i < p.HW; i += WG) {
        let d = f32(x[base + i]) - shift;
        ia += d;
        ib += d * d;
      }
      ba += ia;
      bb += ib;
    }
    a += ba;
    b += bb;
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
    let Mf = f32(M);
    let m1 = s1[0] / Mf;
    let v = max(s2[0] / Mf - m1 * m1, 0.0);
    let mean = shift + m1;
    st[p.ost + c] = mean;
    st[p.ost + p.C + c] = inverseSqrt(v + p.eps);
    if (UPDATE) {
      rm[p.orm + c] = (1.0 - p.momentum) * rm[p.orm + c] + p.momentum * mean;
      rv[p.orv + c] = (1.0 - p.momentum) * rv[p.orv + c] + p.momentum * (v * Mf / (Mf - 1.0));
    }
  }
}
