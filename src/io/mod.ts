/**
 * File formats: safetensors, PyTorch `.pth`, a pickle reader that runs no code, `.npy`.
 *
 * @module
 */
export * from "./host_tensor.ts";
export * from "./safetensors.ts";
export * from "./pth.ts";
export * from "./npy.ts";
export { pickle, unpickle } from "./pickle.ts";
