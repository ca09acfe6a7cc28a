// BatchNorm forward, statistics and apply fused in one dispatch (optionally with PReLU):
//   z = (x − mean)·invstd·γ + β;  y = PRELU ? (z > 0 ? z : a_c·z) : z;  y += r (RESIDUAL)
// Each channel belongs to LPC lanes of one workgroup (WG / LPC channels per workgroup, WG ≤
// 256), so the workgroup that sums a channel also applies it: x is read twice, the second
// time from cache, and there is no second dispatch. On lavapipe LPC = 1, WG = 8: one lane per
// channel, no barrier, every lane runs the same loop counts (src/tensor/ops/batchnorm.ts
// `bnLayout`); elsewhere LPC = WG = 64.
// TRAINING: batch mean and biased variance in one pass of sums shifted by a pilot mean (f32
// accumulation, from the former batchnorm_stats.wgsl): shift = the mean of 64 elements spread
// over the channel (walked without integer divisions, which lavapipe scalarises per lane);
// below SMALL_M elements per channel, of the in-run elements of 64/VW loads spread so (16
// vec4 loads, ~64 elements: at 8×512×7×7 the pilot was ~60 % of a pass over x, now ~15 %:
// fwd +16 %; at and above SMALL_M the bits are those of the 64-element pilot, which
// tests/nn/parity_test.ts is sensitive to, see below). Then Σd and Σd² of d = x − shift give
// mean = shift + Σd/M and var = Σd²/M − (Σd/M)². Such a shifted variance loses
// ~log2(1 + (shift − mean)²/var) bits to cancellation: ~0 for the pilot (|shift − mean|
// ~ σ/8), but up to 7 bits for a shift by the channel's first element,
// a zero-padded corner of a conv output that sits up to 9σ from the mean in mbf (invstd off
// by up to 6e-6). A true two-pass costs ~25 % more time. Σd, Σd² are summed per lane in
// blocks of 16 steps, per image, per 8 images, then over the channel's lanes (every lane adds
// them up itself in the same order, so all get the same bits: one barrier, none when LPC = 1).
// The running statistics are updated in place as PyTorch does: rm ← (1−m)·rm + m·mean,
// rv ← (1−m)·rv + m·var·M/(M−1) (unbiased), M = N·HW; UPDATE false skips it. st = [mean(C),
// invstd(C)] is written for the backward. Eval: st from the running statistics.
// The apply takes x − mean first: folding it into x·scale + (β − mean·scale) cancels
// ~log2(|mean|/σ) bits when the mean is large against σ.
// The V / F / VW / hsum / inRun / storeMasked prefix is prepended by batchnorm.ts:
// vec4 steps when HW ≥ 4 and every activation starts at and holds a multiple of 4 elements,
// else scalars. When HW is not a multiple of 4 (RAGGED, e.g. 7×7) the vec4 steps straddle the
// (n, c) runs: loads are masked and the edge vec4s stored by component.
// Precision (float64 reference, mean 4σ off zero): y rel. error 1.2e-7 at 8×64×112×112,
// 8×128×28×28 and 8×512×7×7; the far-mean regression tests (30σ first element, 10σ corners)
// 1.2e-7 / 4.8e-8.
//
// Bytes and dispatches per BN+PReLU forward at the `kernels` bench shapes (batch 8, f32;
// bytes as the bench counts them: x read once + y written = 8 B/element; the kernel touches
// 12 B/element, the second read of x from cache):
//   shape          bytes    ideal at 13 GB/s   before                              now
//   8×64×112×112   51.4 MB  4.0 ms             2 dispatches (64 + 25088 wg)        1 (8 wg)
//   8×128×28×28     6.4 MB  0.49 ms            2 dispatches (128 + 4096 wg)        1 (16 wg)
//   8×512×7×7       1.6 MB  0.12 ms            2 dispatches (512 + 4096 wg)        1 (64 wg)
// Measured 2026-12-04 on lavapipe (2 cores; quiet machine), raw ops, ≥ 250 ms of work per
// synchronisation, % of copyBufferToBuffer bandwidth (~13 GB/s) in the same run:
//   fwd             before (stats + apply)   after (this kernel)
//   8×64×112×112    1.49 GB/s  11 %          6.02 GB/s  46 %
//   8×128×28×28     1.27 GB/s  10 %          4.31 GB/s  34 %
//   8×512×7×7       0.27 GB/s   2 %          2.01 GB/s  16 %
// `deno task bench kernels --bn-only` fwd rows, same machine a minute later: 6.21, 5.69,
// 2.82 GB/s = 51 %, 47 %, 23 % of 12.1 GB/s. A plain WGSL vec4 copy kernel (copy_vec4.wgsl)
// reaches ~9–9.6 GB/s (73 %) there: lavapipe loads and stores per lane, so a kernel that
// touches 12 B/element tops out near 9.6·8/12 = 6.4 GB/s counted, i.e. ~50 %. The 7×7 rows
// pay for the masked edges of 49-element runs and the 64-sample pilot (~20 % of the loads).
// 2026-12-05 (issue #3; machine shared with another job, ± 15 % between runs), the SMALL_M
// vec4 pilot, bench fwd rows before → after, two alternating runs (% of copyBufferToBuffer,
// 10.6–12.4 GB/s; the 112×112 and 28×28 rows run the same code as before, within noise):
//   8×64×112×112 fwd 3.15, 2.93 → 3.04, 3.23 GB/s (26–29 % → 28–29 %)
//   8×128×28×28  fwd 2.90, 3.28 → 2.91, 3.48 GB/s (25–28 % → 26–28 %)
//   8×512×7×7    fwd 1.81, 1.77 → 2.00, 2.05 GB/s (15–16 % → 17–18 %)
// and on a quieter minute (all-sizes 16-probe variant, 13.1–14.7 GB/s): 7×7 fwd 3.03, 2.22 →
// 3.51, 2.62 GB/s (21 %, 15 % → 24 %, 19 %).
// The ceiling of one dispatch on lavapipe: copy_vec4 over exactly a row's bytes (same run,
// amortised as the bench) reaches 5.4 GB/s at 7×7 (1.6 MB: 0.30 ms, of which ~0.12 ms is the
// fixed cost of any dispatch, a 4 KB copy kernel takes 0.12 ms), 8.4–8.7 GB/s at 28×28 and
// 10.2 GB/s at 112×112, against copyBufferToBuffer's 13.6–14.4 GB/s over 64 MB: 40 %, 62 %,
// 72 %. So the 7×7 rows cannot reach 50 % of the copy figure with any kernel that reads x and
// writes y, and the others only by touching ~8 B/element. Tried and dropped (measured slower,
// same runs): x kept in a private array<array<vec4, 13>, 8> per lane at 7×7 (one read, exact
// two-pass, no pilot: −10 %, so apparently not held in registers); the straddled edge vec4s
// of 7×7 runs exchanged through workgroup memory and stored whole instead of by component
// (−5–10 %); workgroups of 32 lanes (no gain) or 4 (−20 %); scalar loads (−10 %); a
// workgroup of one lane, so that every address is uniform (−65 %). Workgroup memory would
// hold a 28×28 channel (25 KB of the 32 KB limit) but is read lane by lane too. A pilot of 16
// single elements was as fast as the probes but raised the 30σ error from 1.2e-7 to 2e-7.
// 16 vec4 probes at every size kept the precision tests at ~1e-7 but pushed
// tests/nn/parity_test.ts r50's median gradient error under its own PReLU branches to 6.7e-4
// and 4.9e-4 (two probe patterns; limit 2 × PyTorch's 3.05e-4; 64 probes of one element:
// 2.1e-4, 2.2e-4; 64 vec4 probes: 2.9e-4; this split: 2.6e-4), hence SMALL_M.
override TRAINING: bool = true;
override UPDATE: bool = true;
override HAS_W: bool = true;
override HAS_B: bool = true;
override PRELU: bool = false;
override RESIDUAL: bool = false;
override LPC: u32 = 64u;
override WG: u32 = 64u;
// HW is not a multiple of 4: vec4 steps straddle runs, masked (inRun / storeMasked)
override RAGGED: bool = false;

struct P { ox: u32, orm: u32, orv: u32, ost: u32, ow: u32, ob: u32, o7: u32, oy: u32,
           N: u32, C: u32, HW: u32, eps: f32, momentum: f32 }
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> x: array<V>;
@group(0) @binding(2) var<storage, read_write> rm: array<f32>;
@group(0) @binding(3) var<storage, read_write> rv: array<f32>;
@group(0) @binding(4) var<storage, read_write> st: array<f32>;
@group(0) @binding(5) var<storage, read> w: array<f32>;
@group(0) @binding(6) var<storage, read> b: array<f32>;
// @binding(7) is declared by the prefix: the PReLU slopes (f32, `slopeAt`) or, with RESIDUAL,
// the residual (V, `resAt`)
@group(0) @binding(8) var<storage, read_write> out: array<V>;

var<workgroup> s1: array<f32, 256>;
var<workgroup> s2: array<f32, 256>;
// below this many elements per channel the pilot takes 64/VW loads (all their in-run
// elements), else 64 (one element of each)
const SMALL_M = 1024u;

// the pilot's (Σ, count) per lane
var<workgroup> s3: array<vec2f, 256>;


/// Σ of the LPC partials of the channel starting at lane c0, in groups of 8 (same in all lanes).
fn chanSum1(c0: u32) -> f32 {
  var t = 0.0;
  for (var g = 0u; g < LPC; g += 8u) {
    var u = 0.0;
    for (var j = g; j < min(g + 8u, LPC); j++) { u += s1[c0 + j]; }
    t += u;
  }
  return t;
}

fn chanSum2(c0: u32) -> f32 {
  var t = 0.0;
  for (var g = 0u; g < LPC; g += 8u) {
    var u = 0.0;
    for (var j = g; j < min(g + 8u, LPC); j++) { u += s2[c0 + j]; }
    t += u;
  }
  return t;
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let l = lid % LPC;
  let c0 = lid - l;
  let craw = wid.x * (WG / LPC) + lid / LPC;
  let live = craw < p.C;
  let c = min(craw, p.C - 1u);
  let xo = p.ox / VW;
  let yo = p.oy / VW;
  let M = p.N * p.HW;
  var mean: f32;
  var inv: f32;
  if (TRAINING) {
    // the pilot: element q of `probes` spread over the channel (few: with the elements of its
    // run that share its load, a V), walked without divisions (lavapipe scalarises a vector integer
    // division per lane): k = q·step + (q·37 mod step) when M ≥ probes, else q mod M;
    // k = n·HW + i
    var ps = vec2f(0.0);
    let few = M < SMALL_M;
    let probes = select(64u, 64u / VW, few);
    let big = M >= probes;
    let step = select(1u, M / probes, big);
    let s37 = 37u % step;
    var r = 0u;
    var n = 0u;
    var i = 0u;
    for (var q = 0u; q < probes; q++) {
      if ((q & (LPC - 1u)) == l) {
        let r0 = (n * p.C + c) * p.HW;
        let e = r0 + i;
        let v = x[xo + e / VW];
        if (few) {
          let m = inRun(e / VW, r0, r0 + p.HW);
          ps += vec2f(hsum(select(F(0.0), F(v), m)), hsum(select(F(0.0), F(1.0), m)));
        } else {
          ps += vec2f(comp(v, e % VW), 1.0);
        }
      }
      if (big) {
        var r2 = r + s37;
        if (r2 >= step) { r2 -= step; }
        i = i + step + r2 - r;
        r = r2;
        while (i >= p.HW) {
          i -= p.HW;
          n++;
        }
      } else if (q % M == M - 1u) {
        n = 0u;
        i = 0u;
      } else {
        i++;
        if (i == p.HW) {
          i = 0u;
          n++;
        }
      }
    }
    s3[lid] = ps;
    if (LPC > 1u) { workgroupBarrier(); }
    var pt = vec2f(0.0);
    for (var j = 0u; j < LPC; j++) { pt += s3[c0 + j]; }
    let shift = pt.x / pt.y;
    // sums per lane and image, added up in blocks of 8 images, then over blocks and lanes
    var sa = 0.0;
    var sb = 0.0;
    for (var n0 = 0u; n0 < p.N; n0 += 8u) {
      var ba = 0.0;
      var bb = 0.0;
      for (var n = n0; n < min(n0 + 8u, p.N); n++) {
        let r0 = (n * p.C + c) * p.HW;
        let r1 = r0 + p.HW;
        var ia = F(0.0);
        var ib = F(0.0);
        // in blocks of 16 steps: rounding grows with 16 + HW/(16·VW·LPC) terms in a row
        let qe = (r1 - 1u) / VW;
        var q = r0 / VW + l;
        while (q <= qe) {
          let qb = min(q + 16u * LPC, qe + 1u);
          var ta = F(0.0);
          var tb = F(0.0);
          for (; q < qb; q += LPC) {
            let d = select(F(0.0), F(x[xo + q]) - F(shift), inRun(q, r0, r1));
            ta += d;
            tb += d * d;
          }
          ia += ta;
          ib += tb;
        }
        ba += hsum(ia);
        bb += hsum(ib);
      }
      sa += ba;
      sb += bb;
    }
    s1[lid] = sa;
    s2[lid] = sb;
    if (LPC > 1u) { workgroupBarrier(); }
    let Mf = f32(M);
    let m1 = chanSum1(c0) / Mf;
    let v = max(chanSum2(c0) / Mf - m1 * m1, 0.0);
    mean = shift + m1;
    inv = inverseSqrt(v + p.eps);
    if (live && l == 0u) {
      st[p.ost + c] = mean;
      st[p.ost + p.C + c] = inv;
      if (UPDATE) {
        rm[p.orm + c] = (1.0 - p.momentum) * rm[p.orm + c] + p.momentum * mean;
        rv[p.orv + c] = (1.0 - p.momentum) * rv[p.orv + c] + p.momentum * (v * Mf / (Mf - 1.0));
      }
    }
  } else {
    mean = rm[p.orm + c];
    inv = inverseSqrt(rv[p.orv + c] + p.eps);
    if (live && l == 0u) {
      st[p.ost + c] = mean;
      st[p.ost + p.C + c] = inv;
    }
  }
  if (!live) { return; }
  var scale = inv;
  if (HAS_W) { scale *= w[p.ow + c]; }
  var shift = 0.0;
  if (HAS_B) { shift = b[p.ob + c]; }
  var a = 0.0;
  if (PRELU) { a = slopeAt(p.o7 + c); }
  let ro = p.o7 / VW;
  for (var n = 0u; n < p.N; n++) {
    let r0 = (n * p.C + c) * p.HW;
    let r1 = r0 + p.HW;
    for (var q = r0 / VW + l; q <= (r1 - 1u) / VW; q += LPC) {
      var z = (F(x[xo + q]) - F(mean)) * scale + F(shift);
      if (PRELU) { z = select(a * z, z, z > F(0.0)); }
      if (RESIDUAL) { z += resAt(ro + q); }
      let m = inRun(q, r0, r1);
      if (all(m)) { out[yo + q] = V(z); } else { storeMasked(yo + q, V(z), m); }
    }
  }
}
