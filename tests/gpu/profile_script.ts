// Run with ARCFACE_PROFILE=1: records a small forward + backward and prints the profile.
import { gpu, initGpu } from "../../src/gpu/device.ts";
import { backward, linear, normalizeRows, sumAll, Tensor } from "../../src/tensor/mod.ts";

await initGpu();
const x = Tensor.fromArray(new Float32Array(8 * 16).fill(0.5), [8, 16]);
const w = Tensor.fromArray(new Float32Array(4 * 16).fill(0.25), [4, 16]);
w.requiresGrad = true;
backward(sumAll(normalizeRows(linear(x, w))));
await w.grad!.read();
const p = gpu().profiler;
console.log(p ? await p.report() : "profiler disabled");
