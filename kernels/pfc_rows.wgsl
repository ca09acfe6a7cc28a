// Row normalisation for Partial FC, rows of E elements, f32.
// BACKWARD 0: y[j] = src[row] / max(‖src[row]‖, eps) with row = idx[j] when GATHER (sampled
//   class centres read straight from a weight chunk) or j; norms[j] = ‖src[row]‖; a non-finite
//   norm sets the guard flag (atomicMin with CODE).
// BACKWARD 1: in place on the gradient g (bound at `out`), given y and the norms:
//   g ← (g − y·(g·y)) / max(n, eps), or g / eps when n ≤ eps (PyTorch F.normalize's backward).
override BACKWARD: bool = false;
override GATHER: bool = false;

struct P { os: u32, oi: u32, oo: u32, on: u32, ofl: u32, n: u32, E: u32, eps: f32, code: u32 }
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read> idx: array<i32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;
@group(0) @binding(4) var<storage, read_write> nrm: array<f32>;
@group(0) @binding(5) var<storage, read_write> flag: array<atomic<u32>>;

// One invocation per row, no workgroup memory or barriers (a CPU adapter runs a workgroup's
// invocations as SIMD lanes of one thread, where barriers cost more than they save).
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let j = gid.x + gid.y * nwg.x * 64u;
  if (j >= p.n) { return; }
  var srow = j;
  if (GATHER && !BACKWARD) { srow = u32(idx[p.oi + j]); }
  let sb = p.os + srow * p.E;
  let ob = p.oo + j * p.E;
  var acc = 0.0;
  for (var c = 0u; c < p.E; c++) {
    let e = src[sb + c];
    if (BACKWARD) { acc += out[ob + c] * e; } else { acc += e * e; }
  }
  if (!BACKWARD) {
    let n = sqrt(acc);
    let d = max(n, p.eps);
    for (var c = 0u; c < p.E; c++) { out[ob + c] = src[sb + c] / d; }
    nrm[p.on + j] = n;
    if ((bitcast<u32>(n) & 0x7f800000u) == 0x7f800000u) { atomicMin(&flag[p.ofl], p.code); }
  } else {
    let n = nrm[p.on + j];
    let d = max(n, p.eps);
    var dot = 0.0;
    if (n > p.eps) { dot = acc; }
    for (var c = 0u; c < p.E; c++) {
      out[ob + c] = (out[ob + c] - src[sb + c] * dot) / d;
    }
  }
}
