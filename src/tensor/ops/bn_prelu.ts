/**
 * BatchNorm followed by PReLU, or by a residual add, fused: the BN kernels apply the PReLU
 * (or add the residual) in the same single forward dispatch, and the backward dispatch takes
 * the PReLU's gradient with it, so the BN output is never stored. Both are the shared
 * `bnOp` of `batchnorm.ts`. The `kernels` bench measures them (`bn+prelu` rows).
 *
 * @module
 */
import type { Tensor } from "../tensor.ts";
import { type BatchNormOptions, bnOp } from "./batchnorm.ts";

/**
 * `prelu(batchNorm(x, weight, bias, runningMean, runningVar, opts), slope)` in one pass,
 * with gradients to x, weight, bias and slope (same semantics as the two ops).
 * @throws when a parameter's shape does not match the channels
 */
export function batchNormPrelu(
  x: Tensor,
  weight: Tensor | null,
  bias: Tensor | null,
  runningMean: Tensor | null,
  runningVar: Tensor | null,
  slope: Tensor,
  opts: BatchNormOptions,
): Tensor {
  return bnOp("batchNormPrelu", x, { weight, bias, runningMean, runningVar, slope }, opts);
}

/**
 * `batchNorm(x, …) + residual` in one elementwise pass (IResNet's BN3 plus the identity).
 * The gradient flows to x, weight, bias and (unchanged) to the residual.
 */
export function batchNormAdd(
  x: Tensor,
  weight: Tensor | null,
  bias: Tensor | null,
  runningMean: Tensor | null,
  runningVar: Tensor | null,
  residual: Tensor,
  opts: BatchNormOptions,
): Tensor {
  return bnOp(
    "batchNormAdd",
    x,
    { weight, bias, runningMean, runningVar, slope: null, residual },
    opts,
  );
}
