/**
 * TensorBoard event files without TensorFlow: `events.out.tfevents.<seconds>.<host>` holding
 * TFRecords (u64 length, masked CRC-32C of the length bytes, payload, masked CRC-32C of the
 * payload; all little endian) whose payloads are `tensorflow.Event` protos, hand-encoded for
 * the few fields we write:
 *
 * - `Event`: wall_time = 1 (double), step = 2 (int64), file_version = 3 (string,
 *   `brain.Event:2` in the first record), summary = 5 (Summary);
 * - `Summary`: value = 1 (repeated Value); `Value`: tag = 1 (string), simple_value = 2 (float).
 *
 * TensorBoard reads `simple_value` scalars as its Scalars dashboard does for PyTorch's
 * SummaryWriter. The reference's tags are `loss`, `learning_rate`, `time_for_end` and one per
 * validation target (`lfw`, …).
 *
 * @module
 */

const CRC32C_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0x82f63b78 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

/** CRC-32C (Castagnoli, reflected polynomial 0x82F63B78) of `bytes`. */
export function crc32c(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) c = CRC32C_TABLE[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** TFRecord's masked CRC: rotate right by 15, add 0xA282EAD8 (mod 2³²). */
export function maskedCrc32c(bytes: Uint8Array): number {
  const c = crc32c(bytes);
  return ((((c >>> 15) | (c << 17)) >>> 0) + 0xa282ead8) >>> 0;
}

/** One TFRecord: length, its masked CRC, the payload, the payload's masked CRC. */
export function tfRecord(payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(12 + payload.length + 4);
  const view = new DataView(out.buffer);
  view.setBigUint64(0, BigInt(payload.length), true);
  view.setUint32(8, maskedCrc32c(out.subarray(0, 8)), true);
  out.set(payload, 12);
  view.setUint32(12 + payload.length, maskedCrc32c(payload), true);
  return out;
}

/** A growable protobuf wire-format writer for the handful of field kinds we need. */
class ProtoWriter {
  #bytes: number[] = [];

  varint(v: bigint | number): this {
    let x = BigInt.asUintN(64, BigInt(v));
    while (x >= 0x80n) {
      this.#bytes.push(Number(x & 0x7fn) | 0x80);
      x >>= 7n;
    }
    this.#bytes.push(Number(x));
    return this;
  }

  key(field: number, wire: number): this {
    return this.varint((field << 3) | wire);
  }

  double(field: number, v: number): this {
    const b = new Uint8Array(8);
    new DataView(b.buffer).setFloat64(0, v, true);
    this.key(field, 1).#bytes.push(...b);
    return this;
  }

  float(field: number, v: number): this {
    const b = new Uint8Array(4);
    new DataView(b.buffer).setFloat32(0, v, true);
    this.key(field, 5).#bytes.push(...b);
    return this;
  }

  int64(field: number, v: number): this {
    return this.key(field, 0).varint(BigInt(Math.trunc(v)));
  }

  bytes(field: number, b: Uint8Array): this {
    this.key(field, 2).varint(b.length).#bytes.push(...b);
    return this;
  }

  string(field: number, s: string): this {
    return this.bytes(field, new TextEncoder().encode(s));
  }

  finish(): Uint8Array {
    return Uint8Array.from(this.#bytes);
  }
}

/** The `Event` that opens every event file: wall time and `file_version: "brain.Event:2"`. */
export function encodeFileVersionEvent(wallTime: number): Uint8Array {
  return new ProtoWriter().double(1, wallTime).string(3, "brain.Event:2").finish();
}

/** An `Event` with one scalar per entry of `values`, all at `step`. */
export function encodeScalarEvent(
  wallTime: number,
  step: number,
  values: Readonly<Record<string, number>>,
): Uint8Array {
  const summary = new ProtoWriter();
  for (const [tag, v] of Object.entries(values)) {
    summary.bytes(1, new ProtoWriter().string(1, tag).float(2, v).finish());
  }
  return new ProtoWriter().double(1, wallTime).int64(2, step).bytes(5, summary.finish())
    .finish();
}

/** Options of {@link EventWriter.create}. */
export interface EventWriterOptions {
  /** Host name in the file name (default `Deno.hostname()`, "localhost" when not allowed). */
  hostname?: string;
  /** Wall clock in seconds (default `Date.now() / 1000`), for tests. */
  now?: () => number;
}

/**
 * Appends scalar summaries to a new event file in a folder (TensorBoard's `--logdir`).
 * Each call writes its record at once, so TensorBoard can follow a running job.
 */
export class EventWriter {
  /** Path of the event file. */
  readonly path: string;
  readonly #file: Deno.FsFile;
  readonly #now: () => number;

  private constructor(path: string, file: Deno.FsFile, now: () => number) {
    this.path = path;
    this.#file = file;
    this.#now = now;
  }

  /** Creates `dir` if needed and a new event file in it, starting with the version record. */
  static async create(dir: string, opts: EventWriterOptions = {}): Promise<EventWriter> {
    const now = opts.now ?? (() => Date.now() / 1000);
    let host = opts.hostname;
    if (host === undefined) {
      try {
        host = Deno.hostname();
      } catch {
        host = "localhost";
      }
    }
    await Deno.mkdir(dir, { recursive: true });
    const t = now();
    const base = `${dir.replace(/\/+$/, "")}/events.out.tfevents.` +
      `${String(Math.floor(t)).padStart(10, "0")}.${host}`;
    for (let n = 0;; n++) {
      const path = n === 0 ? base : `${base}.${n}`;
      let file: Deno.FsFile;
      try {
        file = await Deno.open(path, { write: true, createNew: true });
      } catch (e) {
        if (e instanceof Deno.errors.AlreadyExists) continue;
        throw new Error(`cannot create TensorBoard event file ${path}: ${(e as Error).message}`);
      }
      const w = new EventWriter(path, file, now);
      w.#write(encodeFileVersionEvent(t));
      return w;
    }
  }

  #write(event: Uint8Array): void {
    const rec = tfRecord(event);
    let off = 0;
    while (off < rec.length) off += this.#file.writeSync(rec.subarray(off));
  }

  /** Writes one scalar `tag` = `value` at `step`. */
  addScalar(tag: string, value: number, step: number, wallTime: number = this.#now()): void {
    this.addScalars(step, { [tag]: value }, wallTime);
  }

  /** Writes several scalars at `step` in one event. */
  addScalars(
    step: number,
    values: Readonly<Record<string, number>>,
    wallTime: number = this.#now(),
  ): void {
    if (Object.keys(values).length === 0) return;
    this.#write(encodeScalarEvent(wallTime, step, values));
  }

  /** Closes the file. */
  close(): void {
    this.#file.close();
  }
}
