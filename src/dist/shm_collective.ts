/**
 * Collectives between the processes of one machine through POSIX shared memory (`shm.ts`):
 * one process per GPU adapter, as `train.ts` launches them, exchanging host copies of their
 * tensors.
 *
 * Layout of the region: a 16 KiB header (magic, world, slot size, attach count, the barrier's
 * count and generation, an abort word, each rank's pid and the descriptor of the operation it
 * is in), then two sets of one slot of `slotBytes` per rank. Data moves in blocks of one
 * slot, alternating between the sets (across operations too):
 * - all-reduce: every rank writes its block to its slot; rank r reduces sub-range r of the
 *   block over slots 0…P−1 in rank order into slot 0 (so every rank gets the same bits, the
 *   data-parallel replicas stay identical); every rank copies slot 0 out. Each rank reads and
 *   writes 1/P of the reduction: the shared-memory form of a ring's reduce-scatter +
 *   all-gather, with barriers instead of P − 1 hops.
 * - reduce-scatter: rank r writes destination d's part of its block at offset d·len of its
 *   slot and reduces part r of every slot into its output.
 * - all-gather and broadcast: write own block, barrier, read the others'.
 * Barriers are a generation counter; waiters spin, then sleep on a futex. With two slot sets
 * a block needs no barrier after its last read: the next write to that set comes one block
 * later, after a barrier every rank reaches only once done reading (all-reduce: 2 barriers a
 * block, was 3; the others: 1, was 2).
 *
 * Failures end every rank, never hang one: each operation publishes its descriptor (kind,
 * count, root, sequence number) and all ranks compare them after the first barrier, so a rank
 * that calls a different operation or shape fails everywhere with both calls named; a waiting
 * rank checks its peers' pids every `pollMs` and fails, naming the rank and pid, when one has
 * exited; a rank that fails sets the abort word and wakes the others, which fail too.
 *
 * @module
 */
import { type HostArray, reduceInto, type ReduceOp } from "./collective.ts";
import { processAlive, SharedRegion } from "./shm.ts";
import { HostCollective } from "./staging.ts";

const MAGIC = 0x41524346; // "ARCF"
const HEADER_BYTES = 16384;
/** Most ranks one region holds. */
export const SHM_MAX_WORLD = 256;
// header i32 indices
const H_MAGIC = 0, H_WORLD = 1, H_SLOT = 2, H_ATTACHED = 3, H_COUNT = 4, H_GEN = 5, H_ABORT = 6;
const H_PID = 8; // + rank
// + 4·(2·rank + seq % 2): kind, count, root, seq. Two per rank: a rank may publish its next
// operation while a slower one still compares the current one's.
const H_DESC = H_PID + SHM_MAX_WORLD;
const KINDS = ["barrier", "allReduce", "allGather", "reduceScatter", "broadcast", "allGatherHost"];

/** Options of `ShmCollective.connect`. */
export interface ShmOptions {
  /** Shared-memory object name, the same on every rank of the job ("/" + letters…). */
  name: string;
  /** This rank, in [0, world). */
  rank: number;
  /** Number of processes. */
  world: number;
  /** Bytes of each rank's slot (a multiple of 64; default 8 MiB): the block size. */
  slotBytes?: number;
  /** How long ranks wait for each other to attach (ms; default 120 000). */
  attachTimeoutMs?: number;
  /** How often a waiting rank checks that its peers are alive (ms; default 200). */
  pollMs?: number;
  /**
   * Polls of the barrier before sleeping on the futex (default 20 000, some tens of µs);
   * 0 when ranks outnumber the cores.
   */
  spin?: number;
}

/** A rank's communicator over one machine's shared memory. */
export class ShmCollective extends HostCollective {
  /** This rank, in [0, world). */
  readonly rank: number;
  /** Number of ranks. */
  readonly world: number;
  readonly #region: SharedRegion;
  readonly #h: Int32Array;
  readonly #slotBytes: number;
  readonly #pollMs: number;
  readonly #spin: number;
  #seq = 0;
  #set = 0;
  #closed = false;
  #what = "attach";

  private constructor(region: SharedRegion, opts: ShmOptions, slotBytes: number) {
    super();
    this.rank = opts.rank;
    this.world = opts.world;
    this.#region = region;
    this.#h = new Int32Array(region.bytes, 0, HEADER_BYTES / 4);
    this.#slotBytes = slotBytes;
    this.#pollMs = opts.pollMs ?? 200;
    this.#spin = opts.spin ?? 20_000;
  }

  /**
   * Attaches rank `opts.rank` to the job's region: rank 0 creates it, the others wait for it;
   * resolves once all `world` ranks are attached (rank 0 then unlinks the name, so nothing is
   * left in /dev/shm whatever happens later).
   * @throws on bad options, a region of another size or world, or ranks missing after
   *   `attachTimeoutMs` (named)
   */
  static async connect(opts: ShmOptions): Promise<ShmCollective> {
    const { name, rank, world } = opts;
    const slotBytes = opts.slotBytes ?? 8 << 20;
    if (!Number.isInteger(world) || world < 1 || world > SHM_MAX_WORLD) {
      throw new Error(`shared-memory collective: world ${world} outside [1, ${SHM_MAX_WORLD}]`);
    }
    if (!Number.isInteger(rank) || rank < 0 || rank >= world) {
      throw new Error(`shared-memory collective: rank ${rank} outside [0, ${world})`);
    }
    if (!Number.isInteger(slotBytes) || slotBytes % 64 !== 0 || slotBytes < 4 * world) {
      throw new Error(
        `shared-memory collective: slotBytes ${slotBytes} must be a multiple of 64 and hold ` +
          `at least one element per rank (${4 * world} bytes)`,
      );
    }
    const size = HEADER_BYTES + 2 * world * slotBytes;
    const timeout = opts.attachTimeoutMs ?? 120_000;
    const t0 = performance.now();
    let region: SharedRegion | null;
    if (rank === 0) {
      region = SharedRegion.create(name, size);
      const h = new Int32Array(region.bytes, 0, HEADER_BYTES / 4);
      h[H_WORLD] = world;
      h[H_SLOT] = slotBytes;
      Atomics.store(h, H_MAGIC, MAGIC);
    } else {
      for (;;) {
        region = SharedRegion.open(name, HEADER_BYTES);
        if (region && Atomics.load(new Int32Array(region.bytes, 0, 1), 0) === MAGIC) break;
        region?.close();
        if (performance.now() - t0 > timeout) {
          throw new Error(
            `rank ${rank}: rank 0 did not create shared memory "${name}" within ` +
              `${timeout / 1000} s; start every rank with the same name and world`,
          );
        }
        await new Promise((r) => setTimeout(r, 20));
      }
      const h = new Int32Array(region.bytes, 0, HEADER_BYTES / 4);
      if (h[H_WORLD] !== world || h[H_SLOT] !== slotBytes || region.size !== size) {
        region.close();
        throw new Error(
          `rank ${rank}: shared memory "${name}" is for world ${h[H_WORLD]} with ` +
            `${h[H_SLOT]}-byte slots, this rank was started with world ${world} and ` +
            `${slotBytes}; start every rank with the same settings`,
        );
      }
    }
    const c = new ShmCollective(region, opts, slotBytes);
    const h = c.#h;
    Atomics.store(h, H_PID + rank, Deno.pid);
    Atomics.add(h, H_ATTACHED, 1);
    region.wake(H_ATTACHED * 4);
    for (;;) {
      const n = Atomics.load(h, H_ATTACHED);
      if (n === world) break;
      if (performance.now() - t0 > timeout) {
        const missing = [];
        for (let r = 0; r < world; r++) if (Atomics.load(h, H_PID + r) === 0) missing.push(r);
        c.close();
        if (rank === 0) SharedRegion.unlink(name);
        throw new Error(
          `rank ${rank}: ranks ${missing.join(", ")} of ${world} did not attach to "${name}" ` +
            `within ${timeout / 1000} s`,
        );
      }
      c.#checkPeers("attach");
      await region.wait(H_ATTACHED * 4, n, c.#pollMs);
    }
    await c.#sync();
    if (rank === 0) SharedRegion.unlink(name);
    return c;
  }

  /** Flips the slot set for the next block (see the module notes). */
  #next(): void {
    this.#set ^= 1;
  }

  #slot(s: number, dtype: "f32" | "i32", elems: number): HostArray {
    const off = HEADER_BYTES + (this.#set * this.world + s) * this.#slotBytes;
    return dtype === "i32"
      ? new Int32Array(this.#region.bytes, off, elems)
      : new Float32Array(this.#region.bytes, off, elems);
  }

  #abort(message: string): never {
    if (!this.#closed) {
      Atomics.compareExchange(this.#h, H_ABORT, 0, this.rank + 1);
      Atomics.add(this.#h, H_GEN, 1 << 16); // wakes barrier waiters without completing them
      this.#region.wake(H_GEN * 4);
    }
    throw new Error(message);
  }

  #checkPeers(what: string): void {
    // a dead peer first (every rank sees it and names it), then another rank's abort
    for (let r = 0; r < this.world; r++) {
      const pid = Atomics.load(this.#h, H_PID + r);
      if (r !== this.rank && pid !== 0 && !processAlive(pid)) {
        this.#abort(
          `rank ${this.rank}: rank ${r} (pid ${pid}) exited during ${what}; the job stops`,
        );
      }
    }
    const a = Atomics.load(this.#h, H_ABORT);
    if (a !== 0 && a !== this.rank + 1) {
      throw new Error(
        `rank ${this.rank}: rank ${a - 1} failed during ${what}; see its error above`,
      );
    }
  }

  /** Resolves once every rank has reached it. */
  async barrier(): Promise<void> {
    await this.#begin(0, 0);
  }

  /** The raw barrier under every phase (no descriptor). */
  async #sync(): Promise<void> {
    if (this.#closed) throw new Error(`rank ${this.rank}: collective used after close()`);
    const h = this.#h;
    const gen = Atomics.load(h, H_GEN);
    if (Atomics.add(h, H_COUNT, 1) === this.world - 1) {
      Atomics.store(h, H_COUNT, 0);
      Atomics.add(h, H_GEN, 1);
      this.#region.wake(H_GEN * 4);
    } else {
      // a short spin first: a futex wait goes through Deno's FFI thread pool and the event
      // loop (~0.1 ms a round), longer than a whole small all-reduce between idle cores
      for (let i = 0; i < this.#spin && Atomics.load(h, H_GEN) === gen; i++);
      while (Atomics.load(h, H_GEN) === gen) {
        await this.#region.wait(H_GEN * 4, gen, this.#pollMs);
        if (Atomics.load(h, H_GEN) === gen) this.#checkPeers(this.#what);
      }
    }
    if (Atomics.load(h, H_ABORT) !== 0) this.#checkPeers(this.#what);
  }

  /** Publishes this rank's operation, waits for all, and fails everywhere on a mismatch. */
  async #begin(kind: number, count: number, root = 0): Promise<void> {
    const seq = ++this.#seq;
    this.#what = `collective #${seq} (${KINDS[kind]})`;
    const at = (r: number) => H_DESC + 4 * (2 * r + seq % 2);
    const d = at(this.rank);
    const h = this.#h;
    h[d] = kind, h[d + 1] = count, h[d + 2] = root, h[d + 3] = seq;
    await this.#sync();
    const what = (r: number) => {
      const e = at(r);
      return `${KINDS[h[e]] ?? "?"}(${h[e + 1]} elements${h[e] === 4 ? `, root ${h[e + 2]}` : ""})`;
    };
    for (let r = 0; r < this.world; r++) {
      const e = at(r);
      if (h[e] !== kind || h[e + 1] !== count || h[e + 2] !== root || h[e + 3] !== seq) {
        // every rank sees the same descriptors, so every rank throws here
        throw new Error(
          `collective #${seq}: rank ${this.rank} called ${what(this.rank)} while rank ${r} ` +
            `called ${what(r)} (its collective #${h[e + 3]}); every rank must call the same ` +
            "collectives in the same order with the same shapes",
        );
      }
    }
  }

  /** In place: `data` becomes the element-wise reduction over ranks. */
  async allReduceHost(data: HostArray, op: ReduceOp = "sum"): Promise<void> {
    const dtype = data instanceof Int32Array ? "i32" : "f32";
    await this.#begin(1, data.length, op === "max" ? 1 : 0);
    const B = this.#slotBytes / 4, P = this.world, r = this.rank;
    for (let off = 0; off < data.length; off += B) {
      const len = Math.min(B, data.length - off);
      this.#slot(r, dtype, len).set(data.subarray(off, off + len));
      await this.#sync();
      const chunk = Math.ceil(len / P);
      const lo = Math.min(len, r * chunk), hi = Math.min(len, lo + chunk);
      if (hi > lo) {
        const acc = this.#slot(0, dtype, len).subarray(lo, hi);
        for (let s = 1; s < P; s++) reduceInto(acc, this.#slot(s, dtype, len).subarray(lo, hi), op);
      }
      await this.#sync();
      data.set(this.#slot(0, dtype, len), off);
      this.#next();
    }
  }

  /** Every rank's `data` concatenated in rank order (all ranks pass the same length). */
  async allGatherHost<A extends HostArray>(data: A): Promise<A> {
    const dtype = data instanceof Int32Array ? "i32" : "f32";
    await this.#begin(5, data.length);
    const n = data.length, B = this.#slotBytes / 4;
    const out =
      (dtype === "i32" ? new Int32Array(n * this.world) : new Float32Array(n * this.world)) as A;
    for (let off = 0; off < n; off += B) {
      const len = Math.min(B, n - off);
      this.#slot(this.rank, dtype, len).set(data.subarray(off, off + len));
      await this.#sync();
      for (let s = 0; s < this.world; s++) out.set(this.#slot(s, dtype, len), s * n + off);
      this.#next();
    }
    return out;
  }

  /** `input` holds `world` parts of n; returns part `rank` reduced over ranks. */
  async reduceScatterHost(input: HostArray, op: ReduceOp = "sum"): Promise<HostArray> {
    const dtype = input instanceof Int32Array ? "i32" : "f32";
    if (input.length % this.world !== 0) {
      throw new Error(
        `reduceScatter: ${input.length} elements do not split into ${this.world} parts`,
      );
    }
    await this.#begin(3, input.length, op === "max" ? 1 : 0);
    const P = this.world, n = input.length / P, r = this.rank;
    const B = Math.floor(this.#slotBytes / 4 / P);
    const out = dtype === "i32" ? new Int32Array(n) : new Float32Array(n);
    for (let off = 0; off < n; off += B) {
      const len = Math.min(B, n - off);
      const mine = this.#slot(r, dtype, P * len);
      for (let d = 0; d < P; d++) mine.set(input.subarray(d * n + off, d * n + off + len), d * len);
      await this.#sync();
      const acc = out.subarray(off, off + len);
      acc.set(this.#slot(0, dtype, P * len).subarray(r * len, (r + 1) * len));
      for (let s = 1; s < P; s++) {
        reduceInto(acc, this.#slot(s, dtype, P * len).subarray(r * len, (r + 1) * len), op);
      }
      this.#next();
    }
    return out;
  }

  /** In place: every rank's `data` becomes `root`'s. */
  async broadcastHost(data: HostArray, root = 0): Promise<void> {
    if (!Number.isInteger(root) || root < 0 || root >= this.world) {
      throw new Error(`broadcast: root ${root} outside [0, ${this.world})`);
    }
    const dtype = data instanceof Int32Array ? "i32" : "f32";
    await this.#begin(4, data.length, root);
    const B = this.#slotBytes / 4;
    for (let off = 0; off < data.length; off += B) {
      const len = Math.min(B, data.length - off);
      if (this.rank === root) this.#slot(0, dtype, len).set(data.subarray(off, off + len));
      await this.#sync();
      if (this.rank !== root) data.set(this.#slot(0, dtype, len), off);
      this.#next();
    }
  }

  /** Unmaps the region; the collective cannot be used afterwards. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#region.close();
  }
}
