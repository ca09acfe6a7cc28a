// Elementwise unary ops with a type change: o = f(x), x of type X, o of type T (f32 or f16),
// arithmetic in f32. OP: 0 copy/cast, 1 scale (alpha*x + beta), 2 fill (beta).
override OP: u32 = 0u;

struct P { ox: u32, oo: u32, n: u32, alpha: f32, beta: f32 }
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> x: array<X>;
@group(0) @binding(2) var<storage, read_write> o: array<T>;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * 256u;
  if (i >= p.n) { return; }
  var r = 0.0;
  if (OP == 0u) { r = f32(x[p.ox + i]); }
  if (OP == 1u) { r = p.alpha * f32(x[p.ox + i]) + p.beta; }
  if (OP == 2u) { r = p.beta; }
  o[p.oo + i] = T(r);
}
