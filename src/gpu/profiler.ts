/**
 * Per-kernel GPU time from timestamp queries. Enabled by `ARCFACE_PROFILE=1`; each dispatch
 * then runs in a compute pass of its own whose begin and end are timestamped. The report
 * lists, per kernel name, calls, total and mean time, sorted by total.
 *
 * @module
 */

/** One line of the profile. */
export interface ProfileEntry {
  /** Kernel (dispatch) name. */
  name: string;
  /** Dispatches counted. */
  calls: number;
  /** Total GPU milliseconds (0 when the adapter has no timestamp queries). */
  ms: number;
}

const CAPACITY = 4096; // timestamps per query set (two per dispatch)

/** Collects timestamps of profiled dispatches and turns them into a per-kernel table. */
export class Profiler {
  #device: GPUDevice;
  #timestamps: boolean;
  #querySet?: GPUQuerySet;
  #resolve?: GPUBuffer;
  #names: string[] = [];
  #entries = new Map<string, ProfileEntry>();
  #pending: Promise<void>[] = [];

  /**
   * A profiler with no recorded passes.
   * @param device the device
   * @param timestamps whether `timestamp-query` is enabled
   */
  constructor(device: GPUDevice, timestamps: boolean) {
    this.#device = device;
    this.#timestamps = timestamps;
  }

  /** Whether more dispatches fit in the current query set. */
  get full(): boolean {
    return this.#names.length * 2 >= CAPACITY;
  }

  /**
   * The timestamp writes for the next dispatch named `name` (undefined without timestamp
   * support; the call is still counted).
   */
  next(name: string): GPUComputePassTimestampWrites | undefined {
    if (!this.#timestamps) {
      this.#count(name, 0);
      return undefined;
    }
    if (!this.#querySet) {
      this.#querySet = this.#device.createQuerySet({ type: "timestamp", count: CAPACITY });
      this.#resolve = this.#device.createBuffer({
        size: CAPACITY * 8,
        usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC,
      });
    }
    const i = this.#names.length * 2;
    this.#names.push(name);
    return {
      querySet: this.#querySet,
      beginningOfPassWriteIndex: i,
      endOfPassWriteIndex: i + 1,
    };
  }

  /** Records the resolve of this batch's timestamps into `encoder`; call before finishing it. */
  resolve(encoder: GPUCommandEncoder): (() => void) | undefined {
    const n = this.#names.length;
    if (!this.#timestamps || n === 0) return undefined;
    const names = this.#names;
    this.#names = [];
    const read = this.#device.createBuffer({
      size: n * 16,
      usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
    });
    encoder.resolveQuerySet(this.#querySet!, 0, n * 2, this.#resolve!, 0);
    encoder.copyBufferToBuffer(this.#resolve!, 0, read, 0, n * 16);
    return () => {
      this.#pending.push(
        read.mapAsync(GPUMapMode.READ).then(() => {
          const t = new BigInt64Array(read.getMappedRange());
          for (let k = 0; k < n; k++) {
            const ns = Number(t[2 * k + 1] - t[2 * k]);
            this.#count(names[k], ns > 0 ? ns / 1e6 : 0);
          }
          read.unmap();
          read.destroy();
        }),
      );
    };
  }

  #count(name: string, ms: number) {
    let e = this.#entries.get(name);
    if (!e) this.#entries.set(name, e = { name, calls: 0, ms: 0 });
    e.calls++;
    e.ms += ms;
  }

  /** Waits for outstanding timestamp reads and returns the entries, largest total first. */
  async entries(): Promise<ProfileEntry[]> {
    await Promise.all(this.#pending);
    this.#pending = [];
    return [...this.#entries.values()].sort((a, b) => b.ms - a.ms || b.calls - a.calls);
  }

  /** Forgets everything counted so far. */
  reset(): void {
    this.#entries.clear();
  }

  /** Formats the profile as a table. */
  async report(): Promise<string> {
    const rows = await this.entries();
    const total = rows.reduce((s, r) => s + r.ms, 0);
    const w = Math.max(6, ...rows.map((r) => r.name.length));
    const lines = [
      `${"kernel".padEnd(w)}  ${"calls".padStart(7)}  ${"total ms".padStart(10)}  ` +
      `${"mean µs".padStart(9)}  ${"share".padStart(6)}`,
    ];
    for (const r of rows) {
      lines.push(
        `${r.name.padEnd(w)}  ${String(r.calls).padStart(7)}  ${r.ms.toFixed(3).padStart(10)}  ` +
          `${(r.ms * 1000 / r.calls).toFixed(1).padStart(9)}  ` +
          `${(total > 0 ? 100 * r.ms / total : 0).toFixed(1).padStart(5)}%`,
      );
    }
    if (!this.#timestamps) lines.push("(no timestamp-query on this adapter: calls only)");
    return lines.join("\n");
  }
}
