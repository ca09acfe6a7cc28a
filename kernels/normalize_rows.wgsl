// L2-normalises each row of an R×C matrix as PyTorch's F.normalize: y = x / max(‖x‖, eps).
// BACKWARD 0: y and the row norms n. BACKWARD 1: dx = (g − y·(g·y)) / max(n, eps), with y
// recomputed from x (when ‖x‖ < eps the denominator is eps and no projection applies).
// One workgroup per row; f32 accumulation.
override BACKWARD: bool = false;

struct P { ox: u32, og: u32, oy: u32, on: u32, R: u32, C: u32, eps: f32 }
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> x: array<T>;
@group(0) @binding(2) var<storage, read> g: array<T>;
@group(0) @binding(3) var<storage, read_write> y: array<T>;
@group(0) @binding(4) var<storage, read_write> nrm: array<f32>;

const WG = 64u;
var<workgroup> s1: array<f32, WG>;
var<workgroup> s2: array<f32, WG>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  let r = wid.x + wid.y * nwg.x;
  if (r >= p.R) { return; }
  let base = r * p.C;
  var ss = 0.0;
  var gx = 0.0;
  for (var c = lid; c < p.C; c += WG) {
    let e = f32(x[p.ox + base + c]);
    ss += e * e;
    if (BACKWARD) { gx += f32(g[p.og + base + c]) * e; }
  }
  s1[lid] = ss;
  s2[lid] = gx;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (lid < s) {
      s1[lid] += s1[lid + s];
      s2[lid] += s2[lid + s];
    }
    workgroupBarrier();
  }
  let n = sqrt(s1[0]);
  let d = max(n, p.eps);
  if (!BACKWARD) {
    for (var c = lid; c < p.C; c += WG) {
      y[p.oy + base + c] = T(f32(x[p.ox + base + c]) / d);
    }
    if (lid == 0u) { nrm[p.on + r] = n; }
  } else {
    // g·y = (g·x)/d; dx = g/d − y (g·y)/d when n > eps, else g/eps.
    var proj = 0.0;
    if (n > p.eps) { proj = s2[0] / (d * d * d); }
    for (var c = lid; c < p.C; c += WG) {
      let e = f32(x[p.ox + base + c]);
      y[p.oy + base + c] = T(f32(g[p.og + base + c]) / d - e * proj);
    }
  }
}
