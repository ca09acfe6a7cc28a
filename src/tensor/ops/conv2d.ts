/**
 * 2-D convolution (PyTorch `F.conv2d`: cross-correlation, zero padding, groups, optional bias)
 * with its gradients to the input, the weight and the bias. Activations are NCHW and weights
 * OIHW at the API and inside: PyTorch state dicts load unchanged and no layout conversion
 * runs at the op boundary.
 *
 * Algorithm per shape class (the per-kernel notes are in the WGSL/generator headers):
 * - dense (groups = 1), C·kH·kW ≥ 32, no bias: GEMM. y[n] = W[K × C·kH·kW] · col[n] through
 *   the register-tiled `gemm()` of `matmul.ts`, batched over images with a zero stride on W.
 *   col is x itself for a 1×1 stride-1 conv whose pixel count is a multiple of 4, else
 *   `conv2d_im2col.wgsl` writes it (rows padded to a multiple of 4 pixels so the GEMM loads
 *   vec4s), images in chunks of at most 48 MiB of columns. Every IResNet conv but the stem
 *   and every MobileFaceNet 1×1 takes this route.
 * - depthwise (groups = C = K), kernels generated per geometry by `kernels/conv2d_dw_gen.ts`
 *   in straight-line code: input planes ≤ 196 and output planes ≤ 64 elements with
 *   C % 4 == 0 (MobileFaceNet's 7×7 stage, the stride-2 dw @14, the GDC) load 4 channels'
 *   whole planes as vec4s per invocation; larger planes use
 *   a PX × PY output tile per invocation (7 × 7 for the 28- and 14-wide stages), each input
 *   row of the window loaded once for all the tile's rows.
 * - everything else (Cin = 3 stems, grouped non-depthwise, biased dense convs): the direct
 *   kernel `conv2d_direct.wgsl`, OCT output channels × 4 pixels per invocation.
 * - backward to input: the forward machinery run on dY, once per stride phase (1 phase at
 *   stride 1, 4 at stride 2): for the pixels iy ≡ a (mod s) only the taps ky ≡ (a + pad)
 *   (mod s) contribute, and they form a stride-1 correlation of dY with a re-arranged,
 *   flipped sub-kernel (`conv2d_weight_t.wgsl`), written into dX at stride s. No
 *   zero-insertion, no col2im buffer, no atomics. Stride-1 dense layers therefore take the
 *   GEMM route, depthwise layers the generated kernels (the tiled one writes through the
 *   output dilation), strided dense layers the GEMM route into a dense buffer per phase that
 *   `conv2d_scatter_phase.wgsl` writes into dX at stride s.
 * - backward to weight, dense (groups = 1, C·kH·kW ≥ 32): GEMM, dW[K × C·kH·kW] =
 *   Σ_n dY_n[K × P] · col_nᵀ (`gemm()` with transposed B, K = the pixels P). col is x itself
 *   for a 1×1 stride-1 conv whose P is a multiple of 4, else the forward's im2col buffer,
 *   images in the same chunks. Each GEMM dispatch takes a batch of `slots` images (batch
 *   strides on dY and col) into as many partial sums, beta = 1 on later dispatches and chunks,
 *   summed by `conv2d_reduce_splits.wgsl`; slots (≤ images per chunk, partials ≤ 32 MiB) are
 *   added until the GEMM has ~1024 invocations, so small weights (64→64 1×1: 32
 *   invocations per image) still fill both cores; large ones (≥ 1024 invocations) take one
 *   slot and accumulate straight into dW (in T: an f16 dW is rounded once per image).
 * - backward to weight, the rest (Cin = 3 stems, the grouped g64 conv, depthwise):
 *   `conv2d_wgrad.wgsl`, lanes along input channels, the (n, oy) rows split over workgroups
 *   when the weight is small, f32 partials summed by `conv2d_reduce_splits.wgsl`.
 *
 * Why (lavapipe: 2 CPU cores, invocations as 8-wide SIMD lanes, every storage load a per-lane
 * scalar loop, function-scope arrays in scratch memory): cost follows the number of load
 * instructions per output. The direct kernel loads the input window per lane and one weight
 * per OCT·4 FMAs through scratch arrays and reached only tfjs's speed (forward median ratio
 * 1.00×, 2/33 rows ≥ 1.5× in the `kernels` bench). The GEMM's 16×8 register tile issues
 * 16 + 8 vec4 loads per 512 FMAs; im2col costs one pass of 2·C·kH·kW·P element moves per
 * image, 1/K of the GEMM's FMAs. The im2col buffer (231 MB for 8×64×112×112 3×3) is why
 * images are chunked: one binding holds at most 128 MiB. Measured 2026-12-04 (`deno task
 * bench kernels --conv-only --conv-pass=fwd`, several calls per sync, batch 8, f32, same run against
 * tfjs, machine shared): forward ratios 1.54–6.67×, median 2.44×, 33/33 rows ≥ 1.5× (the
 * direct kernel everywhere: median 1.01×, 5/33); dense 3×3 2.4–9.1 GFLOP/s, 1×1 stride-1
 * (GEMM on x) 3.0–8.1 (tfjs 0.9–3.3), depthwise 0.3–2.2 (tfjs 0.1–1.0). Backward to
 * input: 31/31 ≥ 1.5×, median 4.68× (was 22/31, 2.10×). With one call per synchronisation
 * (`--sync-each`, an ~11 ms round trip in every sample) forward is 28/33, the misses
 * being the small depthwise layers where both sides sit on that floor.
 * 2026-12-05, whole `kernels` bench with ~250 ms of work per wait on both sides (the old
 * cap of 16 calls per wait left the GDC forward's ~11 ms round trip ~80 % of its figure):
 * forward 33/33 ≥ 1.5×, median 2.90×, range 1.55× (dw 3×3 s2 @56, ~1.15 input loads per
 * input element, near the floor of one) to 4.85×; the GDC forward 1.91 GFLOP/s against
 * tfjs's 0.53 (3.63×; 1.44× under the old timing); backward to input 31/31, median 4.95×;
 * backward to weight 33/33, median 20.4×.
 *
 * Backward to weight (`--conv-pass=bwd-weight`, 2026-12-05, same conditions,
 * two runs): the GEMM route runs the 24 dense rows at 4.5–20 GFLOP/s (`conv2d_wgrad.wgsl`
 * on them: 0.9–5.0), ratios 12.9–57.7× (were 2.45–18.6×); all rows 33/33 ≥ 1.5×, median
 * 17.2–21.9× (3.84× in the run before the change). The tightest rows are on the old kernel
 * before and after: the GDC 1.60–1.88× and dw 3×3 @7 1.88–2.19× over five runs. The old
 * kernel stays where the GEMM does not apply: the stems (C·kH·kW = 27, 2.9–4.6×), the g64
 * conv (no tfjs peer) and depthwise (2.5–5.2× except the two above). A depthwise kernel
 * with one invocation per weight element (two loads per FMA, no scratch arrays) ran the
 * GDC at 2.3–3.2 ms per call against the old kernel's 2.0–2.7, so it was dropped.
 *
 * @module
 */
import directSrc from "../../../kernels/conv2d_direct.wgsl" with { type: "text" };
import wgradSrc from "../../../kernels/conv2d_wgrad.wgsl" with { type: "text" };
import reduceSrc from "../../../kernels/conv2d_reduce_splits.wgsl" with { type: "text" };
import weightTSrc from "../../../kernels/conv2d_weight_t.wgsl" with { type: "text" };
import biasGradSrc from "../../../kernels/conv2d_bias_grad.wgsl" with { type: "text" };
import im2colSrc from "../../../kernels/conv2d_im2col.wgsl" with { type: "text" };
import scatterSrc from "../../../kernels/conv2d_scatter_phase.wgsl" with { type: "text" };
import { gpu } from "../../gpu/device.ts";
import { type BufferRange, type Kernel, kernel, type ScalarType } from "../../gpu/kernel.ts";
import { record } from "../autograd.ts";
import { floatType, grid1d } from "../launch.ts";
import { fmtShape, Tensor } from "../tensor.ts";
import { gemm } from "./matmul.ts";
import { generateDepthwise, generateDepthwisePlane } from "../../../kernels/conv2d_dw_gen.ts";

const DIRECT = kernel("conv2d_direct", directSrc);
const WGRAD = kernel("conv2d_wgrad", wgradSrc);
const REDUCE = kernel("conv2d_reduce_splits", reduceSrc);
const WEIGHT_T = kernel("conv2d_weight_t", weightTSrc);
const BIAS_GRAD = kernel("conv2d_bias_grad", biasGradSrc);
const IM2COL = kernel("conv2d_im2col", im2colSrc);
const SCATTER = kernel("conv2d_scatter_phase", scatterSrc);

/** Bytes of im2col buffer one GEMM chunk may use (images are processed in chunks). */
let colBytes = 48 << 20;

/**
 * Sets the im2col buffer budget of the GEMM route (default 48 MiB; at least one image's
 * columns are always allocated) and returns the previous one. Tests lower it to run the
 * image-chunk loop at small shapes.
 */
export function setIm2colBudget(bytes: number): number {
  const old = colBytes;
  colBytes = bytes;
  return old;
}

/** Options of `conv2d`. */
export interface Conv2dOptions {
  /** Stride in both dimensions (default 1). */
  stride?: number;
  /** Zero padding on every side (default 0). */
  padding?: number;
  /** Groups: 1 (dense), the channel count (depthwise), or any common divisor (default 1). */
  groups?: number;
  /** Bias of shape [out channels], same dtype as x. */
  bias?: Tensor | null;
  /** Layer name for error messages (e.g. `layer1.0.conv1`). */
  name?: string;
}

/** Resolved geometry of one convolution (all sizes in elements). */
export interface ConvGeometry {
  /** Batch. */
  N: number;
  /** Input channels, height, width. */
  C: number;
  /** Input height. */
  H: number;
  /** Input width. */
  W: number;
  /** Output channels. */
  K: number;
  /** Kernel height. */
  KH: number;
  /** Kernel width. */
  KW: number;
  /** Output height. */
  OH: number;
  /** Output width. */
  OW: number;
  /** Stride. */
  stride: number;
  /** Padding. */
  padding: number;
  /** Groups. */
  groups: number;
}

/**
 * Checks the shapes of a convolution and returns its geometry.
 * @throws naming the layer, the shapes and the rule broken
 */
export function conv2dGeometry(
  xShape: readonly number[],
  wShape: readonly number[],
  opts: Conv2dOptions = {},
): ConvGeometry {
  const what = `conv2d${opts.name ? `(${opts.name})` : ""}`;
  const stride = opts.stride ?? 1;
  const padding = opts.padding ?? 0;
  const groups = opts.groups ?? 1;
  const shapes = `input ${fmtShape(xShape)}, weight ${fmtShape(wShape)}`;
  if (xShape.length !== 4) {
    throw new Error(`${what}: input must be 4-D (N, C, H, W); got ${shapes}`);
  }
  if (wShape.length !== 4) {
    throw new Error(`${what}: weight must be 4-D (out, in/groups, kH, kW); got ${shapes}`);
  }
  for (const [k, v, min] of [["stride", stride, 1], ["padding", padding, 0]] as const) {
    if (!Number.isInteger(v) || v < min) {
      throw new Error(`${what}: ${k} must be an integer ≥ ${min}; got ${v} (${shapes})`);
    }
  }
  if (!Number.isInteger(groups) || groups < 1) {
    throw new Error(`${what}: groups must be an integer ≥ 1; got ${groups} (${shapes})`);
  }
  const [N, C, H, W] = xShape;
  const [K, Cig, KH, KW] = wShape;
  if (C % groups !== 0 || K % groups !== 0) {
    throw new Error(
      `${what}: groups ${groups} must divide both the input channels ${C} and the output ` +
        `channels ${K} (${shapes})`,
    );
  }
  if (Cig * groups !== C) {
    throw new Error(
      `${what}: input has ${C} channels but the weight expects ${Cig} × groups ${groups} = ` +
        `${Cig * groups} (${shapes})`,
    );
  }
  if (KH < 1 || KW < 1 || KW > 7 || KH > 7) {
    throw new Error(`${what}: kernel ${KH}×${KW} outside the supported 1..7 (${shapes})`);
  }
  if (3 * stride + KW > 16) {
    throw new Error(
      `${what}: stride ${stride} with a ${KW}-wide kernel is not supported (${shapes})`,
    );
  }
  const OH = Math.floor((H + 2 * padding - KH) / stride) + 1;
  const OW = Math.floor((W + 2 * padding - KW) / stride) + 1;
  if (OH < 1 || OW < 1 || N < 1) {
    throw new Error(
      `${what}: output would be empty (${N}×${K}×${OH}×${OW}): (H + 2·padding − kH) / stride ` +
        `+ 1 must be ≥ 1 in both dimensions, with padding ${padding}, stride ${stride} (${shapes})`,
    );
  }
  return { N, C, H, W, K, KH, KW, OH, OW, stride, padding, groups };
}

function largestDivisor(n: number, options: readonly number[]): number {
  for (const o of options) if (n % o === 0) return o;
  return 1;
}

/** One launch of the direct kernel (forward, or one phase of the backward to input). */
interface DirectLaunch {
  x: Tensor;
  w: Tensor;
  bias: Tensor | null;
  y: Tensor;
  N: number;
  C: number;
  H: number;
  W: number;
  K: number;
  OH: number;
  OW: number;
  Cig: number;
  Cog: number;
  KH: number;
  KW: number;
  S: number;
  padY: number;
  padX: number;
  YH: number;
  YW: number;
  OS: number;
  offY: number;
  offX: number;
  T: ScalarType;
  label: string;
}

/** A sub-range of `t`, `length` elements from element `start` (no Tensor, no retain). */
function span(t: Tensor, start: number, length: number): BufferRange {
  return {
    buffer: t.buffer,
    byteOffset: t.byteOffset + start * t.elementBytes,
    byteLength: length * t.elementBytes,
    elementBytes: t.elementBytes,
  };
}

/**
 * Whether a launch takes the GEMM route: dense (one group), no bias, and enough reduction
 * depth per output (C·KH·KW) for the GEMM's register tile.
 */
function gemmRoute(l: DirectLaunch): boolean {
  return l.Cig === l.C && l.Cog === l.K && !l.bias && l.Cig * l.KH * l.KW >= GEMM_MIN_DEPTH;
}

/** Whether a launch writes y densely (no output dilation or offset). */
function plainOutput(l: DirectLaunch): boolean {
  return l.OS === 1 && l.offY === 0 && l.offX === 0 && l.YH === l.OH && l.YW === l.OW;
}

/** Smallest C·KH·KW routed through the GEMM (the Cin = 3 stems stay direct). */
const GEMM_MIN_DEPTH = 32;

/**
 * Dense convolution as GEMM: y[n] = W[K × C·KH·KW] · col[n], with col = x itself for a 1×1
 * stride-1 unpadded conv whose pixel count is a multiple of 4, else im2col into a buffer of
 * at most `colBytes`, images in chunks (`conv2d_im2col.wgsl`).
 */
function im2colGemm(l: DirectLaunch): void {
  const g = gpu();
  const R = l.C * l.KH * l.KW;
  const P = l.OH * l.OW;
  const eb = l.x.elementBytes;
  const common = { M: l.K, N: P, K: R, lda: R, strideA: 0, dtype: l.T, label: l.label };
  if (l.KH === 1 && l.KW === 1 && l.S === 1 && l.padY === 0 && l.padX === 0 && P % 4 === 0) {
    gemm({
      ...common,
      a: l.w,
      b: l.x,
      c: l.y,
      ldb: P,
      ldc: P,
      batch: l.N,
      strideB: l.C * P,
      strideC: l.K * P,
    });
    return;
  }
  const P4 = Math.ceil(P / 4) * 4;
  const perImage = R * P4;
  // Images per chunk: the column budget, and each chunk's x and y within one binding.
  const limit = g.maxBinding - 256;
  const nb = Math.max(
    1,
    Math.min(
      l.N,
      Math.floor(colBytes / (perImage * eb)),
      Math.floor(limit / (l.C * l.H * l.W * eb)),
      Math.floor(limit / (l.K * P * eb)),
    ),
  );
  const col = Tensor.empty([nb * perImage], l.x.dtype, "conv2d im2col");
  const nxt = Math.ceil(l.OW / 4);
  for (let n0 = 0; n0 < l.N; n0 += nb) {
    const m = Math.min(nb, l.N - n0);
    const total = m * R * l.OH * nxt;
    g.dispatch(IM2COL, {
      label: `${l.label} im2col`,
      bindings: [span(l.x, n0 * l.C * l.H * l.W, m * l.C * l.H * l.W), col],
      params: [l.C, l.H, l.W, l.OH, l.OW, l.padY, l.padX, nxt, R, P4, total],
      workgroups: grid1d(total, 64),
      overrides: { KH: l.KH, KW: l.KW, S: l.S },
      types: { T: l.T },
    });
    gemm({
      ...common,
      a: l.w,
      b: span(col, 0, m * perImage),
      c: span(l.y, n0 * l.K * P, m * l.K * P),
      ldb: P4,
      ldc: P,
      batch: m,
      strideB: perImage,
      strideC: l.K * P,
    });
  }
  col.dispose();
}

/** Generated depthwise kernels by configuration (`kernels/conv2d_dw_gen.ts`). */
const DW_KERNELS = new Map<string, Kernel>();

/** Of `options`, the tile that wastes least of `size` (ties: the earlier option). */
function bestTile(size: number, options: readonly number[]): number {
  let best = size, bestSlots = Infinity;
  for (const t of options) {
    if (t > size) continue;
    const slots = Math.ceil(size / t) * t;
    if (slots < bestSlots) [best, bestSlots] = [t, slots];
  }
  return Math.min(best, size);
}

/** Output tile (pixels × rows) per invocation of the depthwise kernel. */
function depthwiseTile(OW: number, OH: number): [number, number] {
  return [bestTile(OW, [8, 7, 6, 5, 4]), bestTile(OH, [7, 4, 2, 3, 1])];
}

/**
 * Largest input and output planes (elements) of the whole-plane depthwise kernel: 14×14 → 7×7
 * (dw s2 @14) measured 2.30 → 1.83 ms per call against the tiled kernel; larger outputs
 * (14×14 → 14×14) stay tiled.
 */
const PLANE_IN_MAX = 196, PLANE_OUT_MAX = 64;

/**
 * Whether a depthwise launch can take the whole-plane kernel: small planes, channels in
 * groups of 4, no bias, dense output, and x, w, y starting on 16-byte boundaries.
 */
function planeRoute(l: DirectLaunch): boolean {
  const aligned = (t: Tensor) => t.byteOffset % (4 * t.elementBytes) === 0;
  return l.C % 4 === 0 && !l.bias && plainOutput(l) && l.H * l.W <= PLANE_IN_MAX &&
    l.OH * l.OW <= PLANE_OUT_MAX && aligned(l.x) && aligned(l.w) && aligned(l.y);
}

/** Depthwise launch of small planes: 4 channels' whole planes per invocation. */
function depthwisePlane(l: DirectLaunch): void {
  const g = gpu();
  // Images per invocation: share the weight loads when they cost as much as the inputs.
  const NB = l.KH * l.KW >= l.H * l.W / 2 ? Math.min(l.N, 4) : 1;
  const name = `conv2d_dwp_${l.H}x${l.W}_${l.OH}x${l.OW}_${l.KH}x${l.KW}_s${l.S}_` +
    `p${l.padY},${l.padX}_n${NB}`;
  let k = DW_KERNELS.get(name);
  if (!k) {
    k = kernel(
      name,
      generateDepthwisePlane(l.H, l.W, l.OH, l.OW, l.KH, l.KW, l.S, l.padY, l.padX, NB),
    );
    DW_KERNELS.set(name, k);
  }
  const total = Math.ceil(l.N / NB) * l.C / 4;
  g.dispatch(k, {
    label: l.label,
    bindings: [l.x, l.w, l.y],
    params: [l.C / 4, l.N, total],
    workgroups: grid1d(total, 64),
    types: { T: l.T },
  });
}

/** Depthwise launch (Cig = Cog = 1, C = K) through the generated kernel. */
function depthwise(l: DirectLaunch): void {
  if (planeRoute(l)) {
    depthwisePlane(l);
    return;
  }
  const g = gpu();
  const [PX, PY] = depthwiseTile(l.OW, l.OH);
  // Planes of one output pixel (the GDC): several images per invocation share the weights.
  const NB = PX * PY === 1 ? Math.min(l.N, 8) : 1;
  const name = `conv2d_dw_${l.KH}x${l.KW}_s${l.S}_${PX}x${PY}x${NB}`;
  let k = DW_KERNELS.get(name);
  if (!k) {
    k = kernel(name, generateDepthwise(l.KH, l.KW, l.S, PX, PY, NB));
    DW_KERNELS.set(name, k);
  }
  const nxt = Math.ceil(l.OW / PX);
  const nyt = Math.ceil(l.OH / PY);
  const total = Math.ceil(l.N / NB) * l.C * nyt * nxt;
  g.dispatch(k, {
    label: l.label,
    bindings: [l.x, l.w, l.bias ?? g.dummy, l.y],
    params: [
      l.N,
      l.C,
      l.H,
      l.W,
      l.OH,
      l.OW,
      l.padY,
      l.padX,
      l.YH,
      l.YW,
      l.OS,
      l.offY,
      l.offX,
      nxt,
      nyt,
      total,
    ],
    workgroups: grid1d(total, 64),
    overrides: { HAS_BIAS: l.bias ? 1 : 0 },
    types: { T: l.T },
  });
}

function direct(l: DirectLaunch): void {
  if (gemmRoute(l)) {
    if (plainOutput(l)) {
      im2colGemm(l);
      return;
    }
    // A strided phase of the backward to input: GEMM into a dense buffer, then scatter.
    const tmp = Tensor.empty([l.N, l.K, l.OH, l.OW], l.y.dtype, "conv2d phase");
    im2colGemm({ ...l, y: tmp, YH: l.OH, YW: l.OW, OS: 1, offY: 0, offX: 0 });
    gpu().dispatch(SCATTER, {
      label: `${l.label} scatter`,
      bindings: [tmp, l.y],
      params: [l.OH, l.OW, l.YH, l.YW, l.OS, l.offY, l.offX, tmp.size],
      workgroups: grid1d(tmp.size, 64),
      types: { T: l.T },
    });
    tmp.dispose();
    return;
  }
  if (l.Cig === 1 && l.Cog === 1 && l.C === l.K && l.KH * l.KW > 0) {
    depthwise(l);
    return;
  }
  const g = gpu();
  const OCT = largestDivisor(l.Cog, [8, 4, 2, 1]);
  const nxt = Math.ceil(l.OW / 4);
  g.dispatch(DIRECT, {
    label: l.label,
    bindings: [l.x, l.KH * l.KW > 0 ? l.w : g.dummy, l.bias ?? g.dummy, l.y],
    params: [
      l.N,
      l.C,
      l.H,
      l.W,
      l.K,
      l.OH,
      l.OW,
      l.Cig,
      l.Cog,
      l.padY,
      l.padX,
      l.YH,
      l.YW,
      l.OS,
      l.offY,
      l.offX,
      nxt,
    ],
    workgroups: [Math.ceil(l.N * l.OH * nxt / 64), l.K / OCT],
    overrides: { KH: l.KH, KW: l.KW, S: l.S, OCT, HAS_BIAS: l.bias ? 1 : 0 },
    types: { T: l.T },
  });
}

/** Forward convolution without autograd: y = conv(x, w) (+ bias). */
export function conv2dForward(
  x: Tensor,
  w: Tensor,
  bias: Tensor | null,
  geo: ConvGeometry,
): Tensor {
  const { N, C, H, W, K, KH, KW, OH, OW, stride, padding, groups } = geo;
  const y = Tensor.empty([N, K, OH, OW], x.dtype, "conv2d");
  direct({
    x,
    w,
    bias,
    y,
    N,
    C,
    H,
    W,
    K,
    OH,
    OW,
    Cig: C / groups,
    Cog: K / groups,
    KH,
    KW,
    S: stride,
    padY: padding,
    padX: padding,
    YH: OH,
    YW: OW,
    OS: 1,
    offY: 0,
    offX: 0,
    T: floatType("conv2d", x),
    label: `conv2d fwd ${KH}x${KW}${groups > 1 ? (groups === C ? " dw" : " grouped") : ""}`,
  });
  return y;
}

/** One stride phase of the backward to input along one dimension. */
interface Phase {
  /** First tap of the phase. */
  k0: number;
  /** Taps in the phase. */
  T: number;
  /** Padding of the equivalent stride-1 correlation over dY. */
  pad: number;
  /** Output positions of the phase. */
  U: number;
}

function phase(a: number, k: number, s: number, p: number, size: number): Phase {
  const k0 = (a + p) % s;
  const T = k0 < k ? Math.ceil((k - k0) / s) : 0;
  const c = (a + p - k0) / s;
  return { k0, T, pad: T - 1 - c, U: size > a ? Math.ceil((size - a) / s) : 0 };
}

/** Gradient of the convolution with respect to its input (no autograd). */
export function conv2dBackwardInput(dy: Tensor, w: Tensor, geo: ConvGeometry): Tensor {
  const { N, C, H, W, K, KH, KW, OH, OW, stride: s, padding: p, groups } = geo;
  const T = floatType("conv2d backward", dy);
  const Cig = C / groups;
  const Cog = K / groups;
  const dx = Tensor.empty([N, C, H, W], dy.dtype, "conv2d backward input");
  const g = gpu();
  for (let a = 0; a < s; a++) {
    const py = phase(a, KH, s, p, H);
    if (py.U === 0) continue;
    for (let b = 0; b < s; b++) {
      const px = phase(b, KW, s, p, W);
      if (px.U === 0) continue;
      const taps = py.T * px.T;
      let wt: Tensor | null = null;
      if (taps > 0) {
        wt = Tensor.empty([C, Cog, py.T, px.T], w.dtype, "conv2d backward weight-t");
        g.dispatch(WEIGHT_T, {
          label: "conv2d weight-t",
          bindings: [w, wt],
          params: [C, Cig, Cog, KH, KW, py.T, px.T, py.k0, px.k0, s],
          workgroups: grid1d(wt.size, 64),
          types: { T },
        });
      }
      direct({
        x: dy,
        w: wt ?? dy,
        bias: null,
        y: dx,
        N,
        C: K,
        H: OH,
        W: OW,
        K: C,
        OH: py.U,
        OW: px.U,
        Cig: Cog,
        Cog: Cig,
        KH: py.T,
        KW: px.T,
        S: 1,
        padY: py.pad,
        padX: px.pad,
        YH: H,
        YW: W,
        OS: s,
        offY: a,
        offX: b,
        T,
        label: `conv2d bwd-input ${KH}x${KW}`,
      });
      wt?.dispose();
    }
  }
  return dx;
}

/** Bytes of GEMM-route weight-gradient partial sums (one per image slot) at most. */
const WGRAD_PART_BYTES = 32 << 20;
/** GEMM invocations the weight-gradient route aims for per dispatch (image slots × tiles). */
const WGRAD_TARGET = 1024;
/** Image slots forced by `setWgradSlots` (0: chosen per shape). */
let forcedSlots = 0;

/**
 * Forces the number of image slots (partial sums, at most the images per im2col chunk) of
 * the GEMM route of the weight gradient, 0 to choose per shape again; returns the previous
 * setting. Tests use it to run the slot and accumulation paths at small shapes.
 */
export function setWgradSlots(slots: number): number {
  const old = forcedSlots;
  forcedSlots = slots;
  return old;
}

/** Whether the weight gradient takes the GEMM route (see the module notes). */
function wgradGemmRoute(geo: ConvGeometry): boolean {
  return geo.groups === 1 && geo.C * geo.KH * geo.KW >= GEMM_MIN_DEPTH;
}

/**
 * Dense weight gradient as GEMM: dW[K × C·KH·KW] = Σ_n dY_n[K × P] · col_nᵀ, with col = x
 * itself for a 1×1 stride-1 unpadded conv whose pixel count is a multiple of 4, else im2col
 * (`conv2d_im2col.wgsl`, images in chunks as the forward). Each GEMM dispatch runs a batch of
 * `slots` images into as many partial sums (beta = 1 once written), summed at the end by
 * `conv2d_reduce_splits.wgsl`; slots give the GEMM parallelism when the weight is small.
 */
function wgradGemm(x: Tensor, dy: Tensor, geo: ConvGeometry, T: ScalarType): Tensor {
  const { N, C, H, W, K, KH, KW, OH, OW, stride: S, padding } = geo;
  const g = gpu();
  const R = C * KH * KW;
  const P = OH * OW;
  const eb = x.elementBytes;
  const dw = Tensor.empty([K, C, KH, KW], x.dtype, "conv2d backward weight");
  const onX = KH === 1 && KW === 1 && S === 1 && padding === 0 && P % 4 === 0;
  const P4 = onX ? P : Math.ceil(P / 4) * 4;
  const perImage = R * P4;
  const limit = g.maxBinding - 256;
  // Images per im2col chunk: the column budget, and each chunk's x within one binding.
  const nb = onX ? N : Math.max(
    1,
    Math.min(N, Math.floor(colBytes / (perImage * eb)), Math.floor(limit / (C * H * W * eb))),
  );
  const invocations = Math.ceil(K / 16) * Math.ceil(R / 8);
  const slots = Math.max(
    1,
    Math.min(
      nb,
      forcedSlots || Math.ceil(WGRAD_TARGET / invocations),
      Math.floor(Math.min(WGRAD_PART_BYTES, limit) / (K * R * eb)),
    ),
  );
  const part = slots > 1 ? Tensor.empty([slots * K * R], x.dtype, "conv2d wgrad partials") : dw;
  const col = onX ? null : Tensor.empty([nb * perImage], x.dtype, "conv2d im2col");
  const nxt = Math.ceil(OW / 4);
  let written = false;
  for (let n0 = 0; n0 < N; n0 += nb) {
    const m = Math.min(nb, N - n0);
    if (col) {
      const total = m * R * OH * nxt;
      g.dispatch(IM2COL, {
        label: `conv2d bwd-weight ${KH}x${KW} im2col`,
        bindings: [span(x, n0 * C * H * W, m * C * H * W), col],
        params: [C, H, W, OH, OW, padding, padding, nxt, R, P4, total],
        workgroups: grid1d(total, 64),
        overrides: { KH, KW, S },
        types: { T },
      });
    }
    for (let b0 = 0; b0 < m; b0 += slots) {
      const s = Math.min(slots, m - b0);
      gemm({
        M: K,
        N: R,
        K: P,
        a: span(dy, (n0 + b0) * K * P, s * K * P),
        lda: P,
        strideA: K * P,
        b: col ? span(col, b0 * perImage, s * perImage) : span(x, (n0 + b0) * C * P, s * C * P),
        transB: true,
        ldb: P4,
        strideB: perImage,
        c: part,
        ldc: R,
        strideC: K * R,
        batch: s,
        beta: written ? 1 : 0,
        dtype: T,
        label: `conv2d bwd-weight ${KH}x${KW}`,
      });
      written = true;
    }
  }
  col?.dispose();
  if (part !== dw) {
    g.dispatch(REDUCE, {
      label: "conv2d bwd-weight reduce",
      bindings: [part, dw],
      params: [dw.size, slots],
      workgroups: grid1d(dw.size, 64),
      types: { T, PT: T },
    });
    part.dispose();
  }
  return dw;
}

/** Gradient of the convolution with respect to its weight (no autograd). */
export function conv2dBackwardWeight(x: Tensor, dy: Tensor, geo: ConvGeometry): Tensor {
  const { N, C, H, W, K, KH, KW, OH, OW, stride, padding, groups } = geo;
  const T = floatType("conv2d backward", x);
  if (wgradGemmRoute(geo)) return wgradGemm(x, dy, geo, T);
  const Cig = C / groups;
  const Cog = K / groups;
  const OCT = largestDivisor(Cog, KW === 1 ? [8, 4, 2, 1] : [4, 2, 1]);
  const dw = Tensor.empty([K, Cig, KH, KW], x.dtype, "conv2d backward weight");
  const g = gpu();
  const base = Math.ceil(C / 64) * (Cog / OCT) * KH;
  const rows = N * OH;
  let splits = Math.max(1, Math.min(Math.ceil(rows / 4), Math.ceil(64 / base)));
  const rowsPerSplit = Math.ceil(rows / splits);
  splits = Math.ceil(rows / rowsPerSplit);
  const part = splits > 1
    ? Tensor.empty([splits, dw.size], "f32", "conv2d backward weight partials")
    : null;
  g.dispatch(WGRAD, {
    label: `conv2d bwd-weight ${KH}x${KW}`,
    bindings: [x, dy, part ? g.dummy : dw, part ?? g.dummy],
    params: [N, C, H, W, K, OH, OW, Cig, Cog, padding, padding, rowsPerSplit],
    workgroups: [Math.ceil(C / 64), (Cog / OCT) * KH, splits],
    overrides: { KH, KW, S: stride, OCT, SPLIT: part ? 1 : 0 },
    types: { T },
  });
  if (part) {
    g.dispatch(REDUCE, {
      label: "conv2d bwd-weight reduce",
      bindings: [part, dw],
      params: [dw.size, splits],
      workgroups: grid1d(dw.size, 64),
      types: { T, PT: "f32" },
    });
    part.dispose();
  }
  return dw;
}

/** Gradient of a conv bias: the sum of dY over batch and pixels (no autograd). */
export function conv2dBackwardBias(dy: Tensor): Tensor {
  const [N, K, OH, OW] = dy.shape;
  const db = Tensor.empty([K], dy.dtype, "conv2d backward bias");
  gpu().dispatch(BIAS_GRAD, {
    label: "conv2d bwd-bias",
    bindings: [dy, db],
    params: [N, K, OH * OW],
    workgroups: [K],
    types: { T: floatType("conv2d backward", dy) },
  });
  return db;
}

/**
 * PyTorch's `F.conv2d(x, w, bias, stride, padding, groups=groups)` on NCHW `x` and OIHW `w`
 * (same dtype, f32 or f16 with f32 accumulation), with gradients to x, w and bias.
 * Kernels 1×1 to 7×7, any stride, zero padding.
 * @throws when channels, groups or the output size do not fit (message names the layer,
 *   the shapes and the rule)
 */
export function conv2d(x: Tensor, w: Tensor, opts: Conv2dOptions = {}): Tensor {
  const geo = conv2dGeometry(x.shape, w.shape, opts);
  const what = `conv2d${opts.name ? `(${opts.name})` : ""}`;
  const bias = opts.bias ?? null;
  if (x.dtype !== w.dtype) {
    throw new Error(`${what}: input ${x.dtype} and weight ${w.dtype} dtypes differ`);
  }
  if (bias && (bias.rank !== 1 || bias.shape[0] !== geo.K || bias.dtype !== x.dtype)) {
    throw new Error(
      `${what}: bias must be ${x.dtype} [${geo.K}]; got ${bias.dtype} ${fmtShape(bias.shape)}`,
    );
  }
  floatType(what, x);
  const y = conv2dForward(x, w, bias, geo);
  const inputs = bias ? [x, w, bias] : [x, w];
  return record("conv2d", inputs, y, (dy, [xs, ws]) => {
    const dx = x.requiresGrad ? conv2dBackwardInput(dy, ws, geo) : null;
    const dw = w.requiresGrad ? conv2dBackwardWeight(xs, dy, geo) : null;
    const db = bias?.requiresGrad ? conv2dBackwardBias(dy) : null;
    return bias ? [dx, dw, db] : [dx, dw];
  }, [x, w]);
}
