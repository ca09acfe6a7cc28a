/**
 * arcface-webgpu: training face-recognition models (ArcFace / CosFace margins, Partial FC)
 * on WebGPU in Deno. The public API, re-exported from `src/`.
 *
 * @module
 */
export * from "./src/gpu/mod.ts";
export * from "./src/tensor/mod.ts";
