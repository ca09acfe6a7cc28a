/**
 * BatchNorm over dim 1 of (N, C, H, W) or (N, C) tensors, as PyTorch's `F.batch_norm`:
 * training mode normalises with the batch statistics and updates the running statistics in
 * place (momentum 0.1, unbiased variance for the running value); eval mode uses the running
 * statistics. Affine weight and bias are optional (f32), and may be frozen (requiresGrad
 * false). The backward in training mode goes through the batch statistics.
 *
 * Kernels: `batchnorm_stats` (one workgroup per channel, one pass of sums shifted by a pilot mean),
 * `batchnorm_apply` (elementwise, optionally fused with PReLU and a residual add),
 * `batchnorm_grad_reduce` (per-channel Σdz, Σdz·x̂) and `batchnorm_grad_input` (elementwise).
 * Nothing but the input and the 2·C statistics is saved for backward: x̂ and z are
 * recomputed. The activation may be f32 or f16; statistics and parameters are f32.
 * The fused BN+PReLU entry point is `batchNormPrelu` (bn_prelu.ts), built on `bnForward` /
 * `bnBackward` here.
 *
 * @module
 */
import statsSrc from "../../../kernels/batchnorm_stats.wgsl" with { type: "text" };
import applySrc from "../../../kernels/batchnorm_apply.wgsl" with { type: "text" };
import reduceSrc from "../../../kernels/batchnorm_grad_reduce.wgsl" with { type: "text" };
import inputSrc from "../../../kernels/batchnorm_grad_input.wgsl" with { type: "text" };
import { gpu } from "../../gpu/device.ts";
import { f32, kernel } from "../../gpu/kernel.ts";
import { record } from "../autograd.ts";
import { floatType } from "../launch.ts";
import { fmtShape, Tensor } from "../tensor.ts";

const STATS = kernel("batchnorm_stats", statsSrc);
const APPLY = kernel("batchnorm_apply", applySrc);
const GRAD_REDUCE = kernel("batchnorm_grad_reduce", reduceSrc);
const GRAD_INPUT = kernel("batchnorm_grad_input", inputSrc);

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
export function checkBn(op: string, x: Tensor, p: BnParams, opts: BatchNormOptions): void {
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
export function bnForward(
  x: Tensor,
  p: BnParams,
  opts: BatchNormOptions,
): { y: Tensor; stats: Tensor } {
  const [N, C, HW] = dims("batchNorm", x);
  const T = floatType("batchNorm", x);
  const g = gpu();
  const stats = Tensor.empty([2, C], "f32", "batchNorm stats");
  const update = opts.training && !!p.runningMean;
  const scratch = p.runningVar ? null : Tensor.empty([1], "f32", "batchNorm no running stats");
  g.dispatch(STATS, {
    label: opts.training ? "batchnorm stats" : "batchnorm stats eval",
    bindings: [x, p.runningMean ?? g.dummy, p.runningVar ?? scratch!, stats],
    params: [N, C, HW, f32(opts.eps ?? 1e-5), f32(opts.momentum ?? 0.1)],
    workgroups: [C],
    overrides: { TRAINING: opts.training ? 1 : 0, UPDATE: update ? 1 : 0 },
    types: { T },
  });
  scratch?.dispose();
  const y = Tensor.empty(x.shape, x.dtype, p.slope ? "batchNormPrelu" : "batchNorm");
  g.dispatch(APPLY, {
    label: p.slope ? "batchnorm+prelu apply" : "batchnorm apply",
    bindings: [
      x,
      stats,
      p.weight ?? g.dummy,
      p.bias ?? g.dummy,
      p.slope ?? g.dummy,
      p.residual ?? g.dummy,
      y,
    ],
    params: [C, HW],
    workgroups: [Math.ceil(HW / 256), C, N],
    overrides: {
      HAS_W: p.weight ? 1 : 0,
      HAS_B: p.bias ? 1 : 0,
      PRELU: p.slope ? 1 : 0,
      RESIDUAL: p.residual ? 1 : 0,
    },
    types: { T },
  });
  return { y, stats };
}

/**
 * Backward of BatchNorm (+PReLU) without autograd: dx, and the [3, C] f32 sums
 * (Σdz = dβ, Σdz·x̂ = dγ, Σdy·z·[z≤0] = dslope).
 */
export function bnBackward(
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
  g.dispatch(GRAD_REDUCE, {
    label: p.slope ? "batchnorm+prelu grad reduce" : "batchnorm grad reduce",
    bindings: [x, dy, stats, ...opt, sums],
    params: [N, C, HW],
    workgroups: [C],
    overrides,
    types: { T },
  });
  if (!needInput) return { dx: null, sums };
  const dx = Tensor.empty(x.shape, x.dtype, "batchNorm backward input");
  g.dispatch(GRAD_INPUT, {
    label: p.slope ? "batchnorm+prelu grad input" : "batchnorm grad input",
    bindings: [x, dy, stats, ...opt, sums, dx],
    params: [C, HW, f32(N * HW)],
    workgroups: [Math.ceil(HW / 256), C, N],
    overrides: { ...overrides, TRAINING: training ? 1 : 0 },
    types: { T },
  });
  return { dx, sums };
}

/** Row `i` of a [3, C] sums tensor as a fresh [C] tensor (a view on its own storage handle). */
export function sumRow(sums: Tensor, i: number): Tensor {
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
  const op = `batchNorm${opts.name ? `(${opts.name})` : ""}`;
  const p: BnParams = { weight, bias, runningMean, runningVar, slope: null };
  checkBn(op, x, p, opts);
  const { y, stats } = bnForward(x, p, opts);
  const inputs = [x, weight, bias].filter((t): t is Tensor => t !== null);
  const training = opts.training;
  record("batchNorm", inputs, y, (dy, [xs, st, ws, bs]) => {
    const q: BnParams = {
      weight: weight ? ws : null,
      bias: bias ? bs : null,
      runningMean: null,
      runningVar: null,
      slope: null,
    };
    const { dx, sums } = bnBackward(xs, dy, st, q, training, x.requiresGrad);
    const grads: (Tensor | null)[] = [dx];
    if (weight) grads.push(weight.requiresGrad ? sumRow(sums, 1) : null);
    if (bias) grads.push(bias.requiresGrad ? sumRow(sums, 0) : null);
    sums.dispose();
    return grads;
  }, [x, stats, weight ?? stats, bias ?? stats]);
  stats.dispose();
  return y;
}
