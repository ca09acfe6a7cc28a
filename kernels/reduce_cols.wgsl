// Reduces each column of an R×C matrix to one value: OP 0 sum, 1 mean, 2 max (also writes the
// first row index of the maximum), 3 L2 norm. One invocation per column walking down the rows,
// so neighbouring invocations read neighbouring addresses. Accumulation in f32.
override OP: u32 = 0u;

struct P { ox: u32, oo: u32, oi: u32, R: u32, C: u32 }
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> x: array<T>;
@group(0) @binding(2) var<storage, read_write> o: array<T>;
@group(0) @binding(3) var<storage, read_write> idx: array<i32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let c = gid.x + gid.y * nwg.x * 64u;
  if (c >= p.C) { return; }
  var v = 0.0;
  var vi = 0u;
  if (OP == 2u) { v = f32(x[p.ox + c]); }
  for (var r = 0u; r < p.R; r++) {
    let e = f32(x[p.ox + r * p.C + c]);
    if (OP == 2u) {
      if (e > v) { v = e; vi = r; }
    } else if (OP == 3u) { v += e * e; } else { v += e; }
  }
  if (OP == 1u) { v = v / f32(p.R); }
  if (OP == 3u) { v = sqrt(v); }
  o[p.oo + c] = T(v);
  if (OP == 2u) { idx[p.oi + c] = i32(vi); }
}
