/**
 * The distributed margin softmax cross-entropy of Partial FC, fused: over the cosine chunks
 * of this rank's sampled classes (each [B, n_k], B = global batch), per row the maximum logit
 * (all-reduced MAX over ranks), the sum of exponentials (all-reduced SUM), the target
 * probability (all-reduced SUM), the loss `−mean(log(max(p_target, 1e-30)))`, and in place of
 * each cosine the gradient of the loss with respect to it — `(p − onehot)/B` times the logit's
 * derivative — without a one-hot or any other B×classes buffer.
 *
 * @module
 */
import src from "../../kernels/margin_softmax.wgsl" with { type: "text" };
import type { Collective } from "../dist/collective.ts";
import { gpu } from "../gpu/device.ts";
import { f32, kernel } from "../gpu/kernel.ts";
import { fill } from "../tensor/ops/elementwise.ts";
import { grid1d } from "../tensor/launch.ts";
import { fmtShape, Tensor } from "../tensor/tensor.ts";
import { type Margin, targetForm } from "./margin.ts";

const K = kernel("margin_softmax", src);

/** One chunk of cosines: `logits` [B, n] holds columns `col0 … col0+n` of the sampled set. */
export interface CosineChunk {
  /** Cosines [B, n] (f32); overwritten by their gradients. */
  logits: Tensor;
  /** First sampled column of the chunk. */
  col0: number;
}

/** Options of `marginSoftmaxCrossEntropy`. */
export interface MarginSoftmaxOptions {
  /** A u32 [1] flag and the code to set on non-finite cosines (see FiniteGuard). */
  guard?: { flag: Tensor; logitsCode: number; lossCode: number };
}

/**
 * Loss and cosine gradients of the margin softmax over all ranks' sampled classes.
 * @param chunks this rank's cosine chunks (may be empty when it samples no class)
 * @param labels i32 [B]: each row's column in this rank's sampled set, or −1
 * @param margin the margin settings
 * @param coll the collective over the ranks that share the classes
 * @returns the loss as an f32 [1] tensor (same value on every rank)
 */
export async function marginSoftmaxCrossEntropy(
  chunks: readonly CosineChunk[],
  labels: Tensor,
  margin: Margin,
  coll: Collective,
  opts: MarginSoftmaxOptions = {},
): Promise<Tensor> {
  const B = labels.size;
  if (labels.dtype !== "i32") {
    throw new Error(`marginSoftmax: labels must be i32, got ${labels.dtype}`);
  }
  for (const c of chunks) {
    if (c.logits.rank !== 2 || c.logits.shape[0] !== B || c.logits.dtype !== "f32") {
      throw new Error(
        `marginSoftmax: cosine chunk ${fmtShape(c.logits.shape)} ${c.logits.dtype} must be ` +
          `f32 [${B}, n]`,
      );
    }
  }
  const g = gpu();
  const own = opts.guard ? null : Tensor.fromArray(new Int32Array([-1]), [1], "i32");
  const flag = opts.guard?.flag ?? own!;
  const nk = Math.max(chunks.length, 1);
  const m = margin;
  const overrides = {
    TARGET: targetForm(m),
    STRAIGHT: m.gradient === "straight-through" ? 1 : 0,
  };
  const common = (pass: number) => ({ ...overrides, PASS: pass });
  const params = (N: number, col0: number, chunk: number, code: number) => [
    B,
    N,
    col0,
    chunk,
    nk,
    code,
    f32(m.s),
    f32(m.m1),
    f32(m.m2),
    f32(m.m3),
    f32(Math.cos(m.m2)),
    f32(Math.sin(m.m2)),
    f32(m.interclassFilteringThreshold),
    f32(1 / B),
  ];
  const dummy = g.dummy;
  const partial = Tensor.empty([nk, B], "f32", "marginSoftmax partial");
  const rowMax = Tensor.empty([B], "f32", "marginSoftmax max");
  const rowSum = Tensor.empty([B], "f32", "marginSoftmax sum");
  const pTarget = fill([B], 0);
  const loss = Tensor.empty([1], "f32", "marginSoftmax loss");
  const rowPass = (pass: number, code = 0, out = partial) => {
    for (let k = 0; k < chunks.length; k++) {
      const c = chunks[k];
      g.dispatch(K, {
        label: `margin softmax pass ${pass}`,
        bindings: [c.logits, labels, rowMax, rowSum, out, flag],
        params: params(c.logits.shape[1], c.col0, k, code),
        workgroups: grid1d(B, 1),
        overrides: common(pass),
      });
    }
  };
  const combine = (op: 0 | 1, into: Tensor, empty: number) => {
    if (chunks.length === 0) {
      g.upload(into.buffer, into.byteOffset, new Float32Array(B).fill(empty));
      return;
    }
    g.dispatch(K, {
      label: "margin softmax combine",
      bindings: [partial, labels, dummy, dummy, into, flag],
      params: params(0, 0, 0, 0),
      workgroups: grid1d(Math.ceil(B / 64), 1),
      overrides: { ...common(4), OP: op },
    });
  };
  try {
    rowPass(0, opts.guard?.logitsCode ?? 1);
    combine(0, rowMax, -3.4028234663852886e38);
    await coll.allReduce(rowMax, "max");
    rowPass(1);
    combine(1, rowSum, 0);
    await coll.allReduce(rowSum, "sum");
    rowPass(2, 0, pTarget);
    await coll.allReduce(pTarget, "sum");
    g.dispatch(K, {
      label: "margin softmax loss",
      bindings: [pTarget, labels, dummy, dummy, loss, flag],
      params: params(0, 0, 0, opts.guard?.lossCode ?? 2),
      workgroups: [1],
      overrides: common(3),
    });
    return loss;
  } catch (e) {
    loss.dispose();
    throw e;
  } finally {
    partial.dispose();
    rowMax.dispose();
    rowSum.dispose();
    pTarget.dispose();
    own?.dispose();
  }
}
