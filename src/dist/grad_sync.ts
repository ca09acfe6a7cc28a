/**
 * Data-parallel gradient averaging: the backbone's gradients of every rank packed into one
 * flat f32 buffer (GPU copies, no host round trip per parameter), all-reduced once, divided by
 * the world size (DistributedDataParallel's mean) and copied back. One exchange per optimiser
 * step; the buffer is allocated once.
 *
 * @module
 */
import { gpu } from "../gpu/device.ts";
import { noGrad } from "../tensor/autograd.ts";
import { scale } from "../tensor/ops/elementwise.ts";
import { Tensor } from "../tensor/tensor.ts";
import type { Collective } from "./collective.ts";

/** Averages the gradients of `params` over the ranks of a collective. */
export class GradSync {
  #flat: Tensor | null = null;

  /** `params`: the same parameters in the same order on every rank. */
  constructor(readonly params: readonly Tensor[], readonly collective: Collective) {}

  /**
   * Replaces every parameter's gradient with its mean over ranks. A parameter without a
   * gradient contributes zeros and receives the mean (every rank must agree on which have
   * one, as they run the same model).
   * @throws when a gradient is not f32
   */
  async average(): Promise<void> {
    const coll = this.collective;
    if (coll.world === 1) return;
    const total = this.params.reduce((n, p) => n + p.size, 0);
    const flat = this.#flat ??= Tensor.empty([total], "f32", "gradient all-reduce buffer");
    const g = gpu();
    let off = 0;
    for (const p of this.params) {
      const grad = p.grad;
      if (grad && grad.dtype !== "f32") {
        throw new Error(
          `gradient all-reduce: a ${grad.dtype} gradient of ${p.shape}; expected f32`,
        );
      }
      if (grad) {
        g.copy(
          grad.buffer,
          grad.byteOffset,
          flat.buffer,
          flat.byteOffset + off * 4,
          grad.byteLength,
        );
      } else g.encoder().clearBuffer(flat.buffer, flat.byteOffset + off * 4, p.size * 4);
      off += p.size;
    }
    await coll.allReduce(flat, "sum");
    const mean = noGrad(() => scale(flat, 1 / coll.world));
    off = 0;
    for (const p of this.params) {
      if (!p.grad) p.grad = Tensor.empty([...p.shape], "f32", "gradient");
      g.copy(
        mean.buffer,
        mean.byteOffset + off * 4,
        p.grad.buffer,
        p.grad.byteOffset,
        p.grad.byteLength,
      );
      off += p.size;
    }
    mean.dispose();
  }

  /** Frees the flat buffer. */
  dispose(): void {
    this.#flat?.dispose();
    this.#flat = null;
  }
}

/**
 * Checks that every rank holds bit-identical `params` (data-parallel replicas must: they start
 * from the same seed and apply the same averaged gradients). Resolves with the hash of
 * this rank's parameters (FNV-1a over their bits, in order).
 * @throws naming the ranks whose parameters differ from rank 0's
 */
export async function checkReplicas(params: readonly Tensor[], coll: Collective): Promise<number> {
  let h = 0x811c9dc5;
  for (const p of params) {
    const v = await p.read();
    const bits = new Uint32Array(v.buffer, v.byteOffset, v.byteLength >> 2);
    for (let i = 0; i < bits.length; i++) h = Math.imul(h ^ bits[i], 0x01000193);
  }
  const all = await coll.allGatherHost(Int32Array.of(h));
  const off = [...all.keys()].filter((r) => all[r] !== all[0]);
  if (off.length) {
    throw new Error(
      `data-parallel replicas diverged: the parameters of rank(s) ${off.join(", ")} differ ` +
        `from rank 0's (hashes ${Array.from(all, (v) => (v >>> 0).toString(16)).join(" ")})`,
    );
  }
  return h >>> 0;
}
