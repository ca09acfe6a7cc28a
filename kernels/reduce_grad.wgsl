// Gradient of a row (AXIS 1) or column (AXIS 0) reduction of an R×C matrix x:
// dx[r,c] = g[k] · (OP 0 sum: 1; 1 mean: 1/n; 2 max: [index of max == position];
// 3 L2 norm: x[r,c] / norm[k] (0 where the norm is 0)), with k = r (AXIS 1) or c (AXIS 0).
override OP: u32 = 0u;
override AXIS: u32 = 1u;

struct P { og: u32, ox: u32, oy: u32, oi: u32, od: u32, R: u32, C: u32 }
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> g: array<T>;
@group(0) @binding(2) var<storage, read> x: array<T>;
@group(0) @binding(3) var<storage, read> y: array<T>;
@group(0) @binding(4) var<storage, read> idx: array<i32>;
@group(0) @binding(5) var<storage, read_write> dx: array<T>;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * 256u;
  if (i >= p.R * p.C) { return; }
  let r = i / p.C;
  let c = i - r * p.C;
  var k = r;
  var pos = c;
  var n = p.C;
  if (AXIS == 0u) { k = c; pos = r; n = p.R; }
  let gk = f32(g[p.og + k]);
  var v = gk;
  if (OP == 1u) { v = gk / f32(n); }
  if (OP == 2u) { v = select(0.0, gk, u32(idx[p.oi + k]) == pos); }
  if (OP == 3u) {
    let nrm = f32(y[p.oy + k]);
    v = select(0.0, gk * f32(x[p.ox + i]) / nrm, nrm > 0.0);
  }
  dx[p.od + i] = T(v);
}
