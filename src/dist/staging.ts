/**
 * Host staging of tensors for collectives that exchange data through host memory: read a
 * tensor's elements (after the work recorded before it) and write elements back (ordered
 * after the work recorded so far); and `HostCollective`, the tensor collectives built on
 * host operations.
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

/** The elements of an f32 or i32 tensor as a host array. */
export async function stageOut(t: Tensor): Promise<HostArray> {
  const raw = await gpu().read(t.buffer, t.byteOffset, t.byteLength);
  return t.dtype === "i32" ? new Int32Array(raw) : new Float32Array(raw);
}

/** Records an upload of `data` into `t` (from element `offset` of `data`, `t.size` values). */
export function stageIn(t: Tensor, data: HostArray, offset = 0): void {
  const view = t.dtype === "i32"
    ? new Int32Array(data.buffer, data.byteOffset + offset * 4, t.size)
    : new Float32Array(data.buffer, data.byteOffset + offset * 4, t.size);
  gpu().upload(t.buffer, t.byteOffset, view);
}

/**
 * The tensor collectives of a communicator that exchanges host arrays (shared memory, MPI):
 * each stages its tensor out, runs the host operation, and stages the result back in.
 * Subclasses provide the host operations and the barrier.
 */
export abstract class HostCollective implements Collective {
  /** This rank, in [0, world). */
  abstract readonly rank: number;
  /** Number of ranks. */
  abstract readonly world: number;
  /** In place: `data` becomes the element-wise reduction over ranks. */
  abstract allReduceHost(data: HostArray, op?: ReduceOp): Promise<void>;
  /** Every rank's `data` concatenated in rank order (all ranks pass the same length). */
  abstract allGatherHost<A extends HostArray>(data: A): Promise<A>;
  /** `input` holds `world` parts of n; returns part `rank` reduced over ranks. */
  abstract reduceScatterHost(input: HostArray, op?: ReduceOp): Promise<HostArray>;
  /** In place: every rank's `data` becomes `root`'s. */
  abstract broadcastHost(data: HostArray, root?: number): Promise<void>;
  /** Resolves once every rank has reached it. */
  abstract barrier(): Promise<void>;

  /** In place: every rank's `t` becomes the element-wise reduction over ranks (f32 or i32). */
  async allReduce(t: Tensor, op: ReduceOp = "sum"): Promise<void> {
    checkCollectiveTensor("allReduce", t);
    const host = await stageOut(t);
    await this.allReduceHost(host, op);
    stageIn(t, host);
  }

  /** `output` ([world·n, …]) receives every rank's `input` ([n, …]) in rank order. */
  async allGather(input: Tensor, output: Tensor): Promise<void> {
    checkGatherShapes("allGather", input, output, this.world);
    stageIn(output, await this.allGatherHost(await stageOut(input)));
  }

  /** This rank's `output` ([n, …]) becomes the reduction of rows rank·n…(rank+1)·n. */
  async reduceScatter(input: Tensor, output: Tensor, op: ReduceOp = "sum"): Promise<void> {
    checkGatherShapes("reduceScatter", output, input, this.world);
    stageIn(output, await this.reduceScatterHost(await stageOut(input), op));
  }

  /** In place: every rank's `t` becomes `root`'s. */
  async broadcast(t: Tensor, root = 0): Promise<void> {
    checkCollectiveTensor("broadcast", t);
    if (!Number.isInteger(root) || root < 0 || root >= this.world) {
      throw new Error(`broadcast: root ${root} outside [0, ${this.world})`);
    }
    const host = await stageOut(t);
    await this.broadcastHost(host, root);
    if (this.rank !== root) stageIn(t, host);
  }
}
