// Reduces each row of an R×C matrix to one value: OP 0 sum, 1 mean, 2 max (also writes the
// first index of the maximum), 3 L2 norm. One workgroup per row; invocations stride over the
// row and combine in workgroup memory. Accumulation in f32; x and out have type T.
override OP: u32 = 0u;

struct P { ox: u32, oo: u32, oi: u32, R: u32, C: u32 }
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> x: array<T>;
@group(0) @binding(2) var<storage, read_write> o: array<T>;
@group(0) @binding(3) var<storage, read_write> idx: array<i32>;

const WG = 64u;
var<workgroup> sv: array<f32, WG>;
var<workgroup> si: array<u32, WG>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  let r = wid.x + wid.y * nwg.x;
  if (r >= p.R) { return; }
  let base = p.ox + r * p.C;
  var v = 0.0;
  var vi = 0u;
  if (OP == 2u) { v = -3.4028235e38; vi = 0xffffffffu; }
  for (var c = lid; c < p.C; c += WG) {
    let e = f32(x[base + c]);
    if (OP == 2u) {
      if (e > v || vi == 0xffffffffu) { v = e; vi = c; }
    } else if (OP == 3u) { v += e * e; } else { v += e; }
  }
  sv[lid] = v;
  si[lid] = vi;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (lid < s) {
      if (OP == 2u) {
        let ov = sv[lid + s];
        let oi = si[lid + s];
        if (oi != 0xffffffffu && (ov > sv[lid] || (ov == sv[lid] && oi < si[lid]) || si[lid] == 0xffffffffu)) {
          sv[lid] = ov;
          si[lid] = oi;
        }
      } else {
        sv[lid] += sv[lid + s];
      }
    }
    workgroupBarrier();
  }
  if (lid == 0u) {
    var res = sv[0];
    if (OP == 1u) { res = res / f32(p.C); }
    if (OP == 3u) { res = sqrt(res); }
    o[p.oo + r] = T(res);
    if (OP == 2u) { idx[p.oi + r] = i32(si[0]); }
  }
}
