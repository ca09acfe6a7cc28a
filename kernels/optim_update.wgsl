// One optimiser update in PyTorch semantics, elementwise over a parameter (dense) or over rows
// of a parameter chunk picked by idx (ROWS: gradient row j updates parameter and state row
// idx[j]; rows not listed are untouched). f32 master weights and state.
// KIND 0, SGD: d = g + wd·w; buf = d on the first step, else μ·buf + (1 − dampening)·d;
//   d = d + μ·buf (NESTEROV) or buf; w −= lr·d. (μ = 0: no buffer.)
// KIND 1, AdamW: w ← w·(1 − lr·wd); m ← β1·m + (1 − β1)·g; v ← β2·v + (1 − β2)·g²;
//   w −= lr/(1 − β1ᵗ) · m / (√v / √(1 − β2ᵗ) + eps).
// ctl = [t, skip] from the step's tick: nothing changes when skip ≠ 0 (a loss-scaler
// overflow); t counts the steps taken, so bias corrections follow PyTorch across skips.
override KIND: u32 = 0u;
override ROWS: bool = false;
override NESTEROV: bool = false;

struct P {
  ow: u32, og: u32, os1: u32, os2: u32, oi: u32, oc: u32,
  n: u32, E: u32,
  lr: f32, wd: f32, mom: f32, damp: f32, b1: f32, b2: f32, eps: f32, lnb1: f32, lnb2: f32,
}
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read_write> w: array<f32>;
@group(0) @binding(2) var<storage, read> g: array<f32>;
@group(0) @binding(3) var<storage, read_write> s1: array<f32>;
@group(0) @binding(4) var<storage, read_write> s2: array<f32>;
@group(0) @binding(5) var<storage, read> idx: array<i32>;
@group(0) @binding(6) var<storage, read> ctl: array<u32>;

// 1 − βᵗ = −expm1(t·ln β), accurate in f32 also when βᵗ is close to 1.
fn oneMinusPow(lnb: f32, t: f32) -> f32 {
  let x = t * lnb;
  if (abs(x) < 0.5) {
    var term = x;
    var sum = x;
    for (var k = 2.0; k < 12.0; k += 1.0) {
      term = term * x / k;
      sum += term;
    }
    return -sum;
  }
  return 1.0 - exp(x);
}

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let e = gid.x + gid.y * nwg.x * 256u;
  if (e >= p.n) { return; }
  if (ctl[p.oc + 1u] != 0u) { return; }
  let t = ctl[p.oc];
  var wi = e;
  if (ROWS) {
    let j = e / p.E;
    wi = u32(idx[p.oi + j]) * p.E + (e - j * p.E);
  }
  let grad = g[p.og + e];
  var wv = w[p.ow + wi];
  if (KIND == 0u) {
    var d = grad + p.wd * wv;
    if (p.mom != 0.0) {
      var buf = d;
      if (t > 1u) { buf = p.mom * s1[p.os1 + wi] + (1.0 - p.damp) * d; }
      s1[p.os1 + wi] = buf;
      if (NESTEROV) { d = d + p.mom * buf; } else { d = buf; }
    }
    wv = wv - p.lr * d;
  } else {
    wv = wv * (1.0 - p.lr * p.wd);
    let m = p.b1 * s1[p.os1 + wi] + (1.0 - p.b1) * grad;
    let v = p.b2 * s2[p.os2 + wi] + (1.0 - p.b2) * grad * grad;
    s1[p.os1 + wi] = m;
    s2[p.os2 + wi] = v;
    let tf = f32(t);
    let bc1 = oneMinusPow(p.lnb1, tf);
    let bc2 = oneMinusPow(p.lnb2, tf);
    let denom = sqrt(v) / sqrt(bc2) + p.eps;
    wv = wv - (p.lr / bc1) * (m / denom);
  }
  w[p.ow + wi] = wv;
}
