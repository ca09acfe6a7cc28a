// Writes one stride phase of the backward-to-input pass, computed densely by the GEMM route
// into tmp [N·C, U, V], into dX through the output dilation of conv2d.ts's launch:
//   y[(nc·YH + u·OS + OFFY)·YW + v·OS + OFFX] = tmp[(nc·U + u)·V + v].
// One element per invocation; lanes run along v (contiguous reads, stride-OS writes).
struct P { it: u32, iy: u32, U: u32, V: u32, YH: u32, YW: u32, OS: u32, OFFY: u32, OFFX: u32,
           total: u32 }
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> tmp: array<T>;
@group(0) @binding(2) var<storage, read_write> y: array<T>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * 64u;
  if (i >= p.total) { return; }
  let v = i % p.V;
  let r = i / p.V;
  let u = r % p.U;
  let nc = r / p.U;
  y[p.iy + (nc * p.YH + u * p.OS + p.OFFY) * p.YW + v * p.OS + p.OFFX] = tmp[p.it + i];
}
