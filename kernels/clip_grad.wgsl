// Global L2-norm gradient clipping (PyTorch clip_grad_norm_, norm_type 2), deterministic:
//   PASS 0: workgroup k sums the squares of its `span` elements of g → part[slot + k].
//   PASS 1 (one workgroup): norm = √Σ part; res = [norm, min(maxNorm / (norm + 1e-6), 1)].
//   PASS 2: g ← g · res[1].
override PASS: u32 = 0u;
struct P { og: u32, op: u32, or: u32, n: u32, span: u32, slot: u32, nparts: u32, maxNorm: f32 }
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read_write> g: array<f32>;
@group(0) @binding(2) var<storage, read_write> part: array<f32>;
@group(0) @binding(3) var<storage, read_write> res: array<f32>;

const WG = 256u;
var<workgroup> sv: array<f32, WG>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  let k = wid.x + wid.y * nwg.x;
  if (PASS == 2u) {
    let i = k * WG + lid;
    if (i < p.n) { g[p.og + i] = g[p.og + i] * res[p.or + 1u]; }
    return;
  }
  var acc = 0.0;
  if (PASS == 0u) {
    let start = k * p.span;
    let end = min(start + p.span, p.n);
    for (var i = start + lid; i < end; i += WG) {
      let v = g[p.og + i];
      acc += v * v;
    }
  } else {
    for (var i = lid; i < p.nparts; i += WG) { acc += part[p.op + i]; }
  }
  sv[lid] = acc;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (lid < s) { sv[lid] += sv[lid + s]; }
    workgroupBarrier();
  }
  if (lid == 0u) {
    if (PASS == 0u) {
      if (k * p.span < p.n) { part[p.op + p.slot + k] = sv[0]; }
    } else {
      let norm = sqrt(sv[0]);
      res[p.or] = norm;
      res[p.or + 1u] = min(p.maxNorm / (norm + 1e-6), 1.0);
    }
  }
}
