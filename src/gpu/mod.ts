/**
 * The WebGPU runtime: device, allocator, kernels, batching, profiler.
 *
 * @module
 */
export {
  type DispatchSpec,
  Gpu,
  gpu,
  type GpuFeatures,
  type GpuOptions,
  initGpu,
  NO_ADAPTER_MESSAGE,
} from "./device.ts";
export { Allocator, type AllocatorStats, sizeClass } from "./allocator.ts";
export {
  type BufferRange,
  f32,
  type F32Param,
  type Kernel,
  kernel,
  type Param,
  type ScalarType,
  typeHeader,
} from "./kernel.ts";
export { type ProfileEntry, Profiler } from "./profiler.ts";
