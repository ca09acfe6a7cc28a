// Direct 2-D convolution (cross-correlation, as PyTorch), NCHW activations, OIHW weights,
// groups, zero padding, input stride S, optional bias. Also serves the backward-to-input
// pass: conv2d.ts runs it on dY with re-arranged weights, once per stride phase, writing
// through the output dilation OS / offset (OFFY, OFFX) into dX.
//
// Each invocation computes OCT output channels × 4 consecutive output pixels of one row
// (a vec4 accumulator per channel). Invocations (lanes) run along the flattened
// (n, oy, x-tile) grid and a workgroup shares one output-channel tile, so weight loads are
// uniform across lanes (broadcast) and only the input window is gathered: per input channel
// and kernel row, 3·S+KW loads feed 4·KW·OCT multiply-adds. No workgroup memory: lavapipe
// runs a workgroup on one CPU thread, where barriers cost more than they save.
//
// Since 2026-12-04 this kernel only runs the shapes the faster routes of conv2d.ts do not
// take: the Cin = 3 stems (C·KH·KW = 27 is too shallow for the GEMM's 16×8 tile; here it
// beats tfjs 1.8–2.2×), grouped non-depthwise convs (MobileFaceNet's groups-64 3×3, no tfjs
// peer), dense convs with a bias, and backward-to-input phases too shallow for the GEMM
// (Cout·taps < 32, e.g. the empty phases of a 1×1 stride-2 conv, which it fills with zeros).
// Why it lost elsewhere: lanes gather the window with per-lane scalar loads into
// function-scope arrays (win/woff/wm/acc), which lavapipe keeps in scratch memory, and each
// weight is a separate load for only 4 FMAs; it ran at tfjs's speed (forward median 1.00×,
// 2.5–4.4 GFLOP/s dense, 0.03–0.6 depthwise), while the im2col + register-tiled GEMM route
// reaches 2–8× tfjs on the dense shapes and the generated depthwise kernel
// (conv2d_dw_gen.ts) 1.4–2.5× (conv2d.ts has the measurements).
override KH: u32 = 3u;
override KW: u32 = 3u;
override S: u32 = 1u;
override OCT: u32 = 8u;
override HAS_BIAS: bool = false;

struct P {
  ox: u32, ow: u32, ob: u32, oy: u32,
  N: u32, C: u32, H: u32, W: u32,
  K: u32, OH: u32, OW: u32,
  Cig: u32, Cog: u32,
  padY: i32, padX: i32,
  YH: u32, YW: u32, OS: u32, OFFY: u32, OFFX: u32,
  nxt: u32,
}
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> x: array<T>;
@group(0) @binding(2) var<storage, read> w: array<T>;
@group(0) @binding(3) var<storage, read> bias: array<T>;
@group(0) @binding(4) var<storage, read_write> y: array<T>;

const MAXL = 16u;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(workgroup_id) wid: vec3u) {
  let t = gid.x;
  if (t >= p.N * p.OH * p.nxt) { return; }
  let xt = t % p.nxt;
  let r = t / p.nxt;
  let oy = r % p.OH;
  let n = r / p.OH;
  let oc0 = wid.y * OCT;
  let g = oc0 / p.Cog;
  let ox0 = xt * 4u;
  let L = 3u * S + KW;
  let ix0 = i32(ox0 * S) - p.padX;
  var woff: array<u32, MAXL>;
  var wm: array<f32, MAXL>;
  for (var l = 0u; l < L; l++) {
    let ix = ix0 + i32(l);
    woff[l] = u32(clamp(ix, 0, i32(p.W) - 1));
    wm[l] = select(0.0, 1.0, ix >= 0 && ix < i32(p.W));
  }
  var acc: array<vec4f, 8>;
  for (var o = 0u; o < OCT; o++) { acc[o] = vec4f(0.0); }
  let HW = p.H * p.W;
  let xb = p.ox + (n * p.C + g * p.Cig) * HW;
  let KK = KH * KW;
  let wb = p.ow + oc0 * p.Cig * KK;
  let wo = p.Cig * KK;
  let iy0 = i32(oy * S) - p.padY;
  for (var ic = 0u; ic < p.Cig; ic++) {
    for (var ky = 0u; ky < KH; ky++) {
      let iy = iy0 + i32(ky);
      if (iy < 0 || iy >= i32(p.H)) { continue; }
      let rb = xb + ic * HW + u32(iy) * p.W;
      var win: array<f32, MAXL>;
      for (var l = 0u; l < L; l++) { win[l] = f32(x[rb + woff[l]]) * wm[l]; }
      let wk = wb + ic * KK + ky * KW;
      for (var kx = 0u; kx < KW; kx++) {
        let xv = vec4f(win[kx], win[kx + S], win[kx + 2u * S], win[kx + 3u * S]);
        for (var o = 0u; o < OCT; o++) {
          acc[o] += f32(w[wk + o * wo + kx]) * xv;
        }
      }
    }
  }
  let plane = p.YH * p.YW;
  let yb = p.oy + (n * p.K + oc0) * plane + (oy * p.OS + p.OFFY) * p.YW + p.OFFX;
  for (var o = 0u; o < OCT; o++) {
    var v = acc[o];
    if (HAS_BIAS) { v += vec4f(f32(bias[p.ob + oc0 + o])); }
    let ob = yb + o * plane;
    for (var j = 0u; j < 4u; j++) {
      if (ox0 + j < p.OW) { y[ob + (ox0 + j) * p.OS] = T(v[j]); }
    }
  }
}
