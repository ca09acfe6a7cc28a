/**
 * arcface-webgpu: training face-recognition models (ArcFace / CosFace margins, Partial FC)
 * on WebGPU in Deno. The public API, re-exported from `src/`.
 *
 * @module
 */
export * from "./src/gpu/mod.ts";
export * from "./src/tensor/mod.ts";
export {
  checkCollectiveTensor,
  checkGatherShapes,
  type Collective,
  type HostArray,
  reduceInto,
  type ReduceOp,
} from "./src/dist/collective.ts";
export { SingleCollective } from "./src/dist/single.ts";
export {
  createInProcessGroup,
  InProcessCollective,
  type InProcessOptions,
} from "./src/dist/inprocess.ts";
export { stageIn, stageOut } from "./src/dist/staging.ts";
export {
  ARCFACE,
  COSFACE,
  type Margin,
  type MarginConfig,
  resolveMargin,
  targetForm,
} from "./src/train/margin.ts";
export {
  type CosineChunk,
  marginSoftmaxCrossEntropy,
  type MarginSoftmaxOptions,
} from "./src/train/margin_softmax.ts";
export {
  checkLabels,
  checkSampleRate,
  ClassSampler,
  numSampleOf,
  type Sample,
  type Shard,
  shardOf,
} from "./src/train/sampling.ts";
export { PartialFC, type PartialFCOptions, type PartialFCStep } from "./src/train/partial_fc.ts";
export {
  type AdamWConfig,
  Optimizer,
  type OptimizerConfig,
  type OptimizerOptions,
  type SgdConfig,
  stateSlots,
} from "./src/train/optim.ts";
export { clipGradNorm } from "./src/train/clip.ts";
export {
  GradAccumulation,
  type LrSchedule,
  PolySchedule,
  type PolySettings,
  scaledLr,
  StepDecaySchedule,
  type StepDecaySettings,
} from "./src/train/schedule.ts";
export {
  LossScaler,
  type LossScalerOptions,
  type LossScalerState,
  scaler2021,
} from "./src/train/loss_scale.ts";
export { FiniteGuard, NonFiniteError } from "./src/train/finite.ts";
