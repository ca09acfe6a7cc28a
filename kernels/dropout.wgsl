// Inverted dropout: o = x · keep / (1 − prob), keep = hash(seed, i) ≥ prob·2³². The mask is a
// pure function of (seed, i), so the backward recomputes it instead of storing it.
struct P { ox: u32, oo: u32, n: u32, seed: u32, threshold: u32, scale: f32 }
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> x: array<T>;
@group(0) @binding(2) var<storage, read_write> o: array<T>;

fn pcg(v: u32) -> u32 {
  let s = v * 747796405u + 2891336453u;
  let w = ((s >> ((s >> 28u) + 4u)) ^ s) * 277803737u;
  return (w >> 22u) ^ w;
}

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * 256u;
  if (i >= p.n) { return; }
  let h = pcg(i ^ pcg(p.seed));
  let keep = h >= p.threshold;
  o[p.oo + i] = T(select(0.0, f32(x[p.ox + i]) * p.scale, keep));
}
