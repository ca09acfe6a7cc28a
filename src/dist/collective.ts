/**
 * Collectives over GPU tensors: the one interface Partial FC and the trainer use to talk to the
 * other ranks. Implementations: a world of one (`single.ts`), virtual ranks inside one process
 * (`inprocess.ts`, for tests); shared-memory rings and MPI slot in behind the same interface.
 *
 * Every operation is asynchronous (a real implementation stages through host memory or waits
 * on peers) and collective: every rank calls the same operations in the same order with
 * tensors of the same shape. Results land in the given tensors; work recorded on the GPU
 * before the call is included, work recorded after it sees the result.
 *
 * @module
 */
import { fmtShape, type Tensor } from "../tensor/tensor.ts";

/** Element-wise reductions of all-reduce and reduce-scatter. */
export type ReduceOp = "sum" | "max";

/** Host arrays the host-side collectives exchange (labels, counters). */
export type HostArray = Int32Array | Float32Array;

/** A communicator: this rank's view of a group of `world` ranks. */
export interface Collective {
  /** This rank, in [0, world). */
  readonly rank: number;
  /** Number of ranks. */
  readonly world: number;
  /** In place: every rank's `t` becomes the element-wise reduction over ranks (f32 or i32). */
  allReduce(t: Tensor, op?: ReduceOp): Promise<void>;
  /**
   * `output` ([world·n, …]) receives every rank's `input` ([n, …]) in rank order along
   * dim 0.
   */
  allGather(input: Tensor, output: Tensor): Promise<void>;
  /**
   * `input` is [world·n, …]; this rank's `output` ([n, …]) becomes the reduction over ranks of
   * their input rows `rank·n … (rank+1)·n`.
   */
  reduceScatter(input: Tensor, output: Tensor, op?: ReduceOp): Promise<void>;
  /** In place: every rank's `t` becomes `root`'s. */
  broadcast(t: Tensor, root?: number): Promise<void>;
  /** Resolves once every rank has reached it. */
  barrier(): Promise<void>;
  /** Every rank's host array concatenated in rank order (labels of the global batch). */
  allGatherHost<A extends HostArray>(data: A): Promise<A>;
}

/** Throws unless `t` is f32 or i32 (the dtypes the collectives move). */
export function checkCollectiveTensor(op: string, t: Tensor): void {
  if (t.dtype !== "f32" && t.dtype !== "i32") {
    throw new Error(`${op}: tensors must be f32 or i32, got ${t.dtype} ${fmtShape(t.shape)}`);
  }
}

/** Throws unless `output` is `world` times `input` along dim 0, with the same row shape. */
export function checkGatherShapes(
  op: string,
  input: Tensor,
  output: Tensor,
  world: number,
): void {
  checkCollectiveTensor(op, input);
  if (input.dtype !== output.dtype || output.size !== input.size * world) {
    throw new Error(
      `${op}: output ${output.dtype} ${fmtShape(output.shape)} must hold ${world} × input ` +
        `${input.dtype} ${fmtShape(input.shape)}`,
    );
  }
}

/** Element-wise `acc ← op(acc, x)` on host arrays. */
export function reduceInto(acc: HostArray, x: HostArray, op: ReduceOp): void {
  if (op === "sum") { for (let i = 0; i < acc.length; i++) acc[i] += x[i]; }
  else for (let i = 0; i < acc.length; i++) if (x[i] > acc[i] || x[i] !== x[i]) acc[i] = x[i];
}
