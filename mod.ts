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
export { HostCollective, stageIn, stageOut } from "./src/dist/staging.ts";
export { SHM_MAX_WORLD, ShmCollective, type ShmOptions } from "./src/dist/shm_collective.ts";
export { MpiCollective } from "./src/dist/mpi_collective.ts";
export { checkReplicas, GradSync } from "./src/dist/grad_sync.ts";
export {
  connectRank,
  type JobPlace,
  joinJob,
  launch,
  type LaunchOptions,
  type RankEnv,
  rankEnv,
} from "./src/dist/launch.ts";
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
export { Module } from "./src/nn/module.ts";
export {
  BatchNorm,
  Conv2d,
  Dropout,
  Flatten,
  Linear,
  PReLU,
  Sequential,
  setDropoutSeed,
} from "./src/nn/layers.ts";
export {
  type Backbone,
  type BackboneName,
  type BackboneOptions,
  BACKBONES,
  createBackbone,
  IResNet,
  MobileFaceNet,
  ToyNet,
} from "./src/nn/backbones/mod.ts";
export { readWeights, unwrapKeys, writeWeights } from "./src/nn/weights.ts";
export { imagesToTensor, type PreprocessOptions } from "./src/tensor/ops/preprocess.ts";
// ONNX export, onnxruntime and model checks (npm packages) are reached through eval.ts and tasks/.
export * as data from "./src/data/mod.ts";
export * as io from "./src/io/mod.ts";
export {
  evaluateVerification,
  type VerificationOptions,
  type VerificationResult,
} from "./src/eval/verification.ts";
export {
  readVerificationBin,
  type VerificationBin,
  type WriteBinOptions,
  writeVerificationBin,
} from "./src/eval/bin.ts";
export type { EmbedOptions, Engine } from "./src/eval/engine.ts";
export type { PixelNormalization } from "./src/eval/pixels.ts";
export { WebGpuEngine } from "./src/eval/webgpu_engine.ts";
export { loadConfig, type LoadedConfig } from "./src/train/config.ts";
export {
  BASE,
  type Config,
  type ConfigFile,
  type LossName,
  type OptimizerName,
  type SchedulerName,
} from "./configs/base.ts";
export type { HostData, HostDType, HostTensor } from "./src/io/host_tensor.ts";
export { train, type TrainOptions, type TrainResult } from "./src/train/trainer.ts";
export {
  type CheckpointParts,
  loadCheckpoint,
  saveCheckpoint,
  saveShard,
  shardFile,
  type TrainerRecord,
} from "./src/train/checkpoint.ts";
