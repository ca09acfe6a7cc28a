/**
 * Elementwise ops with their gradients: add, sub, mul, alpha·x + beta·y, scale, cast
 * f32↔f16, fill, and the in-place `axpy` that accumulates gradients.
 *
 * @module
 */
import binarySrc from "../../../kernels/binary.wgsl" with { type: "text" };
import unarySrc from "../../../kernels/unary.wgsl" with { type: "text" };
import axpySrc from "../../../kernels/axpy.wgsl" with { type: "text" };
import { gpu } from "../../gpu/device.ts";
import { f32, kernel } from "../../gpu/kernel.ts";
import { record, setAccumulate } from "../autograd.ts";
import { floatType, grid1d, sameShape } from "../launch.ts";
import { Tensor } from "../tensor.ts";
import type { DType } from "../dtype.ts";

const BINARY = kernel("binary", binarySrc);
const UNARY = kernel("unary", unarySrc);
const AXPY = kernel("axpy", axpySrc);

function binary(op: string, code: number, x: Tensor, y: Tensor, alpha = 1, beta = 1): Tensor {
  sameShape(op, x, y);
  const T = floatType(op, x);
  const out = Tensor.empty(x.shape, x.dtype, op);
  gpu().dispatch(BINARY, {
    label: op,
    bindings: [x, y, out],
    params: [out.size, f32(alpha), f32(beta)],
    workgroups: grid1d(out.size),
    overrides: { OP: code },
    types: { T },
  });
  return out;
}

function unary(op: string, code: number, x: Tensor, dtype: DType, alpha = 1, beta = 0): Tensor {
  const X = floatType(op, x);
  const out = Tensor.empty(x.shape, dtype, op);
  gpu().dispatch(UNARY, {
    label: op,
    bindings: [x, out],
    params: [out.size, f32(alpha), f32(beta)],
    workgroups: grid1d(out.size),
    overrides: { OP: code },
    types: { X, T: floatType(op, out) },
  });
  return out;
}

/** x + y (same shape and dtype). */
export function add(x: Tensor, y: Tensor): Tensor {
  const out = binary("add", 0, x, y);
  return record("add", [x, y], out, (g) => [copy(g), copy(g)]);
}

/** x − y (same shape and dtype). */
export function sub(x: Tensor, y: Tensor): Tensor {
  const out = binary("sub", 3, x, y);
  return record("sub", [x, y], out, (g) => [copy(g), scale(g, -1)]);
}

/** x · y elementwise (same shape and dtype). */
export function mul(x: Tensor, y: Tensor): Tensor {
  const out = binary("mul", 1, x, y);
  return record("mul", [x, y], out, (g, [xs, ys]) => [
    binary("mul", 1, g, ys),
    binary("mul", 1, g, xs),
  ], [x, y]);
}

/** alpha·x + beta·y (same shape and dtype). */
export function lincomb(x: Tensor, y: Tensor, alpha: number, beta: number): Tensor {
  const out = binary("lincomb", 2, x, y, alpha, beta);
  return record("lincomb", [x, y], out, (g) => [scale(g, alpha), scale(g, beta)]);
}

/** alpha·x + beta. */
export function scale(x: Tensor, alpha: number, beta = 0): Tensor {
  const out = unary("scale", 1, x, x.dtype, alpha, beta);
  return record("scale", [x], out, (g) => [scale(g, alpha)]);
}

/** A copy of x (same dtype). */
export function copy(x: Tensor): Tensor {
  const out = unary("copy", 0, x, x.dtype);
  return record("copy", [x], out, (g) => [copy(g)]);
}

/** x converted to `dtype` (f32 ↔ f16); the gradient converts back. */
export function cast(x: Tensor, dtype: "f32" | "f16"): Tensor {
  if (dtype === "f16" && !gpu().features.f16) {
    throw new Error("cast: this adapter has no shader-f16; f16 tensors are unavailable");
  }
  const out = unary("cast", 0, x, dtype);
  const from = x.dtype as "f32" | "f16";
  return record("cast", [x], out, (g) => [cast(g, from)]);
}

/** A new tensor filled with `value`. */
export function fill(
  shape: readonly number[],
  value: number,
  dtype: "f32" | "f16" = "f32",
): Tensor {
  const out = Tensor.empty(shape, dtype, "fill");
  gpu().dispatch(UNARY, {
    label: "fill",
    bindings: [gpu().dummy, out],
    params: [out.size, f32(0), f32(value)],
    workgroups: grid1d(out.size),
    overrides: { OP: 2 },
    types: { X: dtype, T: dtype },
  });
  return out;
}

/** A new tensor of zeros. */
export function zeros(shape: readonly number[], dtype: "f32" | "f16" = "f32"): Tensor {
  return fill(shape, 0, dtype);
}

/** In place: o = beta·o + alpha·x (no autograd). With beta = 0, o's old contents are ignored. */
export function axpy(o: Tensor, x: Tensor, alpha = 1, beta = 1): void {
  if (o.size !== x.size || o.dtype !== x.dtype) {
    throw new Error(
      `axpy: target ${o.dtype} [${o.shape}] and source ${x.dtype} [${x.shape}] differ`,
    );
  }
  gpu().dispatch(AXPY, {
    label: "axpy",
    bindings: [x, o],
    params: [o.size, f32(alpha), f32(beta)],
    workgroups: grid1d(o.size),
    types: { T: floatType("axpy", o) },
  });
}

setAccumulate((into, g) => axpy(into, g, 1, 1));
