/**
 * Row gather and scatter-add along dim 0 (PyTorch `index_select` / `index_add_`), with their
 * gradients. Indices come from the host (labels, sampled class ids): they are checked there,
 * so an out-of-range index is a thrown error, never a silent wrong row. Scatter-add is
 * deterministic: the host groups source rows by destination and the kernel sums each group
 * in index order.
 *
 * @module
 */
import gatherSrc from "../../../kernels/gather_rows.wgsl" with { type: "text" };
import scatterSrc from "../../../kernels/scatter_add_rows.wgsl" with { type: "text" };
import { gpu } from "../../gpu/device.ts";
import { f32, kernel } from "../../gpu/kernel.ts";
import { noGrad, record } from "../autograd.ts";
import { floatType, grid1d } from "../launch.ts";
import { fmtShape, Tensor } from "../tensor.ts";
import { copy, zeros } from "./elementwise.ts";

const GATHER = kernel("gather_rows", gatherSrc);
const SCATTER = kernel("scatter_add_rows", scatterSrc);

function checkIndices(op: string, indices: Int32Array, rows: number, shape: readonly number[]) {
  for (let i = 0; i < indices.length; i++) {
    const v = indices[i];
    if (!(v >= 0 && v < rows)) {
      throw new Error(
        `${op}: index ${v} at position ${i} is outside [0, ${rows}) for ${fmtShape(shape)}`,
      );
    }
  }
}

/** Rows `indices` of `src` (any rank ≥ 1; rows are along dim 0). */
export function indexSelect(src: Tensor, indices: Int32Array): Tensor {
  const T = floatType("indexSelect", src);
  const R = src.shape[0];
  checkIndices("indexSelect", indices, R, src.shape);
  const C = R === 0 ? 0 : src.size / R;
  const n = indices.length;
  const out = Tensor.empty([n, ...src.shape.slice(1)], src.dtype, "indexSelect");
  const idx = Tensor.fromArray(indices, [n], "i32");
  gpu().dispatch(GATHER, {
    label: "gather rows",
    bindings: [src, idx, out],
    params: [n, C, R],
    workgroups: grid1d(n * C),
    types: { T },
  });
  idx.dispose();
  return record("indexSelect", [src], out, (g) => {
    const base = zeros(src.shape, src.dtype as "f32" | "f16");
    indexAddInPlace(base, indices, g);
    return [base];
  });
}

/**
 * Builds the scatter plan: unique destinations, segment starts and source order.
 * Exported for tests.
 */
export function scatterPlan(indices: Int32Array): Int32Array {
  const n = indices.length;
  const order = Array.from({ length: n }, (_, i) => i);
  order.sort((a, b) => indices[a] - indices[b] || a - b);
  const dst: number[] = [];
  const start: number[] = [];
  for (let j = 0; j < n; j++) {
    if (j === 0 || indices[order[j]] !== indices[order[j - 1]]) {
      dst.push(indices[order[j]]);
      start.push(j);
    }
  }
  start.push(n);
  return Int32Array.from([...dst, ...start, ...order]);
}

/**
 * In place, no autograd: `target[indices[i]] = beta·target[indices[i]] + Σ src[i]` (rows along
 * dim 0; repeated indices sum). With beta 1 this is PyTorch's `index_add_`.
 */
export function indexAddInPlace(target: Tensor, indices: Int32Array, src: Tensor, beta = 1): void {
  const T = floatType("indexAdd", target);
  const R = target.shape[0];
  checkIndices("indexAdd", indices, R, target.shape);
  const C = R === 0 ? 0 : target.size / R;
  if (src.shape[0] !== indices.length || src.size !== indices.length * C) {
    throw new Error(
      `indexAdd: source ${fmtShape(src.shape)} must be [${indices.length}, …] with rows of ${C}`,
    );
  }
  if (src.dtype !== target.dtype) {
    throw new Error(`indexAdd: dtypes ${src.dtype} and ${target.dtype} differ`);
  }
  if (indices.length === 0) return;
  const planHost = scatterPlan(indices);
  const U = (planHost.length - indices.length - 1) / 2;
  const plan = Tensor.fromArray(planHost, [planHost.length], "i32");
  gpu().dispatch(SCATTER, {
    label: "scatter-add rows",
    bindings: [src, plan, target],
    params: [U, C, f32(beta)],
    workgroups: grid1d(U * C),
    types: { T },
  });
  plan.dispose();
}

/** `base` with rows of `src` added at `indices` (a new tensor; PyTorch `index_add`). */
export function indexAdd(base: Tensor, indices: Int32Array, src: Tensor): Tensor {
  const out = noGrad(() => copy(base));
  indexAddInPlace(out, indices, src);
  return record("indexAdd", [base, src], out, (g) => [copy(g), indexSelect(g, indices)]);
}
