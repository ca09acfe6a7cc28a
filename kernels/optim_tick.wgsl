// Starts an optimiser step on the GPU: ctl = [t, skip]. skip = flag[0] (a loss scaler's
// found-infinity flag; HAS_FLAG 0: never skip); t advances only on steps that are taken.
override HAS_FLAG: bool = false;
struct P { oc: u32, ofl: u32 }
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read_write> ctl: array<u32>;
@group(0) @binding(2) var<storage, read> flag: array<u32>;

@compute @workgroup_size(1)
fn main() {
  var skip = 0u;
  if (HAS_FLAG) { skip = flag[p.ofl]; }
  ctl[p.oc + 1u] = skip;
  if (skip == 0u) { ctl[p.oc] = ctl[p.oc] + 1u; }
}
