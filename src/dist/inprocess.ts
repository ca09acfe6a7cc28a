/**
 * N virtual ranks in one process, for tests: each rank is a `Collective` used by its own
 * concurrent async task, all sharing the one GPU device. Data moves through host memory as it
 * will between processes: every rank stages its tensor out, the last rank to arrive combines
 * the contributions, and every rank stages its result back in.
 *
 * Calls are matched by their order on each rank; a rank calling a different operation or
 * shape than its peers is an error, and a rank that waits longer than `timeoutMs` for its
 * peers fails with a message naming the ranks that never arrived (never a silent hang).
 *
 * @module
 */
import type { Tensor } from "../tensor/tensor.ts";
import {
  checkCollectiveTensor,
  checkGatherShapes,
  type Collective,
  type HostArray,
  reduceInto,
  type ReduceOp,
} from "./collective.ts";
import { stageIn, stageOut } from "./staging.ts";

interface Slot {
  what: string;
  parts: (HostArray | undefined)[];
  arrived: number;
  results?: HostArray[];
  error?: Error;
  done: Promise<void>;
  resolve: () => void;
}

/** Options of `createInProcessGroup`. */
export interface InProcessOptions {
  /** How long a rank waits for its peers before failing (ms; default 120 000). */
  timeoutMs?: number;
}

class Hub {
  slots: Map<number, Slot> = new Map();
  constructor(readonly world: number, readonly timeoutMs: number) {}

  slot(seq: number, what: string): Slot {
    let s = this.slots.get(seq);
    if (!s) {
      let resolve!: () => void;
      const done = new Promise<void>((r) => resolve = r);
      s = {
        what,
        parts: Array.from({ length: this.world }, () => undefined),
        arrived: 0,
        done,
        resolve,
      };
      this.slots.set(seq, s);
    }
    return s;
  }

  /**
   * Deposits rank's contribution to collective `seq`; the last arrival runs `combine`.
   * Resolves with this rank's result.
   */
  async exchange(
    rank: number,
    seq: number,
    what: string,
    part: HostArray | undefined,
    combine: (parts: (HostArray | undefined)[]) => HostArray[],
  ): Promise<HostArray> {
    const s = this.slot(seq, what);
    if (s.what !== what) {
      s.error = new Error(
        `collective #${seq}: rank ${rank} called ${what} while another rank called ${s.what}`,
      );
      s.resolve();
      throw s.error;
    }
    s.parts[rank] = part;
    s.arrived++;
    if (s.arrived === this.world) {
      try {
        s.results = combine(s.parts);
      } catch (e) {
        s.error = e as Error;
      }
      s.resolve();
    }
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<void>((_, reject) => {
      timer = setTimeout(() => {
        const missing = s.parts.map((p, r) => (p === undefined ? r : -1)).filter((r) => r >= 0);
        reject(
          new Error(
            `collective #${seq} (${what}): rank ${rank} waited ${this.timeoutMs} ms; ` +
              `rank(s) ${missing.join(", ")} never arrived`,
          ),
        );
      }, this.timeoutMs);
    });
    try {
      await Promise.race([s.done, timeout]);
    } finally {
      clearTimeout(timer);
    }
    if (s.error) throw s.error;
    const out = s.results![rank];
    s.parts[rank] = undefined;
    if (--s.arrived === 0) this.slots.delete(seq);
    return out;
  }
}

/** One virtual rank of an in-process group. */
export class InProcessCollective implements Collective {
  #hub: Hub;
  #seq = 0;

  /** Use `createInProcessGroup`. */
  constructor(hub: Hub, readonly rank: number) {
    this.#hub = hub;
  }

  /** Number of ranks. */
  get world(): number {
    return this.#hub.world;
  }

  #exchange(
    what: string,
    part: HostArray,
    combine: (parts: HostArray[]) => HostArray[],
  ): Promise<HostArray> {
    return this.#hub.exchange(
      this.rank,
      this.#seq++,
      what,
      part,
      (parts) => combine(parts as HostArray[]),
    );
  }

  /** In place: the element-wise reduction over ranks. */
  async allReduce(t: Tensor, op: ReduceOp = "sum"): Promise<void> {
    checkCollectiveTensor("allReduce", t);
    const mine = await stageOut(t);
    const r = await this.#exchange(`allReduce ${op} ${t.dtype}[${t.size}]`, mine, (parts) => {
      const acc = parts[0].slice();
      for (let i = 1; i < parts.length; i++) reduceInto(acc, parts[i], op);
      return parts.map(() => acc);
    });
    stageIn(t, r);
  }

  /** `output` = every rank's `input` in rank order. */
  async allGather(input: Tensor, output: Tensor): Promise<void> {
    checkGatherShapes("allGather", input, output, this.world);
    const r = await this.#exchange(
      `allGather ${input.dtype}[${input.size}]`,
      await stageOut(input),
      (parts) => {
        const all = concat(parts);
        return parts.map(() => all);
      },
    );
    stageIn(output, r);
  }

  /** This rank's block of the reduction over ranks of `input`. */
  async reduceScatter(input: Tensor, output: Tensor, op: ReduceOp = "sum"): Promise<void> {
    checkGatherShapes("reduceScatter", output, input, this.world);
    const n = output.size;
    const r = await this.#exchange(
      `reduceScatter ${op} ${input.dtype}[${input.size}]`,
      await stageOut(input),
      (parts) => {
        const acc = parts[0].slice();
        for (let i = 1; i < parts.length; i++) reduceInto(acc, parts[i], op);
        return parts.map((_, rank) => acc.slice(rank * n, (rank + 1) * n));
      },
    );
    stageIn(output, r);
  }

  /** In place: every rank's `t` becomes `root`'s. */
  async broadcast(t: Tensor, root = 0): Promise<void> {
    checkCollectiveTensor("broadcast", t);
    if (!(Number.isInteger(root) && root >= 0 && root < this.world)) {
      throw new Error(`broadcast: root ${root} outside [0, ${this.world})`);
    }
    const r = await this.#exchange(
      `broadcast ${root} ${t.dtype}[${t.size}]`,
      await stageOut(t),
      (parts) => parts.map(() => parts[root]),
    );
    stageIn(t, r);
  }

  /** Resolves once every rank has called it. */
  async barrier(): Promise<void> {
    await this.#exchange("barrier", new Int32Array(0), (parts) => parts);
  }

  /** Every rank's array concatenated in rank order. */
  async allGatherHost<A extends HostArray>(data: A): Promise<A> {
    const kind = data instanceof Int32Array ? "i32" : "f32";
    const r = await this.#exchange(`allGatherHost ${kind}[${data.length}]`, data.slice(), (p) => {
      const all = concat(p);
      return p.map(() => all);
    });
    return r.slice() as A;
  }
}

function concat(parts: HostArray[]): HostArray {
  const n = parts.reduce((a, p) => a + p.length, 0);
  const out = parts[0] instanceof Int32Array ? new Int32Array(n) : new Float32Array(n);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** Creates `world` virtual ranks that exchange through this process's memory. */
export function createInProcessGroup(
  world: number,
  opts: InProcessOptions = {},
): InProcessCollective[] {
  if (!(Number.isInteger(world) && world >= 1)) {
    throw new Error(`createInProcessGroup: world ${world} must be an integer ≥ 1`);
  }
  const hub = new Hub(world, opts.timeoutMs ?? 120_000);
  return Array.from({ length: world }, (_, r) => new InProcessCollective(hub, r));
}
