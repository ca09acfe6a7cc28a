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
import type { HostArray, ReduceOp } from "./collective.ts";
import { MpiWorld } from "./mpi.ts";
import { HostCollective } from "./staging.ts";

/** A rank's communicator over MPI_COMM_WORLD. */
export class MpiCollective extends HostCollective {
  /** This rank, in [0, world). */
  readonly rank: number;
  /** Number of ranks. */
  readonly world: number;
  readonly #mpi: MpiWorld;

  /** Initialises MPI (once) and takes MPI_COMM_WORLD. */
  constructor() {
    super();
    this.#mpi = MpiWorld.get();
    this.rank = this.#mpi.rank;
    this.world = this.#mpi.size;
  }

  /** In place: `data` becomes the element-wise reduction over ranks. */
  allReduceHost(data: HostArray, op: ReduceOp = "sum"): Promise<void> {
    this.#mpi.allReduce(data, op);
    return Promise.resolve();
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

  /** `input` holds `world` parts of n; returns part `rank` reduced over ranks. */
  reduceScatterHost(input: HostArray, op: ReduceOp = "sum"): Promise<HostArray> {
    if (input.length % this.world !== 0) {
      throw new Error(
        `reduceScatter: ${input.length} elements do not split into ${this.world} parts`,
      );
    }
    const n = input.length / this.world;
    const out = input instanceof Int32Array ? new Int32Array(n) : new Float32Array(n);
    this.#mpi.reduceScatter(input, out, op);
    return Promise.resolve(out);
  }

  /** In place: every rank's `data` becomes `root`'s. */
  broadcastHost(data: HostArray, root = 0): Promise<void> {
    this.#mpi.broadcast(data, root);
    return Promise.resolve();
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
