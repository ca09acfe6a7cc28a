/**
 * Where a run's logs go: `training.log` (the reference's text records, also echoed to stdout)
 * and `metrics.jsonl` (one JSON object per logged step or validation result, the machine-
 * readable twin of the log, read back for the end-of-run plot), with the same scalars
 * forwarded to a TensorBoard {@link EventWriter} when one is attached.
 *
 * Files are opened for appending, so a resumed run continues them; records are written
 * synchronously, one call each, so a killed run loses nothing it logged.
 *
 * @module
 */
import { formatRecord } from "./log_line.ts";
import type { EventWriter } from "./tensorboard.ts";

/** Options of {@link TrainingLog.open}. */
export interface TrainingLogOptions {
  /** Echo records to stdout (default true). */
  echo?: boolean;
  /** Called before each echo, e.g. to clear a progress bar from the terminal line. */
  beforeEcho?: () => void;
  /** Clock (default `new Date()`), for tests. */
  now?: () => Date;
}

/** `training.log`: timestamped records `Training: <asctime>-<message>`. */
export class TrainingLog {
  /** Path of the log file. */
  readonly path: string;
  readonly #file: Deno.FsFile;
  readonly #opts: TrainingLogOptions;

  private constructor(path: string, file: Deno.FsFile, opts: TrainingLogOptions) {
    this.path = path;
    this.#file = file;
    this.#opts = opts;
  }

  /** Opens (appending) `<dir>/training.log`, creating the folder. */
  static async open(dir: string, opts: TrainingLogOptions = {}): Promise<TrainingLog> {
    const path = `${dir.replace(/\/+$/, "")}/training.log`;
    try {
      await Deno.mkdir(dir, { recursive: true });
      const file = await Deno.open(path, { append: true, create: true });
      return new TrainingLog(path, file, opts);
    } catch (e) {
      throw new Error(
        `cannot write ${path}: ${(e as Error).message} (set --output to a writable folder)`,
      );
    }
  }

  /** Writes one record per message (each a single line) and echoes them. */
  info(...messages: string[]): void {
    const now = this.#opts.now?.() ?? new Date();
    const text = messages.map((m) => formatRecord(m, now) + "\n").join("");
    writeAll(this.#file, new TextEncoder().encode(text));
    if (this.#opts.echo ?? true) {
      this.#opts.beforeEcho?.();
      writeAll(Deno.stdout, new TextEncoder().encode(text));
    }
  }

  /** Closes the file. */
  close(): void {
    this.#file.close();
  }
}

/** A logged training step. */
export interface TrainRecord {
  /** Record kind. */
  kind: "train";
  /** Global step (from 1). */
  step: number;
  /** Epoch (from 0). */
  epoch: number;
  /** Mean loss since the previous record. */
  loss: number;
  /** Learning rate. */
  lr: number;
  /** Samples per second over all ranks. */
  speed: number;
  /** fp16 loss scale (absent in fp32). */
  grad_scale?: number;
  /** Estimated hours left. */
  eta_hours: number;
  /** Unix time in seconds. */
  time: number;
}

/** A validation result of one target. */
export interface ValRecord {
  /** Record kind. */
  kind: "val";
  /** Global step. */
  step: number;
  /** Target name (`lfw`, `toy`, …). */
  target: string;
  /** Mean 10-fold accuracy in [0, 1]. */
  acc: number;
  /** Standard deviation over folds. */
  std: number;
  /** Mean embedding norm. */
  xnorm: number;
  /** Highest accuracy of this target so far. */
  highest: number;
  /** Unix time in seconds. */
  time: number;
}

/** One line of `metrics.jsonl`. */
export type MetricsRecord = TrainRecord | ValRecord;

/** JSON has no NaN/Infinity: they are stored as the strings "NaN", "Infinity", "-Infinity". */
function encodeNumber(_k: string, v: unknown): unknown {
  if (typeof v === "number" && !Number.isFinite(v)) return String(v);
  return v;
}

function decodeNumber(_k: string, v: unknown): unknown {
  if (v === "NaN") return NaN;
  if (v === "Infinity") return Infinity;
  if (v === "-Infinity") return -Infinity;
  return v;
}

/** The TensorBoard scalars of a record (the reference's tags where it has them). */
export function scalarsOf(r: MetricsRecord): Record<string, number> {
  if (r.kind === "val") return { [r.target]: r.acc };
  const s: Record<string, number> = {
    loss: r.loss,
    learning_rate: r.lr,
    time_for_end: r.eta_hours,
    speed: r.speed,
  };
  if (r.grad_scale !== undefined) s.grad_scale = r.grad_scale;
  return s;
}

/** `metrics.jsonl`: appends records, and forwards their scalars to TensorBoard if attached. */
export class MetricsLog {
  /** Path of the JSONL file. */
  readonly path: string;
  readonly #file: Deno.FsFile;
  readonly #events: EventWriter | undefined;

  private constructor(path: string, file: Deno.FsFile, events?: EventWriter) {
    this.path = path;
    this.#file = file;
    this.#events = events;
  }

  /** Opens (appending) `path`; `events` also receives every record's scalars. */
  static async open(path: string, events?: EventWriter): Promise<MetricsLog> {
    const dir = path.replace(/\/[^/]*$/, "");
    if (dir !== path && dir !== "") await Deno.mkdir(dir, { recursive: true });
    try {
      const file = await Deno.open(path, { append: true, create: true, read: true });
      // A run killed mid-write may have left a torn last line: start on a fresh one.
      const size = (await file.stat()).size;
      if (size > 0) {
        const last = new Uint8Array(1);
        await file.seek(size - 1, Deno.SeekMode.Start);
        await file.read(last);
        if (last[0] !== 0x0a) writeAll(file, new Uint8Array([0x0a]));
      }
      return new MetricsLog(path, file, events);
    } catch (e) {
      throw new Error(`cannot write ${path}: ${(e as Error).message}`);
    }
  }

  /** Appends one record (one JSON object, one line). */
  append(record: MetricsRecord): void {
    writeAll(this.#file, new TextEncoder().encode(JSON.stringify(record, encodeNumber) + "\n"));
    this.#events?.addScalars(record.step, scalarsOf(record), record.time);
  }

  /** Closes the JSONL file (not the event writer, which the caller owns). */
  close(): void {
    this.#file.close();
  }
}

/**
 * Reads `metrics.jsonl` back. A torn line (a run killed mid-write: no closing brace) is
 * skipped; any other malformed line is an error naming the file and line.
 */
export async function readMetrics(path: string): Promise<MetricsRecord[]> {
  const lines = (await Deno.readTextFile(path)).split("\n");
  const out: MetricsRecord[] = [];
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].trim();
    if (!line) continue;
    try {
      out.push(JSON.parse(line, decodeNumber) as MetricsRecord);
    } catch {
      if (!line.endsWith("}")) continue;
      throw new Error(`${path}:${i + 1}: not a JSON object`);
    }
  }
  return out;
}

function writeAll(w: { writeSync(p: Uint8Array): number }, bytes: Uint8Array): void {
  let off = 0;
  while (off < bytes.length) off += w.writeSync(bytes.subarray(off));
}
