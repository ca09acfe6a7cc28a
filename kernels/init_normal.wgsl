// Fills rows of a weight chunk with N(0, std²) from a counter-based generator keyed by
// (seed, global row, column): the value of a class centre does not depend on how the classes
// are sharded over ranks or chunked, so any world size starts from the same weights.
struct P { oo: u32, rows: u32, E: u32, row0lo: u32, row0hi: u32, seed: u32, sd: f32 }
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read_write> o: array<f32>;

fn mix(x0: u32) -> u32 {
  var x = x0;
  x = (x ^ (x >> 16u)) * 0x7feb352du;
  x = (x ^ (x >> 15u)) * 0x846ca68bu;
  return x ^ (x >> 16u);
}

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * 256u;
  if (i >= p.rows * p.E) { return; }
  let r = i / p.E;
  let c = i - r * p.E;
  // global row as a 64-bit (lo, hi) pair
  let lo = p.row0lo + r;
  let hi = p.row0hi + select(0u, 1u, lo < p.row0lo);
  let k = mix(mix(mix(p.seed ^ 0x9e3779b9u) ^ lo) ^ hi) ^ (c * 0x85ebca6bu);
  let a = mix(k ^ 0x68e31da4u);
  let b = mix(k ^ 0xb5297a4du);
  let u1 = (f32(a >> 8u) + 1.0) / 16777216.0; // (0, 1]
  let u2 = f32(b >> 8u) / 16777216.0;
  o[p.oo + i] = p.sd * sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}
