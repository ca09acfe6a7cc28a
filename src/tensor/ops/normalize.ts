/**
 * Row L2-normalisation (PyTorch `F.normalize(x, dim=1)`, eps 1e-12) with its gradient; used
 * for embeddings and Partial FC class centres.
 *
 * @module
 */
import src from "../../../kernels/normalize_rows.wgsl" with { type: "text" };
import { gpu } from "../../gpu/device.ts";
import { f32, kernel } from "../../gpu/kernel.ts";
import { record } from "../autograd.ts";
import { expectRank, floatType, grid1d } from "../launch.ts";
import { Tensor } from "../tensor.ts";

const NORMALIZE = kernel("normalize_rows", src);

/** Rows of `x` divided by max(‖row‖, eps). With `norms`, also returns the row norms (f32). */
export function normalizeRows(x: Tensor, eps = 1e-12): Tensor {
  return normalizeRowsWithNorms(x, eps).y;
}

/** Like `normalizeRows`, also returning each row's norm before normalisation (no grad). */
export function normalizeRowsWithNorms(x: Tensor, eps = 1e-12): { y: Tensor; norms: Tensor } {
  expectRank("normalizeRows", x, 2);
  const T = floatType("normalizeRows", x);
  const [R, C] = x.shape;
  const y = Tensor.empty(x.shape, x.dtype, "normalizeRows");
  const norms = Tensor.empty([R], "f32", "normalizeRows norms");
  const g = gpu();
  g.dispatch(NORMALIZE, {
    label: "normalize rows",
    bindings: [x, g.dummy, y, norms],
    params: [R, C, f32(eps)],
    workgroups: grid1d(R, 1),
    overrides: { BACKWARD: 0 },
    types: { T },
  });
  record("normalizeRows", [x], y, (grad, [xs]) => {
    const dx = Tensor.empty(x.shape, x.dtype, "normalizeRows backward");
    const gg = gpu();
    gg.dispatch(NORMALIZE, {
      label: "normalize rows backward",
      bindings: [xs, grad, dx, gg.dummy],
      params: [R, C, f32(eps)],
      workgroups: grid1d(R, 1),
      overrides: { BACKWARD: 1 },
      types: { T },
    });
    return [dx];
  }, [x]);
  return { y, norms };
}
