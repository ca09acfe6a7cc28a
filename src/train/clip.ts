/**
 * Global L2-norm gradient clipping with PyTorch `clip_grad_norm_` semantics (norm_type 2):
 * total = ‖(‖g₁‖, ‖g₂‖, …)‖, every gradient multiplied by min(max_norm / (total + 1e-6), 1).
 * Runs on the GPU, deterministic, no readback; the total norm comes back as a tensor.
 *
 * @module
 */
import src from "../../kernels/clip_grad.wgsl" with { type: "text" };
import { gpu } from "../gpu/device.ts";
import { f32, kernel } from "../gpu/kernel.ts";
import { grid1d } from "../tensor/launch.ts";
import { Tensor } from "../tensor/tensor.ts";

const K = kernel("clip_grad", src);
const SPAN = 16384; // elements per partial sum

/**
 * Clips the gradients of `params` (those with `.grad`) in place to a global L2 norm of at most
 * `maxNorm` (5 for the reference backbones).
 * @returns f32 [2]: the total norm before clipping and the factor applied
 */
export function clipGradNorm(params: readonly Tensor[], maxNorm: number): Tensor {
  if (!(maxNorm > 0)) throw new Error(`clipGradNorm: max norm ${maxNorm} must be > 0`);
  const grads = params.map((p) => p.grad).filter((g): g is Tensor => g !== null);
  for (const gr of grads) {
    if (gr.dtype !== "f32") throw new Error(`clipGradNorm: gradients must be f32, got ${gr.dtype}`);
  }
  const parts = grads.map((gr) => Math.max(1, Math.ceil(gr.size / SPAN)));
  const total = parts.reduce((a, b) => a + b, 0);
  const g = gpu();
  const partial = Tensor.empty([Math.max(total, 1)], "f32", "clipGradNorm partials");
  const res = Tensor.fromArray([0, 1], [2]);
  const scratch = Tensor.empty([1], "f32", "clipGradNorm scratch");
  let slot = 0;
  grads.forEach((gr, i) => {
    g.dispatch(K, {
      label: "clip grad norm²",
      bindings: [gr, partial, res],
      params: [gr.size, SPAN, slot, total, f32(maxNorm)],
      workgroups: grid1d(parts[i], 1),
      overrides: { PASS: 0 },
    });
    slot += parts[i];
  });
  if (total > 0) {
    g.dispatch(K, {
      label: "clip grad total",
      bindings: [scratch, partial, res],
      params: [0, SPAN, 0, total, f32(maxNorm)],
      workgroups: [1],
      overrides: { PASS: 1 },
    });
  }
  for (const gr of grads) {
    g.dispatch(K, {
      label: "clip grad scale",
      bindings: [gr, partial, res],
      params: [gr.size, SPAN, 0, total, f32(maxNorm)],
      workgroups: grid1d(gr.size),
      overrides: { PASS: 2 },
    });
  }
  partial.dispose();
  scratch.dispose();
  return res;
}
