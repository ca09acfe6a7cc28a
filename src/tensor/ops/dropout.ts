/**
 * Inverted dropout with a mask recomputed from (seed, index) in the backward, so no mask is
 * stored. Identity when p = 0 or in eval mode.
 *
 * @module
 */
import src from "../../../kernels/dropout.wgsl" with { type: "text" };
import { gpu } from "../../gpu/device.ts";
import { f32, kernel } from "../../gpu/kernel.ts";
import { record } from "../autograd.ts";
import { floatType, grid1d } from "../launch.ts";
import { Tensor } from "../tensor.ts";
import { copy } from "./elementwise.ts";

const DROPOUT = kernel("dropout", src);

function apply(x: Tensor, p: number, seed: number): Tensor {
  const out = Tensor.empty(x.shape, x.dtype, "dropout");
  gpu().dispatch(DROPOUT, {
    label: "dropout",
    bindings: [x, out],
    params: [
      x.size,
      seed >>> 0,
      Math.min(Math.round(p * 2 ** 32), 2 ** 32 - 1) | 0,
      f32(1 / (1 - p)),
    ],
    workgroups: grid1d(x.size),
    types: { T: floatType("dropout", x) },
  });
  return out;
}

/**
 * Zeroes each element with probability `p` and scales the rest by 1/(1−p).
 * @param seed selects the mask; use a new seed every step
 */
export function dropout(x: Tensor, p: number, seed: number, training = true): Tensor {
  if (!(p >= 0 && p < 1)) throw new Error(`dropout: p = ${p} must be in [0, 1)`);
  if (!training || p === 0) return copy(x);
  const out = apply(x, p, seed);
  return record("dropout", [x], out, (g) => [apply(g, p, seed)]);
}
