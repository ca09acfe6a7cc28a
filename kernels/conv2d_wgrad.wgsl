// Gradient of a 2-D convolution with respect to its OIHW weight:
//   dW[oc, icl, ky, kx] = Σ_{n, oy, ox} dY[n, oc, oy, ox] · X[n, g·Cig + icl, oy·S − pad + ky, …]
// Each invocation owns one input channel c (lanes run along c), one kernel row ky and OCT
// output channels of c's group (workgroup y), so it keeps OCT×KW accumulators. It walks its
// split's share of the (n, oy) rows 4 output pixels at a time: OCT·4 dY loads (uniform across
// lanes when groups = 1) and a window of 3·S+KW input values feed OCT·KW·4 multiply-adds.
// The row-validity branch depends on (n, oy, ky) only, so it is uniform across lanes.
// With NSPLIT > 1 each split writes f32 partial sums to `part` ([split][weight]) and
// `reduce_splits` adds them into dW; otherwise the result goes straight to dW.
override KH: u32 = 3u;
override KW: u32 = 3u;
override S: u32 = 1u;
override OCT: u32 = 4u;
override SPLIT: bool = false;

struct P {
  ox: u32, ody: u32, odw: u32, opart: u32,
  N: u32, C: u32, H: u32, W: u32,
  K: u32, OH: u32, OW: u32,
  Cig: u32, Cog: u32,
  padY: i32, padX: i32,
  rowsPerSplit: u32,
}
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> x: array<T>;
@group(0) @binding(2) var<storage, read> dy: array<T>;
@group(0) @binding(3) var<storage, read_write> dw: array<T>;
@group(0) @binding(4) var<storage, read_write> part: array<f32>;

const MAXL = 16u;
const MAXA = 56u;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(workgroup_id) wid: vec3u) {
  let c = gid.x;
  if (c >= p.C) { return; }
  let g = c / p.Cig;
  let icl = c % p.Cig;
  let tilesPerRow = p.Cog / OCT;
  let ky = wid.y / tilesPerRow;
  let oc0 = g * p.Cog + (wid.y % tilesPerRow) * OCT;
  let r0 = wid.z * p.rowsPerSplit;
  let r1 = min(r0 + p.rowsPerSplit, p.N * p.OH);
  let L = 3u * S + KW;
  var acc: array<f32, MAXA>;
  for (var a = 0u; a < OCT * KW; a++) { acc[a] = 0.0; }
  let HW = p.H * p.W;
  let OHW = p.OH * p.OW;
  for (var r = r0; r < r1; r++) {
    let oy = r % p.OH;
    let n = r / p.OH;
    let iy = i32(oy * S) - p.padY + i32(ky);
    if (iy < 0 || iy >= i32(p.H)) { continue; }
    let rb = p.ox + (n * p.C + c) * HW + u32(iy) * p.W;
    let db = p.ody + (n * p.K + oc0) * OHW + oy * p.OW;
    for (var ox0 = 0u; ox0 < p.OW; ox0 += 4u) {
      var dv: array<vec4f, 8>;
      let m = vec4f(vec4<bool>(ox0 < p.OW, ox0 + 1u < p.OW, ox0 + 2u < p.OW, ox0 + 3u < p.OW));
      let q = vec4u(ox0, min(ox0 + 1u, p.OW - 1u), min(ox0 + 2u, p.OW - 1u), min(ox0 + 3u, p.OW - 1u));
      for (var o = 0u; o < OCT; o++) {
        let b = db + o * OHW;
        dv[o] = m * vec4f(f32(dy[b + q.x]), f32(dy[b + q.y]), f32(dy[b + q.z]), f32(dy[b + q.w]));
      }
      let ix0 = i32(ox0 * S) - p.padX;
      var win: array<f32, MAXL>;
      for (var l = 0u; l < L; l++) {
        let ix = ix0 + i32(l);
        let v = f32(x[rb + u32(clamp(ix, 0, i32(p.W) - 1))]);
        win[l] = select(0.0, v, ix >= 0 && ix < i32(p.W));
      }
      for (var kx = 0u; kx < KW; kx++) {
        let xv = vec4f(win[kx], win[kx + S], win[kx + 2u * S], win[kx + 3u * S]);
        for (var o = 0u; o < OCT; o++) {
          acc[o * KW + kx] += dot(dv[o], xv);
        }
      }
    }
  }
  let KK = KH * KW;
  for (var o = 0u; o < OCT; o++) {
    for (var kx = 0u; kx < KW; kx++) {
      let i = ((oc0 + o) * p.Cig + icl) * KK + ky * KW + kx;
      if (SPLIT) {
        part[p.opart + wid.z * p.K * p.Cig * KK + i] = acc[o * KW + kx];
      } else {
        dw[p.odw + i] = T(acc[o * KW + kx]);
      }
    }
  }
}
