// BatchNorm (+PReLU) backward, the per-channel sums and the input gradient fused in one
// dispatch. Each channel belongs to LPC lanes of one workgroup (WG / LPC channels per
// workgroup, WG ≤ 256; lavapipe: LPC = 1, WG = 8, see batchnorm_fwd.wgsl); the workgroup first
// sums
//   red[c] = Σ dz,  red[C + c] = Σ dz·x̂,  red[2C + c] = Σ dy·z·[z ≤ 0]  (PRELU only)
// with x̂ = (x − mean)·invstd, z = x̂·γ + β (recomputed) and dz = dy·PReLU'(z), per lane in
// blocks of 16 steps, per image, in blocks of 8 images, then over the channel's lanes (every
// lane adds them up itself, in the same order: one barrier, none when LPC = 1); then, when
// NEED_DX, re-reads x and dy (from cache) and writes
//   TRAINING: dx = γ·invstd·(dz − (Σdz + x̂·Σdz·x̂)/M)     (through the batch statistics)
//   eval:     dx = γ·invstd·dz
// The V / F / VW / hsum / inRun / storeMasked prefix is prepended by
// src/tensor/ops/batchnorm.ts (vec4 steps, masked when HW is not a multiple of 4: RAGGED).
// Per element: reads x and dy twice (the second time from cache), writes dx.
// It replaced batchnorm_grad_reduce (C workgroups of 64 lanes, a 6-barrier tree) +
// batchnorm_grad_input (HW/256·C·N workgroups, scalar loads): 2 dispatches → 1.
// Forward + backward (bytes as the bench counts them: x, y forward + x, dy, dx backward =
// 20 B/element; 51.4·2.5 = 128 MB, 16 MB, 4 MB), measured 2026-12-04 on lavapipe (quiet
// machine), raw ops, ≥ 250 ms of work per synchronisation, % of copyBufferToBuffer (~13 GB/s):
//   fwd+bwd         before (4 kernels)       after (batchnorm_fwd + this kernel)
//   8×64×112×112    1.75 GB/s  13 %          5.37 GB/s  41 %
//   8×128×28×28     1.33 GB/s  11 %          5.04 GB/s  40 %
//   8×512×7×7       0.30 GB/s   2 %          2.94 GB/s  23 %
// `deno task bench kernels --bn-only` fwd+bwd rows (with autograd): 5.71, 5.59, 3.28 GB/s =
// 47 %, 46 %, 27 % of 12.1 GB/s.
// 2026-12-05 (issue #3; shared machine, two alternating runs, % of 13.1–14.7 GB/s), with the
// forward's vec4 pilot probes (this kernel unchanged): 5.28, 5.74 → 5.85, 5.55 GB/s (40–44 %
// → 41–42 %); 5.24, 5.71 → 5.79, 4.34 (38–42 % → 32–39 %); 3.13, 2.60 → 3.63, 3.00 (18–22 %
// → 22–25 %). Each row is two dispatches plus the autograd bookkeeping (JS on the same 2
// cores), each dispatch ~0.12 ms fixed: see the ceilings in batchnorm_fwd.wgsl.
override HAS_W: bool = true;
override HAS_B: bool = true;
override PRELU: bool = false;
override TRAINING: bool = true;
override NEED_DX: bool = true;
override LPC: u32 = 64u;
override WG: u32 = 64u;
// HW is not a multiple of 4: vec4 steps straddle runs, masked (inRun / storeMasked)
override RAGGED: bool = false;

struct P { ox: u32, ody: u32, ost: u32, ow: u32, ob: u32, oa: u32, ored: u32, odx: u32,
           N: u32, C: u32, HW: u32 }
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> x: array<V>;
@group(0) @binding(2) var<storage, read> dy: array<V>;
@group(0) @binding(3) var<storage, read> st: array<f32>;
@group(0) @binding(4) var<storage, read> w: array<f32>;
@group(0) @binding(5) var<storage, read> b: array<f32>;
@group(0) @binding(6) var<storage, read> slope: array<f32>;
@group(0) @binding(7) var<storage, read_write> red: array<f32>;
@group(0) @binding(8) var<storage, read_write> out: array<V>;

var<workgroup> s1: array<f32, 256>;
var<workgroup> s2: array<f32, 256>;
var<workgroup> s3: array<f32, 256>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let l = lid % LPC;
  let c0 = lid - l;
  let craw = wid.x * (WG / LPC) + lid / LPC;
  let live = craw < p.C;
  let c = min(craw, p.C - 1u);
  let xo = p.ox / VW;
  let go = p.ody / VW;
  let oo = p.odx / VW;
  let mean = st[p.ost + c];
  let inv = st[p.ost + p.C + c];
  var gw = 1.0;
  if (HAS_W) { gw = w[p.ow + c]; }
  var gb = 0.0;
  if (HAS_B) { gb = b[p.ob + c]; }
  var a = 0.0;
  if (PRELU) { a = slope[p.oa + c]; }
  var sd = 0.0;
  var sdx = 0.0;
  var sa = 0.0;
  for (var n0 = 0u; n0 < p.N; n0 += 8u) {
    var bd = 0.0;
    var bdx = 0.0;
    var ba = 0.0;
    for (var n = n0; n < min(n0 + 8u, p.N); n++) {
      let r0 = (n * p.C + c) * p.HW;
      let r1 = r0 + p.HW;
      var id = F(0.0);
      var idx = F(0.0);
      var ia = F(0.0);
      // in blocks of 16 steps: rounding grows with 16 + HW/(16·VW·LPC) terms in a row
      let qe = (r1 - 1u) / VW;
      var q = r0 / VW + l;
      while (q <= qe) {
        let qb = min(q + 16u * LPC, qe + 1u);
        var td = F(0.0);
        var tdx = F(0.0);
        var ta = F(0.0);
        for (; q < qb; q += LPC) {
          let xh = (F(x[xo + q]) - F(mean)) * inv;
          var d = select(F(0.0), F(dy[go + q]), inRun(q, r0, r1));
          if (PRELU) {
            let z = xh * gw + F(gb);
            let neg = z <= F(0.0);
            ta += select(F(0.0), d * z, neg);
            d = select(d, d * a, neg);
          }
          td += d;
          tdx += d * xh;
        }
        id += td;
        idx += tdx;
        ia += ta;
      }
      bd += hsum(id);
      bdx += hsum(idx);
      ba += hsum(ia);
    }
    sd += bd;
    sdx += bdx;
    sa += ba;
  }
  s1[lid] = sd;
  s2[lid] = sdx;
  s3[lid] = sa;
  if (LPC > 1u) { workgroupBarrier(); }
  var t1 = 0.0;
  var t2 = 0.0;
  var t3 = 0.0;
  for (var g = 0u; g < LPC; g += 8u) {
    var u1 = 0.0;
    var u2 = 0.0;
    var u3 = 0.0;
    for (var j = g; j < min(g + 8u, LPC); j++) {
      u1 += s1[c0 + j];
      u2 += s2[c0 + j];
      u3 += s3[c0 + j];
    }
    t1 += u1;
    t2 += u2;
    t3 += u3;
  }
  if (!live) { return; }
  if (l == 0u) {
    red[p.ored + c] = t1;
    red[p.ored + p.C + c] = t2;
    red[p.ored + 2u * p.C + c] = t3;
  }
  if (!NEED_DX) { return; }
  var k1 = 0.0;
  var k2 = 0.0;
  if (TRAINING) {
    let Mf = f32(p.N * p.HW);
    k1 = t1 / Mf;
    k2 = t2 / Mf;
  }
  let g = gw * inv;
  for (var n = 0u; n < p.N; n++) {
    let r0 = (n * p.C + c) * p.HW;
    let r1 = r0 + p.HW;
    for (var q = r0 / VW + l; q <= (r1 - 1u) / VW; q += LPC) {
      let xh = (F(x[xo + q]) - F(mean)) * inv;
      var d = F(dy[go + q]);
      if (PRELU) { d = select(d, d * a, xh * gw + F(gb) <= F(0.0)); }
      let v = V(g * (d - F(k1) - xh * k2));
      let m = inRun(q, r0, r1);
      if (all(m)) { out[oo + q] = v; } else { storeMasked(oo + q, v, m); }
    }
  }
}
