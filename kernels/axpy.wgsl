// In place: o = beta*o + alpha*x (gradient accumulation, SGD-style updates). o and x have
// type T (f32 or f16); arithmetic in f32. When beta == 0, o is not read (poison-safe).
struct P { ox: u32, oo: u32, n: u32, alpha: f32, beta: f32 }
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> x: array<T>;
@group(0) @binding(2) var<storage, read_write> o: array<T>;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * 256u;
  if (i >= p.n) { return; }
  var r = p.alpha * f32(x[p.ox + i]);
  if (p.beta != 0.0) { r += p.beta * f32(o[p.oo + i]); }
  o[p.oo + i] = T(r);
}
