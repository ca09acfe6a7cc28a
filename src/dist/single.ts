/**
 * The collective of a world of one: reductions and broadcasts leave tensors as they are,
 * gathers and scatters copy.
 *
 * @module
 */
import { gpu } from "../gpu/device.ts";
import type { Tensor } from "../tensor/tensor.ts";
import {
  checkCollectiveTensor,
  checkGatherShapes,
  type Collective,
  type HostArray,
  type ReduceOp,
} from "./collective.ts";

/** The collective of a single rank (rank 0 of 1). */
export class SingleCollective implements Collective {
  /** Always 0. */
  readonly rank = 0;
  /** Always 1. */
  readonly world = 1;

  /** No-op: the reduction over one rank is the tensor itself. */
  allReduce(t: Tensor, _op: ReduceOp = "sum"): Promise<void> {
    checkCollectiveTensor("allReduce", t);
    return Promise.resolve();
  }

  /** Copies `input` into `output`. */
  allGather(input: Tensor, output: Tensor): Promise<void> {
    checkGatherShapes("allGather", input, output, 1);
    if (input.buffer !== output.buffer || input.byteOffset !== output.byteOffset) {
      gpu().copy(
        input.buffer,
        input.byteOffset,
        output.buffer,
        output.byteOffset,
        input.byteLength,
      );
    }
    return Promise.resolve();
  }

  /** Copies `input` into `output`. */
  reduceScatter(input: Tensor, output: Tensor, _op: ReduceOp = "sum"): Promise<void> {
    checkGatherShapes("reduceScatter", output, input, 1);
    return this.allGather(input, output);
  }

  /** No-op. */
  broadcast(t: Tensor, root = 0): Promise<void> {
    checkCollectiveTensor("broadcast", t);
    if (root !== 0) throw new Error(`broadcast: root ${root} outside [0, 1)`);
    return Promise.resolve();
  }

  /** Resolves at once. */
  barrier(): Promise<void> {
    return Promise.resolve();
  }

  /** A copy of `data`. */
  allGatherHost<A extends HostArray>(data: A): Promise<A> {
    return Promise.resolve(data.slice() as A);
  }
}
