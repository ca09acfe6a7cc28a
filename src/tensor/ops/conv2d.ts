/**
 * 2-D convolution (PyTorch `F.conv2d`: cross-correlation, zero padding, groups, optional bias)
 * with its gradients to the input, the weight and the bias. Activations are NCHW and weights
 * OIHW at the API and inside: PyTorch state dicts load unchanged and no layout conversion
 * runs at the op boundary.
 *
 * Algorithm (one direct kernel for every shape class of IResNet and MobileFaceNet; see the
 * WGSL headers):
 * - forward: `conv2d_direct.wgsl`, OCT output channels × 4 pixels per invocation, weights
 *   broadcast across lanes, input window gathered once per (channel, kernel row).
 * - backward to input: the same kernel run on dY, once per stride phase (1 phase at stride 1,
 *   4 at stride 2): for the pixels iy ≡ a (mod s) only the taps ky ≡ (a + pad) (mod s)
 *   contribute, and they form a stride-1 correlation of dY with a re-arranged, flipped
 *   sub-kernel (`conv2d_weight_t.wgsl`), written into dX at stride s. No zero-insertion,
 *   no col2im buffer, no atomics.
 * - backward to weight: `conv2d_wgrad.wgsl`, lanes along input channels, the (n, oy) rows
 *   split over workgroups when the weight is small, partials summed by
 *   `conv2d_reduce_splits.wgsl`.
 *
 * Why direct and NCHW rather than im2col + GEMM or NHWC: on lavapipe (2 CPU cores, lanes as
 * 8-wide SIMD, no fast workgroup memory) the throwaway direct kernel of DESIGN.md reached
 * 6.6 GFLOP/s on 8×64×56×56 3×3 while the register-tiled GEMM reaches 5.6 on 1024³ before
 * paying for an im2col buffer (231 MB for 8×64×112×112 3×3, over the 128 MiB binding
 * limit). Measured here (same run, other jobs on the cores): 8×64×56×56 → 64 3×3 forward
 * ours 6.4 GFLOP/s vs tfjs conv2d 6.1; the per-row figures are in the `kernels` bench.
 *
 * @module
 */
import directSrc from "../../../kernels/conv2d_direct.wgsl" with { type: "text" };
import wgradSrc from "../../../kernels/conv2d_wgrad.wgsl" with { type: "text" };
import reduceSrc from "../../../kernels/conv2d_reduce_splits.wgsl" with { type: "text" };
import weightTSrc from "../../../kernels/conv2d_weight_t.wgsl" with { type: "text" };
import biasGradSrc from "../../../kernels/conv2d_bias_grad.wgsl" with { type: "text" };
import { gpu } from "../../gpu/device.ts";
import { kernel, type ScalarType } from "../../gpu/kernel.ts";
import { record } from "../autograd.ts";
import { floatType, grid1d } from "../launch.ts";
import { fmtShape, Tensor } from "../tensor.ts";

const DIRECT = kernel("conv2d_direct", directSrc);
const WGRAD = kernel("conv2d_wgrad", wgradSrc);
const REDUCE = kernel("conv2d_reduce_splits", reduceSrc);
const WEIGHT_T = kernel("conv2d_weight_t", weightTSrc);
const BIAS_GRAD = kernel("conv2d_bias_grad", biasGradSrc);

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

function direct(l: DirectLaunch): void {
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

/** Gradient of the convolution with respect to its weight (no autograd). */
export function conv2dBackwardWeight(x: Tensor, dy: Tensor, geo: ConvGeometry): Tensor {
  const { N, C, H, W, K, KH, KW, OH, OW, stride, padding, groups } = geo;
  const T = floatType("conv2d backward", x);
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
      types: { T },
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
