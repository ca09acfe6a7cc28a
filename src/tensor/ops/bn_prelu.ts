/**
 * BatchNorm followed by PReLU (and optionally a residual add), fused: one statistics pass and
 * one elementwise pass forward, one reduction and one elementwise pass backward, instead of
 * BN's four plus PReLU's three. The BN output z is recomputed in the kernels from x and the
 * statistics rather than stored. The `kernels` bench measures it against the unfused pair
 * (`bn+prelu` rows).
 *
 * @module
 */
import { record } from "../autograd.ts";
import { copy } from "./elementwise.ts";
import type { Tensor } from "../tensor.ts";
import {
  type BatchNormOptions,
  bnBackward,
  bnForward,
  type BnParams,
  checkBn,
  sumRow,
} from "./batchnorm.ts";

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
  const op = `batchNormPrelu${opts.name ? `(${opts.name})` : ""}`;
  const p: BnParams = { weight, bias, runningMean, runningVar, slope };
  checkBn(op, x, p, opts);
  const { y, stats } = bnForward(x, p, opts);
  const inputs = [x, weight, bias, slope].filter((t): t is Tensor => t !== null);
  const training = opts.training;
  record("batchNormPrelu", inputs, y, (dy, [xs, st, ws, bs, ss]) => {
    const q: BnParams = {
      weight: weight ? ws : null,
      bias: bias ? bs : null,
      runningMean: null,
      runningVar: null,
      slope: ss,
    };
    const { dx, sums } = bnBackward(xs, dy, st, q, training, x.requiresGrad);
    const grads: (Tensor | null)[] = [dx];
    if (weight) grads.push(weight.requiresGrad ? sumRow(sums, 1) : null);
    if (bias) grads.push(bias.requiresGrad ? sumRow(sums, 0) : null);
    grads.push(slope.requiresGrad ? sumRow(sums, 2) : null);
    sums.dispose();
    return grads;
  }, [x, stats, weight ?? stats, bias ?? stats, slope]);
  stats.dispose();
  return y;
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
  const op = `batchNormAdd${opts.name ? `(${opts.name})` : ""}`;
  const p: BnParams = { weight, bias, runningMean, runningVar, slope: null, residual };
  checkBn(op, x, p, opts);
  const { y, stats } = bnForward(x, p, opts);
  const inputs = [x, weight, bias, residual].filter((t): t is Tensor => t !== null);
  const training = opts.training;
  record("batchNormAdd", inputs, y, (dy, [xs, st, ws, bs]) => {
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
    grads.push(residual.requiresGrad ? copy(dy) : null);
    sums.dispose();
    return grads;
  }, [x, stats, weight ?? stats, bias ?? stats]);
  stats.dispose();
  return y;
}
