/**
 * The define-by-run autograd tape. Ops call `record()` after their forward; `backward(loss)`
 * walks the tape in reverse, turns each output gradient into input gradients, accumulates
 * the gradients of leaf tensors (parameters) into `.grad`, and frees what the ops saved.
 *
 * @module
 */
import { type GradNode, Tensor, tidy } from "./tensor.ts";

let tape: GradNode[] = [];
let enabled = true;

/** Whether ops record onto the tape now. */
export function gradEnabled(): boolean {
  return enabled;
}

/** Runs `fn` without recording (inference, optimiser updates, backward itself). */
export function noGrad<R>(fn: () => R): R {
  const was = enabled;
  enabled = false;
  try {
    return fn();
  } finally {
    enabled = was;
  }
}

/** Runs `fn` with recording on (e.g. a recomputation inside a backward). */
export function withGrad<R>(fn: () => R): R {
  const was = enabled;
  enabled = true;
  try {
    return fn();
  } finally {
    enabled = was;
  }
}

/** Number of nodes on the tape (for tests and leak checks). */
export function tapeLength(): number {
  return tape.length;
}

/**
 * Records an op when gradients are on and any input requires them: marks `output` as
 * requiring grad and keeps `saved` (shared handles) alive until backward.
 * @returns output, for chaining
 */
export function record(
  op: string,
  inputs: readonly Tensor[],
  output: Tensor,
  backward: (grad: Tensor, saved: readonly Tensor[]) => (Tensor | null)[],
  saved: readonly Tensor[] = [],
): Tensor {
  if (!enabled || !inputs.some((t) => t.requiresGrad)) return output;
  const kept = saved.map((t) => t.share());
  output.requiresGrad = true;
  const node: GradNode = {
    op,
    inputs,
    output,
    saved: kept,
    backward: (g) => backward(g, kept),
  };
  output.node = node;
  tape.push(node);
  return output;
}

/** Adds `g` into `into` (both same shape and dtype): set by the op module that owns it. */
let accumulate: (into: Tensor, g: Tensor) => void = () => {
  throw new Error("autograd: no accumulate op registered");
};

/** Registers the in-place `into += g` used to sum gradients (called once by the ops). */
export function setAccumulate(fn: (into: Tensor, g: Tensor) => void): void {
  accumulate = fn;
}

/** Drops the tape without running backward (e.g. after an eval forward with grads on). */
export function clearTape(): void {
  for (const n of tape) for (const s of n.saved) s.dispose();
  for (const n of tape) n.output.node = null;
  tape = [];
}

/**
 * Back-propagates from `loss` (a scalar unless `grad` is given) through the whole tape,
 * accumulating into `.grad` of leaf tensors that require grad, then clears the tape and
 * frees saved activations.
 */
export function backward(loss: Tensor, grad?: Tensor): void {
  if (!loss.requiresGrad) {
    throw new Error("backward: the loss does not depend on any tensor that requires grad");
  }
  if (!grad && loss.size !== 1) {
    throw new Error(`backward: loss has ${loss.size} elements; pass its gradient explicitly`);
  }
  const nodes = tape;
  tape = [];
  noGrad(() =>
    tidy(() => {
      const grads = new Map<Tensor, Tensor>();
      grads.set(loss, grad ? grad.share() : Tensor.full(loss.shape, 1, loss.dtype));
      for (let i = nodes.length - 1; i >= 0; i--) {
        const node = nodes[i];
        const g = grads.get(node.output);
        if (g) {
          grads.delete(node.output);
          const gins = node.backward(g);
          g.dispose();
          for (let j = 0; j < node.inputs.length; j++) {
            const input = node.inputs[j];
            const gi = gins[j];
            if (!gi) continue;
            if (!input.requiresGrad) {
              gi.dispose();
              continue;
            }
            if (gi.size !== input.size) {
              throw new Error(
                `backward of ${node.op}: gradient ${gi.shape} for input ${input.shape}`,
              );
            }
            const gv = gi.shape.join() === input.shape.join() ? gi : gi.view(input.shape);
            if (gv !== gi) gi.dispose();
            if (!input.node) {
              if (input.grad) {
                accumulate(input.grad, gv);
                gv.dispose();
              } else input.grad = gv.keep();
            } else {
              const prev = grads.get(input);
              if (prev) {
                accumulate(prev, gv);
                gv.dispose();
              } else grads.set(input, gv);
            }
          }
        }
        for (const s of node.saved) s.dispose();
        node.output.node = null;
      }
      for (const g of grads.values()) g.dispose();
    })
  );
}
