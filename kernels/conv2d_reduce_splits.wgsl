// Sums split partial weight gradients: out[i] = Σ_s parts[s·n + i], partials of type PT (f32
// from conv2d_wgrad, T from the GEMM route's image slots), accumulated in f32, output in T.
// One invocation per weight element.
struct P { ipart: u32, iout: u32, n: u32, splits: u32 }
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> parts: array<PT>;
@group(0) @binding(2) var<storage, read_write> out: array<T>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * 64u;
  if (i >= p.n) { return; }
  var s = 0.0;
  for (var k = 0u; k < p.splits; k++) { s += f32(parts[p.ipart + k * p.n + i]); }
  out[p.iout + i] = T(s);
}
