/**
 * Row and column reductions of 2-D tensors (sum, mean, max, L2 norm) with their gradients.
 * Axis 1 reduces each row (R×C → R), axis 0 each column (R×C → C).
 *
 * @module
 */
import rowsSrc from "../../../kernels/reduce_rows.wgsl" with { type: "text" };
import colsSrc from "../../../kernels/reduce_cols.wgsl" with { type: "text" };
import gradSrc from "../../../kernels/reduce_grad.wgsl" with { type: "text" };
import { gpu } from "../../gpu/device.ts";
import { kernel } from "../../gpu/kernel.ts";
import { record } from "../autograd.ts";
import { expectRank, floatType, grid1d } from "../launch.ts";
import { Tensor } from "../tensor.ts";
import { reshape } from "./shape.ts";

const ROWS = kernel("reduce_rows", rowsSrc);
const COLS = kernel("reduce_cols", colsSrc);
const GRAD = kernel("reduce_grad", gradSrc);

/** The reductions. */
export type Reduction = "sum" | "mean" | "max" | "l2";
const CODE: Record<Reduction, number> = { sum: 0, mean: 1, max: 2, l2: 3 };

function reduceRaw(x: Tensor, axis: 0 | 1, how: Reduction): { out: Tensor; idx: Tensor | null } {
  const op = `${how}(axis ${axis})`;
  expectRank(op, x, 2);
  if (axis !== 0 && axis !== 1) throw new Error(`${op}: axis must be 0 or 1`);
  const T = floatType(op, x);
  const [R, C] = x.shape;
  if ((axis === 1 ? C : R) === 0 && how !== "sum") {
    throw new Error(`${op}: cannot reduce an empty axis of [${x.shape}]`);
  }
  const n = axis === 1 ? R : C;
  const out = Tensor.empty([n], x.dtype, op);
  const idx = how === "max" ? Tensor.empty([n], "i32", op) : null;
  const g = gpu();
  const common = {
    label: `reduce ${how} axis ${axis}`,
    bindings: [x, out, idx ?? g.dummy],
    params: [R, C],
    overrides: { OP: CODE[how] },
    types: { T },
  };
  if (axis === 1) {
    g.dispatch(ROWS, { ...common, workgroups: grid1d(R, 1) });
  } else g.dispatch(COLS, { ...common, workgroups: grid1d(C, 64) });
  return { out, idx };
}

function reduce(x: Tensor, axis: 0 | 1, how: Reduction): Tensor {
  const { out, idx } = reduceRaw(x, axis, how);
  const saved = how === "l2" ? [x, out] : how === "max" ? [idx!] : [];
  const [R, C] = x.shape;
  const res = record(`${how}Axis`, [x], out, (grad, s) => {
    const dx = Tensor.empty(x.shape, x.dtype, `${how}Axis backward`);
    const g = gpu();
    const xs = how === "l2" ? s[0] : g.dummy;
    const ys = how === "l2" ? s[1] : g.dummy;
    const is = how === "max" ? s[0] : g.dummy;
    g.dispatch(GRAD, {
      label: `reduce ${how} axis ${axis} backward`,
      bindings: [grad, xs, ys, is, dx],
      params: [R, C],
      workgroups: grid1d(R * C),
      overrides: { OP: CODE[how], AXIS: axis },
      types: { T: floatType("reduce backward", x) },
    });
    return [dx];
  }, saved);
  idx?.dispose();
  return res;
}

/** Sum over `axis` of a 2-D tensor. */
export function sumAxis(x: Tensor, axis: 0 | 1): Tensor {
  return reduce(x, axis, "sum");
}

/** Mean over `axis` of a 2-D tensor. */
export function meanAxis(x: Tensor, axis: 0 | 1): Tensor {
  return reduce(x, axis, "mean");
}

/** Maximum over `axis` of a 2-D tensor (the gradient goes to the first maximum). */
export function maxAxis(x: Tensor, axis: 0 | 1): Tensor {
  return reduce(x, axis, "max");
}

/** Max and the (first) index of the maximum over `axis` (no autograd). */
export function argmaxAxis(x: Tensor, axis: 0 | 1): { values: Tensor; indices: Tensor } {
  const { out, idx } = reduceRaw(x, axis, "max");
  return { values: out, indices: idx! };
}

/** L2 norm over `axis` of a 2-D tensor (the gradient is 0 where the norm is 0). */
export function l2NormAxis(x: Tensor, axis: 0 | 1): Tensor {
  return reduce(x, axis, "l2");
}

/** Sum of all elements, as a [1] tensor. */
export function sumAll(x: Tensor): Tensor {
  return sumAxis(reshape(x, [1, x.size]), 1);
}
