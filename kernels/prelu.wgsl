// PReLU with one slope per channel (dim 1) of an (N, C, HW) tensor. Grid: (pixel chunks of
// 256, C, N), 4 pixels per lane 64 apart, slope uniform per workgroup.
//   BACKWARD false: y = x > 0 ? x : a_c·x
//   BACKWARD true:  dx = dy · (x > 0 ? 1 : a_c)          (g = dy, y = dx)
override BACKWARD: bool = false;

struct P { ox: u32, og: u32, oa: u32, oy: u32, C: u32, HW: u32 }
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> x: array<T>;
@group(0) @binding(2) var<storage, read> g: array<T>;
@group(0) @binding(3) var<storage, read> slope: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<T>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let c = wid.y;
  let a = slope[p.oa + c];
  let base = (wid.z * p.C + c) * p.HW;
  for (var j = 0u; j < 4u; j++) {
    let i = wid.x * 256u + j * 64u + lid;
    if (i < p.HW) {
      let v = f32(x[p.ox + base + i]);
      if (BACKWARD) {
        y[p.oy + base + i] = T(select(a, 1.0, v > 0.0) * f32(g[p.og + base + i]));
      } else {
        y[p.oy + base + i] = T(select(a * v, v, v > 0.0));
      }
    }
  }
}
