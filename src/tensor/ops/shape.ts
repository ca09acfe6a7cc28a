/**
 * Shape ops with autograd: reshape and flatten (views, no copy).
 *
 * @module
 */
import { record } from "../autograd.ts";
import { fmtShape, numel, type Tensor } from "../tensor.ts";

/** The same elements with another shape; one dimension may be −1 (inferred). */
export function reshape(x: Tensor, shape: readonly number[]): Tensor {
  const free = shape.indexOf(-1);
  let s = [...shape];
  if (free >= 0) {
    const rest = numel(shape.filter((_, i) => i !== free));
    if (rest === 0 || x.size % rest !== 0) {
      throw new Error(`reshape: cannot infer -1 in ${fmtShape(shape)} for ${fmtShape(x.shape)}`);
    }
    s = shape.map((d, i) => (i === free ? x.size / rest : d));
  }
  if (numel(s) !== x.size) {
    throw new Error(`reshape: ${fmtShape(x.shape)} (${x.size}) cannot become ${fmtShape(s)}`);
  }
  const out = x.view(s);
  return record("reshape", [x], out, (g) => [g.view(x.shape)]);
}

/** Flattens all dimensions from `start` on: [N, C, H, W] → [N, C·H·W] with start 1. */
export function flatten(x: Tensor, start = 1): Tensor {
  return reshape(x, [...x.shape.slice(0, start), numel(x.shape.slice(start))]);
}
