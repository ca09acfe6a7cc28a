// Elementwise binary ops on same-shape tensors: o = x + y, x * y, or alpha*x + beta*y.
// Type alias T (f32 or f16) comes from the dtype header; arithmetic is in f32.
// OP: 0 add, 1 mul, 2 linear combination alpha*x + beta*y, 3 sub.
override OP: u32 = 0u;

struct P { ox: u32, oy: u32, oo: u32, n: u32, alpha: f32, beta: f32 }
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> x: array<T>;
@group(0) @binding(2) var<storage, read> y: array<T>;
@group(0) @binding(3) var<storage, read_write> o: array<T>;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * 256u;
  if (i >= p.n) { return; }
  let a = f32(x[p.ox + i]);
  let b = f32(y[p.oy + i]);
  var r = a + b;
  if (OP == 1u) { r = a * b; }
  if (OP == 2u) { r = p.alpha * a + p.beta * b; }
  if (OP == 3u) { r = a - b; }
  o[p.oo + i] = T(r);
}
