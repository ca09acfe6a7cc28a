/**
 * Small helpers shared by the op modules: launch grids, shape checks, dtype headers.
 *
 * @module
 */
import type { ScalarType } from "../gpu/kernel.ts";
import { fmtShape, type Tensor } from "./tensor.ts";

/** Workgroups for `n` invocations of a 1-D kernel of `size` lanes, split over x and y. */
export function grid1d(n: number, size = 256): [number, number] {
  const groups = Math.ceil(n / size);
  if (groups <= 65535) return [groups, 1];
  const x = 65535;
  return [x, Math.ceil(groups / x)];
}

/** Throws unless the tensor is a float tensor; returns its kernel scalar type. */
export function floatType(op: string, t: Tensor): ScalarType {
  if (t.dtype !== "f32" && t.dtype !== "f16") {
    throw new Error(`${op}: expected an f32 or f16 tensor, got ${t.dtype} ${fmtShape(t.shape)}`);
  }
  return t.dtype;
}

/** Throws unless all tensors have the same shape and dtype. */
export function sameShape(op: string, ...ts: Tensor[]): void {
  const [a] = ts;
  for (const b of ts.slice(1)) {
    if (a.shape.length !== b.shape.length || a.shape.some((d, i) => d !== b.shape[i])) {
      throw new Error(`${op}: shapes ${ts.map((t) => fmtShape(t.shape)).join(" and ")} differ`);
    }
    if (a.dtype !== b.dtype) {
      throw new Error(`${op}: dtypes ${ts.map((t) => t.dtype).join(" and ")} differ`);
    }
  }
}

/** Throws unless `t` has rank `rank`. */
export function expectRank(op: string, t: Tensor, rank: number, what = "input"): void {
  if (t.rank !== rank) {
    throw new Error(`${op}: ${what} must be ${rank}-D, got ${fmtShape(t.shape)}`);
  }
}
