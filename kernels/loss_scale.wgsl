// Dynamic loss scaling on the GPU (PyTorch GradScaler semantics, optional cap as the 2021
// MaxClipGradScaler). state = scale (f32); ctl = [foundInf, tracker, skipped] (u32).
//   PASS 0 (cap, 1 invocation): scale ← min(scale, maxScale) when maxScale > 0.
//   PASS 1: x ← src · scale.
//   PASS 2: x ← x · (1/scale) in place; a non-finite result sets foundInf.
//   PASS 3 (update, 1 invocation): overflow: scale ← scale·backoff, tracker ← 0, skipped += 1;
//     else tracker += 1 and at `interval` scale ← scale·growth (growth 1 once the scale has
//     reached maxScale), tracker ← 0.
//   PASS 4 (1 invocation): foundInf ← 0.
override PASS: u32 = 0u;
struct P {
  ox: u32, os: u32, osc: u32, oc: u32,
  n: u32, interval: u32, maxScale: f32, growth: f32, backoff: f32,
}
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read_write> x: array<f32>;
@group(0) @binding(2) var<storage, read> src: array<f32>;
@group(0) @binding(3) var<storage, read_write> sc: array<f32>;
@group(0) @binding(4) var<storage, read_write> ctl: array<atomic<u32>>;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * 256u;
  if (PASS == 1u || PASS == 2u) {
    if (i >= p.n) { return; }
    if (PASS == 1u) {
      x[p.ox + i] = src[p.os + i] * sc[p.osc];
    } else {
      let v = x[p.ox + i] * (1.0 / sc[p.osc]);
      x[p.ox + i] = v;
      if ((bitcast<u32>(v) & 0x7f800000u) == 0x7f800000u) { atomicMax(&ctl[p.oc], 1u); }
    }
    return;
  }
  if (i != 0u) { return; }
  if (PASS == 0u) {
    if (p.maxScale > 0.0) { sc[p.osc] = min(sc[p.osc], p.maxScale); }
  } else if (PASS == 3u) {
    if (atomicLoad(&ctl[p.oc]) != 0u) {
      sc[p.osc] = sc[p.osc] * p.backoff;
      atomicStore(&ctl[p.oc + 1u], 0u);
      atomicAdd(&ctl[p.oc + 2u], 1u);
    } else {
      let tr = atomicLoad(&ctl[p.oc + 1u]) + 1u;
      if (tr >= p.interval) {
        var gf = p.growth;
        if (p.maxScale > 0.0 && sc[p.osc] >= p.maxScale) { gf = 1.0; }
        sc[p.osc] = sc[p.osc] * gf;
        atomicStore(&ctl[p.oc + 1u], 0u);
      } else {
        atomicStore(&ctl[p.oc + 1u], tr);
      }
    }
  } else {
    atomicStore(&ctl[p.oc], 0u);
  }
}
