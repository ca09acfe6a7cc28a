/**
 * Tensors, autograd and the dense ops.
 *
 * @module
 */
export { fmtShape, type GradNode, type Kept, numel, Tensor, tidy } from "./tensor.ts";
export { BYTES, type DType, fromHalf, roundHalf, toHalf } from "./dtype.ts";
export { backward, clearTape, gradEnabled, noGrad, record, tapeLength } from "./autograd.ts";
export { add, axpy, cast, copy, fill, lincomb, mul, scale, sub, zeros } from "./ops/elementwise.ts";
export { gemm, type GemmSpec, linear, matmul, type MatmulOptions } from "./ops/matmul.ts";
export {
  argmaxAxis,
  l2NormAxis,
  maxAxis,
  meanAxis,
  type Reduction,
  sumAll,
  sumAxis,
} from "./ops/reduce.ts";
export { normalizeRows, normalizeRowsWithNorms } from "./ops/normalize.ts";
export { indexAdd, indexAddInPlace, indexSelect, scatterPlan } from "./ops/gather.ts";
export { dropout } from "./ops/dropout.ts";
export { flatten, reshape } from "./ops/shape.ts";
export {
  conv2d,
  conv2dBackwardBias,
  conv2dBackwardInput,
  conv2dBackwardWeight,
  conv2dForward,
  conv2dGeometry,
  type Conv2dOptions,
  type ConvGeometry,
} from "./ops/conv2d.ts";
export { batchNorm, type BatchNormOptions } from "./ops/batchnorm.ts";
export { batchNormAdd, batchNormPrelu } from "./ops/bn_prelu.ts";
export { prelu } from "./ops/prelu.ts";
