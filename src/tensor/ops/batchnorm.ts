/**
 * BatchNorm over dim 1 of (N, C, H, W) or (N, C) tensors, as PyTorch's `F.batch_norm`:
 * training mode normalises with the batch statistics and updates the running statistics in
 * place (momentum 0.1, unbiased variance for the running value); eval mode uses the running
 * statistics. Affine weight and bias are optional (f32), and may be frozen (requiresGrad
 * false). The backward in training mode goes through the batch statistics.
 *
 * Kernels: `batchnorm_fwd` (one dispatch: per-channel statistics, one pass of sums shifted by a
 * pilot mean, then the apply, optionally fused with PReLU, by the same workgroup) and
 * `batchnorm_bwd` (one dispatch: per-channel Σdz, Σdz·x̂ (, Σdy·z·[z≤0]) then the input
 * gradient), optionally with a residual add (`batchNormAdd`, bound where the PReLU slopes
 * go). 4-wide vector variants (see `bnLayout`).
 * Nothing but the input and the 2·C statistics is saved for backward: x̂ and z are
 * recomputed. The activation may be f32 or f16; statistics and parameters are f32.
 * The fused BN+PReLU entry point is `batchNormPrelu` (bn_prelu.ts), built on `bnForward` /
 * `bnBackward` here.
 *
 * @module
 */
import fwdSrc from "../../../kernels/batchnorm_fwd.wgsl" with { type: "text" };
import bwdSrc from "../../../kernels/batchnorm_bwd.wgsl" with { type: "text" };
import { gpu } from "../../gpu/device.ts";
import { f32, kernel } from "../../gpu/kernel.ts";
import { record } from "../autograd.ts";
import { copy } from "./elementwise.ts";
import { floatType } from "../launch.ts";
import { fmtShape, Tensor } from "../tensor.ts";

/** The element-type prefix of the fused kernels: 4-wide vectors or scalars. */
const VEC4 = "alias V = vec4<T>;\nalias F = vec4<f32>;\nconst VW = 4u;\n" +
  "fn hsum(v: F) -> f32 { return (v.x + v.y) + (v.z + v.w); }\n" +
  "fn comp(v: V, j: u32) -> f32 { return f32(v[j]); }\n" +
  "fn inRun(q: u32, r0: u32, r1: u32) -> vec4<bool> {\n" +
  "  if (!RAGGED) { return vec4<bool>(true); }\n" +
  "  let i = vec4u(4u * q) + vec4u(0u, 1u, 2u, 3u);\n" +
  "  return (i >= vec4u(r0)) & (i < vec4u(r1));\n}\n" +
  "fn storeMasked(q: u32, v: V, m: vec4<bool>) {\n" +
  "  if (m.x) { out[q].x = v.x; }\n  if (m.y) { out[q].y = v.y; }\n" +
  "  if (m.z) { out[q].z = v.z; }\n  if (m.w) { out[q].w = v.w; }\n}\n";
const SCALAR = "alias V = T;\nalias F = f32;\nconst VW = 1u;\n" +
  "fn hsum(v: F) -> f32 { return v; }\n" +
  "fn comp(v: V, j: u32) -> f32 { return f32(v); }\n" +
  "fn inRun(q: u32, r0: u32, r1: u32) -> bool { return true; }\n" +
  "fn storeMasked(q: u32, v: V, m: bool) { if (m) { out[q] = v; } }\n";
const SLOPE7 = "@group(0) @binding(7) var<storage, read> b7: array<f32>;\n" +
  "fn slopeAt(i: u32) -> f32 { return b7[i]; }\nfn resAt(q: u32) -> F { return F(0.0); }\n";
const RES7 = "@group(0) @binding(7) var<storage, read> b7: array<V>;\n" +
  "fn slopeAt(i: u32) -> f32 { return 0.0; }\nfn resAt(q: u32) -> F { return F(b7[q]); }\n";
/** batchnorm_fwd variants: [scalar, vec4] × [slope at binding 7, residual at binding 7]. */
const FWD = [
  [
    kernel("batchnorm_fwd", SCALAR + SLOPE7 + fwdSrc),
    kernel("batchnorm_add_fwd", SCALAR + RES7 + fwdSrc),
  ],
  [
    kernel("batchnorm_fwd_v4", VEC4 + SLOPE7 + fwdSrc),
    kernel("batchnorm_add_fwd_v4", VEC4 + RES7 + fwdSrc),
  ],
];
const BWD = [kernel("batchnorm_bwd", SCALAR + bwdSrc), kernel("batchnorm_bwd_v4", VEC4 + bwdSrc)];

let cpuAdapter: boolean | undefined;
let forced: { lpc: number; wg: number } | null = null;

/**
 * Forces the lane layout of the fused kernels (`lpc` lanes per channel, a power of 2 ≤ `wg`;
 * `wg` lanes per workgroup, ≤ 256), or restores the adapter's choice with null: lets the
 * tests on one adapter cover the layout another adapter gets (see `bnLayout`).
 * @throws when the layout is not one the kernels support
 */
export function setBnLayout(layout: { lpc: number; wg: number } | null): void {
  if (layout) {
    const { lpc, wg } = layout;
    const pow2 = (v: number) => Number.isInteger(v) && v >= 1 && (v & (v - 1)) === 0;
    if (!pow2(lpc) || !pow2(wg) || lpc > wg || wg > 256) {
      throw new Error(
        `setBnLayout: lpc ${lpc} and wg ${wg} must be powers of 2 with lpc ≤ wg ≤ 256`,
      );
    }
  }
  forced = layout && { ...layout };
}

/**
 * How the fused kernels lay channels on lanes: `vec` 4-wide loads when every activation
 * starts at, and holds, a multiple of 4 elements and HW ≥ 4 (when HW is not a multiple of 4
 * the steps straddle the (n, c) runs and are masked, `RAGGED`); `lpc` lanes per channel and
 * `wg` lanes per workgroup (wg / lpc channels per workgroup). On a CPU adapter (lavapipe:
 * 8-wide SIMD, one thread per workgroup, per-lane loads, every barrier a switch between the
 * SIMD groups) one lane per channel and 8 per workgroup measured fastest at every shape of
 * the `kernels` bench (no barrier, uniform loop counts); elsewhere a channel gets a 64-lane
 * workgroup. See kernels/batchnorm_fwd.wgsl for the figures.
 */
export function bnLayout(
  HW: number,
  acts: readonly Tensor[],
): { vec: boolean; lpc: number; wg: number } {
  const vec = HW >= 4 && acts.every((t) => t.offset % 4 === 0 && t.size % 4 === 0);
  if (forced) return { vec, ...forced };
  cpuAdapter ??= gpu().adapter.info.isFallbackAdapter;
  return cpuAdapter ? { vec, lpc: 1, wg: 8 } : { vec, lpc: 64, wg: 64 };
}

/** Options of `batchNorm`. */
export interface BatchNormOptions {
  /** Batch statistics (and running-statistics update) when true; running statistics when false. */
  training: boolean;
  /** Running-statistics momentum (PyTorch default 0.1). */
  momentum?: number;
  /** Added to the variance (default 1e-5). */
  eps?: number;
  /** Layer name for error messages (e.g. `layer1.0.bn1`). */
  name?: string;
}

/** The parameters of one BatchNorm (+PReLU) application. */
export interface BnParams {
  /** γ [C] (f32) or null for 1. */
  weight: Tensor | null;
  /** β [C] (f32) or null for 0. */
  bias: Tensor | null;
  /** Running mean [C] (f32), updated in place in training mode; may be null in training. */
  runningMean: Tensor | null;
  /** Running variance [C] (f32), updated in place in training mode. */
  runningVar: Tensor | null;
  /** PReLU slopes [C] (f32) for the fused op, else null. */
  slope: Tensor | null;
  /** Residual added after BN (+PReLU), same shape as x, else null (no gradient flows here). */
  residual?: Tensor | null;
}

/** (N, C, HW) of a 2-D or 4-D activation. */
function dims(op: string, x: Tensor): [number, number, number] {
  if (x.rank !== 2 && x.rank !== 4) {
    throw new Error(`${op}: input must be (N, C) or (N, C, H, W); got ${fmtShape(x.shape)}`);
  }
  const [N, C] = x.shape;
  return [N, C, x.rank === 4 ? x.shape[2] * x.shape[3] : 1];
}

/**
 * Validates the parameters against the input.
 * @throws naming the op, the shapes and the rule broken
 */
function checkBn(op: string, x: Tensor, p: BnParams, opts: BatchNormOptions): void {
  const [N, C, HW] = dims(op, x);
  floatType(op, x);
  const named: [string, Tensor | null][] = [
    ["weight", p.weight],
    ["bias", p.bias],
    ["running_mean", p.runningMean],
    ["running_var", p.runningVar],
    ["slope", p.slope],
  ];
  for (const [what, t] of named) {
    if (t && (t.rank !== 1 || t.shape[0] !== C || t.dtype !== "f32")) {
      throw new Error(
        `${op}: ${what} must be f32 [${C}] for input ${fmtShape(x.shape)} with ${C} channels; ` +
          `got ${t.dtype} ${fmtShape(t.shape)}`,
      );
    }
  }
  if (!!p.runningMean !== !!p.runningVar) {
    throw new Error(`${op}: give both running_mean and running_var, or neither`);
  }
  if (!opts.training && !p.runningMean) {
    throw new Error(`${op}: eval mode needs running_mean and running_var`);
  }
  if (opts.training && N * HW < 2) {
    throw new Error(
      `${op}: expected more than 1 value per channel when training, got input ` +
        `${fmtShape(x.shape)}`,
    );
  }
  if (p.residual && p.residual.shape.join() !== x.shape.join()) {
    throw new Error(
      `${op}: residual ${fmtShape(p.residual.shape)} must match input ${fmtShape(x.shape)}`,
    );
  }
}

/** Forward of BatchNorm (+PReLU, +residual) without autograd; returns y and the statistics. */
function bnForward(
  x: Tensor,
  p: BnParams,
  opts: BatchNormOptions,
): { y: Tensor; stats: Tensor } {
  const [N, C, HW] = dims("batchNorm", x);
  const T = floatType("batchNorm", x);
  const g = gpu();
  const stats = Tensor.empty([2, C], "f32", "batchNorm stats");
  const update = opts.training && !!p.runningMean;
  const y = Tensor.empty(
    x.shape,
    x.dtype,
    p.slope ? "batchNormPrelu" : p.residual ? "batchNormAdd" : "batchNorm",
  );
  const { vec, lpc, wg } = bnLayout(HW, p.residual ? [x, y, p.residual] : [x, y]);
  const scratch = p.runningMean ? [] : [0, 1].map(() => Tensor.empty([1], "f32", "no stats"));
  g.dispatch(FWD[vec ? 1 : 0][p.residual ? 1 : 0], {
    label: p.slope ? "batchnorm+prelu fwd" : p.residual ? "batchnorm+add fwd" : "batchnorm fwd",
    bindings: [
      x,
      p.runningMean ?? scratch[0],
      p.runningVar ?? scratch[1],
      stats,
      p.weight ?? g.dummy,
      p.bias ?? g.dummy,
      p.residual ?? p.slope ?? g.dummy,
      y,
    ],
    params: [N, C, HW, f32(opts.eps ?? 1e-5), f32(opts.momentum ?? 0.1)],
    workgroups: [Math.ceil(C / (wg / lpc))],
    overrides: {
      TRAINING: opts.training ? 1 : 0,
      UPDATE: update ? 1 : 0,
      HAS_W: p.weight ? 1 : 0,
      HAS_B: p.bias ? 1 : 0,
      PRELU: p.slope ? 1 : 0,
      RESIDUAL: p.residual ? 1 : 0,
      LPC: lpc,
      WG: wg,
      RAGGED: HW % 4 ? 1 : 0,
    },
    types: { T },
  });
  for (const t of scratch) t.dispose();
  return { y, stats };
}

/**
 * Backward of BatchNorm (+PReLU) without autograd: dx, and the [3, C] f32 sums
 * (Σdz = dβ, Σdz·x̂ = dγ, Σdy·z·[z≤0] = dslope).
 */
function bnBackward(
  x: Tensor,
  dy: Tensor,
  stats: Tensor,
  p: BnParams,
  training: boolean,
  needInput: boolean,
): { dx: Tensor | null; sums: Tensor } {
  const [N, C, HW] = dims("batchNorm backward", x);
  const T = floatType("batchNorm backward", x);
  const g = gpu();
  const sums = Tensor.empty([3, C], "f32", "batchNorm backward sums");
  const overrides = {
    HAS_W: p.weight ? 1 : 0,
    HAS_B: p.bias ? 1 : 0,
    PRELU: p.slope ? 1 : 0,
  };
  const opt = [p.weight ?? g.dummy, p.bias ?? g.dummy, p.slope ?? g.dummy];
  const dx = needInput ? Tensor.empty(x.shape, x.dtype, "batchNorm backward input") : null;
  const noDx = dx ? null : Tensor.empty([4], x.dtype, "batchNorm backward no input");
  const { vec, lpc, wg } = bnLayout(HW, [x, dy, ...(dx ? [dx] : [])]);
  g.dispatch(BWD[vec ? 1 : 0], {
    label: p.slope ? "batchnorm+prelu bwd" : "batchnorm bwd",
    bindings: [x, dy, stats, ...opt, sums, dx ?? noDx!],
    params: [N, C, HW],
    workgroups: [Math.ceil(C / (wg / lpc))],
    overrides: {
      ...overrides,
      TRAINING: training ? 1 : 0,
      NEED_DX: dx ? 1 : 0,
      LPC: lpc,
      WG: wg,
      RAGGED: HW % 4 ? 1 : 0,
    },
    types: { T },
  });
  noDx?.dispose();
  return { dx, sums };
}

/** Row `i` of a [3, C] sums tensor as a fresh [C] tensor (a view on its own storage handle). */
function sumRow(sums: Tensor, i: number): Tensor {
  const C = sums.shape[1];
  const r = sums.rows(i, i + 1);
  const v = r.view([C]);
  r.dispose();
  return v;
}

/**
 * PyTorch's `F.batch_norm(x, running_mean, running_var, weight, bias, training, momentum,
 * eps)` over dim 1 of an (N, C, H, W) or (N, C) tensor, with gradients to x, weight and
 * bias. In training mode the running statistics are updated in place.
 * @throws when a parameter's shape does not match the channels (naming the layer and shapes)
 */
export function batchNorm(
  x: Tensor,
  weight: Tensor | null,
  bias: Tensor | null,
  runningMean: Tensor | null,
  runningVar: Tensor | null,
  opts: BatchNormOptions,
): Tensor {
  return bnOp("batchNorm", x, { weight, bias, runningMean, runningVar, slope: null }, opts);
}

/**
 * The autograd op shared by {@link batchNorm} and the fused `batchNormPrelu` / `batchNormAdd`
 * (`kind` names it): checks, one forward dispatch, and a backward whose gradients follow the
 * inputs x, weight, bias, slope, residual (those present).
 */
export function bnOp(kind: string, x: Tensor, p: BnParams, opts: BatchNormOptions): Tensor {
  const { weight, bias, slope } = p;
  const residual = p.residual ?? null;
  checkBn(`${kind}${opts.name ? `(${opts.name})` : ""}`, x, p, opts);
  const { y, stats } = bnForward(x, p, opts);
  const inputs = [x, weight, bias, slope, residual].filter((t): t is Tensor => t !== null);
  const training = opts.training;
  record(kind, inputs, y, (dy, [xs, st, ws, bs, ss]) => {
    const q: BnParams = {
      weight: weight ? ws : null,
      bias: bias ? bs : null,
      runningMean: null,
      runningVar: null,
      slope: slope ? ss : null,
    };
    const { dx, sums } = bnBackward(xs, dy, st, q, training, x.requiresGrad);
    const grads: (Tensor | null)[] = [dx];
    if (weight) grads.push(weight.requiresGrad ? sumRow(sums, 1) : null);
    if (bias) grads.push(bias.requiresGrad ? sumRow(sums, 0) : null);
    if (slope) grads.push(slope.requiresGrad ? sumRow(sums, 2) : null);
    if (residual) grads.push(residual.requiresGrad ? copy(dy) : null);
    sums.dispose();
    return grads;
  }, [x, stats, weight ?? stats, bias ?? stats, slope ?? stats]);
  stats.dispose();
  return y;
}
