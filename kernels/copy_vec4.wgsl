// A plain 4-wide copy y = x of n4 vec4<f32>, 4 per lane (256 lanes, 1024 vec4 per workgroup):
// the fastest copy kernel measured on lavapipe (2026-12-04: ~5 GB/s against ~13 GB/s for
// copyBufferToBuffer, which is a native memcpy). The `kernels` bench uses it as the ceiling of
// any kernel that reads and writes each element once (src/bench/kernels_conv.ts).
struct P { ox: u32, oy: u32, n4: u32 }
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> y: array<vec4<f32>>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  for (var j = 0u; j < 4u; j++) {
    let i = wid.x * 1024u + j * 256u + lid;
    if (i < p.n4) { y[p.oy / 4u + i] = x[p.ox / 4u + i]; }
  }
}
