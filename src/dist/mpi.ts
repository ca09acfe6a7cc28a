/**
 * MPI through Deno FFI: Open MPI's `libmpi.so.40` (Debian's `libopenmpi3`; run the job with
 * `mpirun`). The predefined handles of Open MPI (MPI_COMM_WORLD, MPI_FLOAT, MPI_SUM, …) are
 * the addresses of global objects of the library, so they are looked up with `dlsym`;
 * MPI_IN_PLACE is `(void *) 1`. Calls are synchronous on the JavaScript thread, the only thread
 * that calls MPI (MPI_THREAD_FUNNELED).
 *
 * @module
 */

const LIB = "libmpi.so.40";
const RTLD_NOW = 2, RTLD_GLOBAL = 0x100;
const MPI_THREAD_FUNNELED = 1;

const DL = {
  dlopen: { parameters: ["buffer", "i32"], result: "pointer" },
  dlsym: { parameters: ["pointer", "buffer"], result: "pointer" },
  dlerror: { parameters: [], result: "pointer" },
} as const;

const MPI = {
  MPI_Initialized: { parameters: ["buffer"], result: "i32" },
  MPI_Init_thread: { parameters: ["pointer", "pointer", "i32", "buffer"], result: "i32" },
  MPI_Comm_rank: { parameters: ["pointer", "buffer"], result: "i32" },
  MPI_Comm_size: { parameters: ["pointer", "buffer"], result: "i32" },
  MPI_Allreduce: {
    parameters: ["pointer", "buffer", "i32", "pointer", "pointer", "pointer"],
    result: "i32",
  },
  MPI_Allgather: {
    parameters: ["buffer", "i32", "pointer", "buffer", "i32", "pointer", "pointer"],
    result: "i32",
  },
  MPI_Reduce_scatter_block: {
    parameters: ["buffer", "buffer", "i32", "pointer", "pointer", "pointer"],
    result: "i32",
  },
  MPI_Bcast: { parameters: ["buffer", "i32", "pointer", "i32", "pointer"], result: "i32" },
  MPI_Barrier: { parameters: ["pointer"], result: "i32" },
  MPI_Abort: { parameters: ["pointer", "i32"], result: "i32" },
  MPI_Finalize: { parameters: [], result: "i32" },
} as const;

const cstr = (s: string) => new TextEncoder().encode(s + "\0");
const bytes = (a: ArrayBufferView) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

/** Element types and reductions the bindings move. */
export type MpiType = "f32" | "i32";
/** See MpiType. */
export type MpiOp = "sum" | "max";

/** The MPI world of this process (MPI_COMM_WORLD), initialised once. */
export class MpiWorld {
  /** This process's rank in MPI_COMM_WORLD. */
  readonly rank: number;
  /** Number of processes. */
  readonly size: number;
  readonly #m: Deno.DynamicLibrary<typeof MPI>["symbols"];
  readonly #comm: Deno.PointerValue;
  readonly #types: Record<MpiType, Deno.PointerValue>;
  readonly #ops: Record<MpiOp, Deno.PointerValue>;
  static #world: MpiWorld | null = null;

  private constructor() {
    const dl = Deno.dlopen("libc.so.6", DL).symbols;
    const h = dl.dlopen(cstr(LIB), RTLD_NOW | RTLD_GLOBAL);
    if (!h) {
      throw new Error(
        `cannot load ${LIB} (Open MPI): install Debian's libopenmpi3 and openmpi-bin, or ` +
          "train on one machine with --nproc N",
      );
    }
    const sym = (name: string) => {
      const p = dl.dlsym(h, cstr(name));
      if (!p) throw new Error(`${LIB} has no ${name}: this is not Open MPI 4`);
      return p;
    };
    this.#m = Deno.dlopen(LIB, MPI).symbols;
    this.#comm = sym("ompi_mpi_comm_world");
    this.#types = { f32: sym("ompi_mpi_float"), i32: sym("ompi_mpi_int") };
    this.#ops = { sum: sym("ompi_mpi_op_sum"), max: sym("ompi_mpi_op_max") };
    const flag = new Int32Array(1);
    this.#m.MPI_Initialized(bytes(flag));
    if (!flag[0]) {
      const provided = new Int32Array(1);
      this.#check(
        "MPI_Init_thread",
        this.#m.MPI_Init_thread(null, null, MPI_THREAD_FUNNELED, bytes(provided)),
      );
      if (provided[0] < MPI_THREAD_FUNNELED) {
        throw new Error(
          `MPI_Init_thread: the library offers thread level ${provided[0]} < FUNNELED`,
        );
      }
    }
    const r = new Int32Array(1), n = new Int32Array(1);
    this.#check("MPI_Comm_rank", this.#m.MPI_Comm_rank(this.#comm, bytes(r)));
    this.#check("MPI_Comm_size", this.#m.MPI_Comm_size(this.#comm, bytes(n)));
    this.rank = r[0];
    this.size = n[0];
  }

  /** Initialises MPI on first use and returns the world. */
  static get(): MpiWorld {
    return MpiWorld.#world ??= new MpiWorld();
  }

  #check(what: string, rc: number): void {
    if (rc !== 0) throw new Error(`${what} failed with MPI error ${rc} on rank ${this.rank}`);
  }

  /** In place: `data` becomes the element-wise `op` over ranks. */
  allReduce(data: Float32Array | Int32Array, op: MpiOp): void {
    const t = data instanceof Int32Array ? "i32" : "f32";
    this.#check(
      "MPI_Allreduce",
      this.#m.MPI_Allreduce(
        Deno.UnsafePointer.create(1n),
        bytes(data),
        data.length,
        this.#types[t],
        this.#ops[op],
        this.#comm,
      ),
    );
  }

  /** `out` (size × data.length) receives every rank's `data` in rank order. */
  allGather(data: Float32Array | Int32Array, out: Float32Array | Int32Array): void {
    const t = data instanceof Int32Array ? "i32" : "f32";
    this.#check(
      "MPI_Allgather",
      this.#m.MPI_Allgather(
        bytes(data),
        data.length,
        this.#types[t],
        bytes(out),
        data.length,
        this.#types[t],
        this.#comm,
      ),
    );
  }

  /** `out` (data.length / size) receives this rank's block of the reduction of `data`. */
  reduceScatter(data: Float32Array | Int32Array, out: Float32Array | Int32Array, op: MpiOp): void {
    const t = data instanceof Int32Array ? "i32" : "f32";
    this.#check(
      "MPI_Reduce_scatter_block",
      this.#m.MPI_Reduce_scatter_block(
        bytes(data),
        bytes(out),
        out.length,
        this.#types[t],
        this.#ops[op],
        this.#comm,
      ),
    );
  }

  /** In place: every rank's `data` becomes `root`'s. */
  broadcast(data: Float32Array | Int32Array, root: number): void {
    const t = data instanceof Int32Array ? "i32" : "f32";
    this.#check(
      "MPI_Bcast",
      this.#m.MPI_Bcast(bytes(data), data.length, this.#types[t], root, this.#comm),
    );
  }

  /** Returns once every rank has called it. */
  barrier(): void {
    this.#check("MPI_Barrier", this.#m.MPI_Barrier(this.#comm));
  }

  /** Ends every process of the job (after an error on this rank, so none waits forever). */
  abort(code: number): void {
    this.#m.MPI_Abort(this.#comm, code);
  }

  /** Shuts MPI down (call once, at the end). */
  finalize(): void {
    this.#m.MPI_Finalize();
    MpiWorld.#world = null;
  }
}

/** The MPI rank and size that `mpirun` (Open MPI) put in the environment, or null. */
export function mpiEnv(env: { get(key: string): string | undefined } = Deno.env): {
  rank: number;
  size: number;
  localRank: number;
} | null {
  const r = env.get("OMPI_COMM_WORLD_RANK"), n = env.get("OMPI_COMM_WORLD_SIZE");
  if (r === undefined || n === undefined) return null;
  return {
    rank: Number(r),
    size: Number(n),
    localRank: Number(env.get("OMPI_COMM_WORLD_LOCAL_RANK") ?? r),
  };
}
