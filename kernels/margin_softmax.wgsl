// Fused combined-margin softmax cross-entropy over one chunk of cosine columns, in passes
// (PASS override). Rows are the global batch (B), columns this chunk's N sampled classes
// starting at column col0 of the rank's sampled set; labels are in that sampled space (−1: the
// row's class is elsewhere). The logit of a cosine c (clamped to [−1, 1]) is
//   target:     s·(cos(m1·acos(c) + m2) − m3)
//   non-target: s·c, or 0 when the filtering threshold t > 0 and c > t.
// The cosines are read in every pass and only the last pass overwrites them with the gradient
// of the loss with respect to the cosines, so no second B×N buffer is needed.
//   PASS 0: per-row maximum of the logits of this chunk → out[chunk·B + row]; non-finite
//           cosines set the guard flag (atomicMin with CODE).
//   PASS 1: per-row Σ exp(logit − max[row]) → out[chunk·B + row].
//   PASS 2: p = exp(logit − max)/sum; the target's p → out[row]; x ← (p − onehot)/B · dlogit/dc.
//   PASS 3: one invocation: out[0] = −mean(log(max(psum[row], 1e-30))) with psum in x.
//   PASS 4: out[row] = max (OP 0) or sum (OP 1) over chunks of x[chunk·B + row].
// TARGET 0: m1 = 1 and m2 = 0 (CosFace form c − m3); 1: m1 = 1 (c·cos m2 − sin θ·sin m2 − m3);
// 2: general (acos/cos). STRAIGHT: the target's dlogit/dc is s (margin as a constant offset).
override PASS: u32 = 0u;
override OP: u32 = 0u;
override TARGET: u32 = 0u;
override STRAIGHT: bool = false;

struct P {
  ox: u32, olab: u32, oa: u32, ob: u32, oout: u32, oflag: u32,
  B: u32, N: u32, col0: u32, chunk: u32, nchunks: u32, code: u32,
  s: f32, m1: f32, m2: f32, m3: f32, cosm2: f32, sinm2: f32, thr: f32, invB: f32,
}
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read_write> x: array<f32>;
@group(0) @binding(2) var<storage, read> lab: array<i32>;
@group(0) @binding(3) var<storage, read> ra: array<f32>;
@group(0) @binding(4) var<storage, read> rb: array<f32>;
@group(0) @binding(5) var<storage, read_write> out: array<f32>;
@group(0) @binding(6) var<storage, read_write> flag: array<atomic<u32>>;

const WG = 64u;
var<workgroup> sv: array<f32, WG>;
var<workgroup> bad: atomic<u32>;

fn nonfinite(v: f32) -> bool {
  return (bitcast<u32>(v) & 0x7f800000u) == 0x7f800000u;
}

fn sinTheta(c: f32) -> f32 {
  return sqrt(max(1.0 - c * c, 0.0));
}

// asin on [−0.5, 0.5] and acos on [−1, 1] to about 1 ulp (Cephes' single-precision
// polynomial), instead of the built-in acos whose precision adapters leave loose.
fn asinSmall(x: f32) -> f32 {
  let z = x * x;
  return ((((4.2163199048e-2 * z + 2.4181311049e-2) * z + 4.5470025998e-2) * z +
    7.4953002686e-2) * z + 1.6666752422e-1) * z * x + x;
}

fn acosPrecise(c: f32) -> f32 {
  if (abs(c) <= 0.5) { return 1.5707963267948966 - asinSmall(c); }
  let a = 2.0 * asinSmall(sqrt(0.5 * (1.0 - abs(c))));
  if (c > 0.0) { return a; }
  return 3.141592653589793 - a;
}

// cos(m1·θ + m2) − m3 for the clamped cosine c.
fn targetCos(c: f32) -> f32 {
  if (TARGET == 0u) { return c - p.m3; }
  if (TARGET == 1u) { return c * p.cosm2 - sinTheta(c) * p.sinm2 - p.m3; }
  return cos(p.m1 * acosPrecise(c) + p.m2) - p.m3;
}

// d targetCos / dc (θ's sine floored at 1e-6 where the derivative diverges, |c| = 1).
fn targetSlope(c: f32) -> f32 {
  if (TARGET == 0u || STRAIGHT) { return 1.0; }
  let st = max(sinTheta(c), 1e-6);
  if (TARGET == 1u) { return p.cosm2 + c * p.sinm2 / st; }
  return p.m1 * sin(p.m1 * acosPrecise(c) + p.m2) / st;
}

fn logitOf(raw: f32, isTgt: bool) -> f32 {
  let c = clamp(raw, -1.0, 1.0);
  if (isTgt) { return p.s * targetCos(c); }
  if (p.thr > 0.0 && c > p.thr) { return 0.0; }
  return p.s * c;
}

// dlogit/dc, including the clamp (zero outside [−1, 1]) and the filter (zero when filtered).
fn slopeOf(raw: f32, isTgt: bool) -> f32 {
  if (raw < -1.0 || raw > 1.0) { return 0.0; }
  if (isTgt) { return p.s * targetSlope(raw); }
  if (p.thr > 0.0 && raw > p.thr) { return 0.0; }
  return p.s;
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  let r = wid.x + wid.y * nwg.x;
  if (PASS == 3u) {
    if (r == 0u && lid == 0u) {
      var acc = 0.0;
      for (var i = 0u; i < p.B; i++) { acc += log(max(x[p.ox + i], 1e-30)); }
      let loss = -acc * p.invB;
      out[p.oout] = loss;
      if (nonfinite(loss)) { atomicMin(&flag[p.oflag], p.code); }
    }
    return;
  }
  if (PASS == 4u) {
    let i = r * WG + lid;
    if (i < p.B) {
      var v = x[p.ox + i];
      for (var k = 1u; k < p.nchunks; k++) {
        let e = x[p.ox + k * p.B + i];
        if (OP == 0u) { v = max(v, e); } else { v += e; }
      }
      out[p.oout + i] = v;
    }
    return;
  }
  if (r >= p.B) { return; }
  let base = p.ox + r * p.N;
  let label = lab[p.olab + r];
  let t = label - i32(p.col0); // target column within the chunk, if in [0, N)
  var acc = 0.0;
  if (PASS == 0u) {
    acc = -3.4028235e38;
    if (lid == 0u) { atomicStore(&bad, 0u); }
    workgroupBarrier();
    var anyBad = false;
    for (var j = lid; j < p.N; j += WG) {
      let raw = x[base + j];
      anyBad = anyBad || nonfinite(raw);
      acc = max(acc, logitOf(raw, i32(j) == t));
    }
    if (anyBad) { atomicStore(&bad, 1u); }
  } else if (PASS == 1u) {
    let mx = ra[p.oa + r];
    for (var j = lid; j < p.N; j += WG) {
      acc += exp(logitOf(x[base + j], i32(j) == t) - mx);
    }
  } else {
    let mx = ra[p.oa + r];
    let inv = 1.0 / rb[p.ob + r];
    for (var j = lid; j < p.N; j += WG) {
      let raw = x[base + j];
      let tgt = i32(j) == t;
      let pr = exp(logitOf(raw, tgt) - mx) * inv;
      var g = pr;
      if (tgt) {
        out[p.oout + r] = pr;
        g = pr - 1.0;
      }
      x[base + j] = g * p.invB * slopeOf(raw, tgt);
    }
    return;
  }
  sv[lid] = acc;
  workgroupBarrier();
  for (var st = WG / 2u; st > 0u; st >>= 1u) {
    if (lid < st) {
      if (PASS == 0u) { sv[lid] = max(sv[lid], sv[lid + st]); } else { sv[lid] += sv[lid + st]; }
    }
    workgroupBarrier();
  }
  if (lid == 0u) {
    out[p.oout + p.chunk * p.B + r] = sv[0];
    if (PASS == 0u && atomicLoad(&bad) != 0u) { atomicMin(&flag[p.oflag], p.code); }
  }
}
