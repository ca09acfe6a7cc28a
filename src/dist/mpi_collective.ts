/**
 * Collectives between the processes of an `mpirun` job, across machines: every tensor is
 * staged through host memory and exchanged with MPI (`mpi.ts`; Open MPI moves data between
 * the processes of one machine through its own shared-memory transport). Start a job with
 * `mpirun -np N deno run -A train.ts CONFIG`; each process finds its rank in Open MPI's
 * environment. A rank that fails calls MPI_Abort, so its peers never wait forever, and mpirun
 * ends the job when a process dies.
 *
 * @module
 */
import type { Tensor } from "../tensor/tensor.ts";
import {
  checkCollectiveTensor,
  checkGatherShapes,
  type Collective,
  type HostArray,
  type ReduceOp,
} from "./collective.ts";
import { MpiWorld } from "./mpi.ts";
import { stageIn, stageOut } from "./staging.ts";

/** A rank's communicator over MPI_COMM_WORLD. */
export class MpiCollective implements Collective {
  readonly rank: number;
  readonly world: number;
  readonly #mpi: MpiWorld;

  /** Initialises MPI (once) and takes MPI_COMM_WORLD. */
  constructor() {
    this.#mpi = MpiWorld.get();
    this.rank = this.#mpi.rank;
    this.world = this.#mpi.size;
  }

  /** In place: `data` becomes the element-wise reduction over ranks. */
  allReduceHost(data: HostArray, op: ReduceOp = "sum"): void {
    this.#mpi.allReduce(data, op);
  }

  /** Every rank's `data` concatenated in rank order (all ranks pass the same length). */
  allGatherHost<A extends HostArray>(data: A): Promise<A> {
    const out =
      (data instanceof Int32Array
        ? new Int32Array(data.length * this.world)
        : new Float32Array(data.length * this.world)) as A;
    this.#mpi.allGather(data, out);
    return Promise.resolve(out);
  }

  /** In place: every rank's `t` becomes the element-wise reduction over ranks (f32 or i32). */
  async allReduce(t: Tensor, op: ReduceOp = "sum"): Promise<void> {
    checkCollectiveTensor("allReduce", t);
    const host = await stageOut(t);
    this.#mpi.allReduce(host, op);
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
    const host = await stageOut(input);
    const out = host instanceof Int32Array
      ? new Int32Array(output.size)
      : new Float32Array(output.size);
    this.#mpi.reduceScatter(host, out, op);
    stageIn(output, out);
  }

  /** In place: every rank's `t` becomes `root`'s. */
  async broadcast(t: Tensor, root = 0): Promise<void> {
    checkCollectiveTensor("broadcast", t);
    if (!Number.isInteger(root) || root < 0 || root >= this.world) {
      throw new Error(`broadcast: root ${root} outside [0, ${this.world})`);
    }
    const host = await stageOut(t);
    this.#mpi.broadcast(host, root);
    if (this.rank !== root) stageIn(t, host);
  }

  /** Resolves once every rank has reached it. */
  barrier(): Promise<void> {
    this.#mpi.barrier();
    return Promise.resolve();
  }

  /** Ends the whole job after an error on this rank. */
  abort(code = 1): void {
    this.#mpi.abort(code);
  }

  /** Shuts MPI down. */
  close(): void {
    this.#mpi.finalize();
  }
}
