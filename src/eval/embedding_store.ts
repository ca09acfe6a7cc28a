/**
 * Embeddings on disk, so that an evaluation over millions of images needs O(N·E) disk and
 * O(block·E) memory: {@link EmbeddingWriter} appends row batches to a temporary `.npy`
 * (N×E float32, C order) whose header is written with the final N on `close()`, after which
 * the file is synced and atomically renamed into place (a crash leaves no half file under the
 * real name); {@link EmbeddingStore} reads row blocks back with positioned reads and is an
 * {@link EmbeddingSource} for the pair scorer. NumPy reads the files with `np.load`.
 *
 * @module
 */
import { writeAll } from "../io/atomic.ts";
import type { EmbeddingSource } from "./pair_scoring.ts";

/** Bytes reserved for the `.npy` v1 preamble + header (a multiple of 64; fits any shape). */
const HEADER_BYTES = 128;
const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59];

function npyHeader(rows: number, dim: number): Uint8Array {
  let dict = `{'descr': '<f4', 'fortran_order': False, 'shape': (${rows}, ${dim}), }`;
  const pad = HEADER_BYTES - 10 - dict.length - 1;
  if (pad < 0) throw new Error(`npy header for (${rows}, ${dim}) is too long`);
  dict += " ".repeat(pad) + "\n";
  const out = new Uint8Array(HEADER_BYTES);
  out.set(MAGIC, 0);
  out[6] = 1; // version 1.0
  out[7] = 0;
  new DataView(out.buffer).setUint16(8, HEADER_BYTES - 10, true);
  out.set(new TextEncoder().encode(dict), 10);
  return out;
}

/** Appends embedding rows to `path` (a `.npy`), finalised by {@link close}. */
export class EmbeddingWriter {
  /** The final path. */
  readonly path: string;
  /** Embedding size E. */
  readonly dim: number;
  #tmp: string;
  #file: Deno.FsFile | null;
  #rows = 0;

  private constructor(path: string, tmp: string, file: Deno.FsFile, dim: number) {
    this.path = path;
    this.#tmp = tmp;
    this.#file = file;
    this.dim = dim;
  }

  /** Starts a store at `path` for rows of `dim` floats (writes go to a temporary file). */
  static async create(path: string, dim: number): Promise<EmbeddingWriter> {
    if (!Number.isInteger(dim) || dim < 1) throw new Error(`${path}: bad embedding size ${dim}`);
    const tmp = `${path}.${Deno.pid}.${Math.random().toString(36).slice(2, 8)}.tmp`;
    const file = await Deno.open(tmp, { write: true, create: true, truncate: true });
    await writeAll(file, npyHeader(0, dim));
    return new EmbeddingWriter(path, tmp, file, dim);
  }

  /** Rows written so far. */
  get rows(): number {
    return this.#rows;
  }

  /** Appends rows (row-major, a whole number of rows of `dim`). */
  async append(rows: Float32Array): Promise<void> {
    if (!this.#file) throw new Error(`${this.path}: append after close`);
    if (rows.length % this.dim !== 0) {
      throw new Error(`${this.path}: ${rows.length} values are not whole rows of ${this.dim}`);
    }
    await writeAll(this.#file, new Uint8Array(rows.buffer, rows.byteOffset, rows.byteLength));
    this.#rows += rows.length / this.dim;
  }

  /** Writes the header with the final row count, syncs and renames the file into place. */
  async close(): Promise<void> {
    const f = this.#file;
    if (!f) return;
    this.#file = null;
    try {
      await f.seek(0, Deno.SeekMode.Start);
      await writeAll(f, npyHeader(this.#rows, this.dim));
      await f.syncData();
    } catch (e) {
      f.close();
      await Deno.remove(this.#tmp).catch(() => {});
      throw e;
    }
    f.close();
    await Deno.rename(this.#tmp, this.path);
  }

  /** Drops the temporary file (after an error). */
  async abort(): Promise<void> {
    if (this.#file) {
      this.#file.close();
      this.#file = null;
    }
    await Deno.remove(this.#tmp).catch(() => {});
  }
}

/** Reads row blocks of an N×E float32 `.npy` written by {@link EmbeddingWriter} or NumPy. */
export class EmbeddingStore implements EmbeddingSource {
  /** The file. */
  readonly path: string;
  /** Rows N. */
  readonly rows: number;
  /** Embedding size E. */
  readonly dim: number;
  #file: Deno.FsFile;
  #dataStart: number;

  private constructor(path: string, file: Deno.FsFile, rows: number, dim: number, start: number) {
    this.path = path;
    this.#file = file;
    this.rows = rows;
    this.dim = dim;
    this.#dataStart = start;
  }

  /**
   * Opens a store; checks the header (float32, C order, 2-D) and that the file holds exactly
   * N·E floats after it.
   * @throws naming the file and what is wrong (e.g. a truncated file and its byte counts)
   */
  static async open(path: string): Promise<EmbeddingStore> {
    const file = await Deno.open(path, { read: true });
    try {
      const size = (await file.stat()).size;
      const pre = new Uint8Array(12);
      const got = await readFull(file, 0, pre);
      if (got < 10 || MAGIC.some((m, i) => pre[i] !== m)) {
        throw new Error(`${path}: not a .npy file (bad magic); write it with EmbeddingWriter`);
      }
      const dv = new DataView(pre.buffer);
      const v1 = pre[6] === 1;
      const hlen = v1 ? dv.getUint16(8, true) : dv.getUint32(8, true);
      const start = (v1 ? 10 : 12) + hlen;
      const hdr = new Uint8Array(hlen);
      if (await readFull(file, v1 ? 10 : 12, hdr) < hlen) {
        throw new Error(`${path}: truncated .npy header (file is ${size} bytes)`);
      }
      const text = new TextDecoder().decode(hdr);
      const descr = /['"]descr['"]\s*:\s*['"]([^'"]+)['"]/.exec(text)?.[1];
      const fortran = /['"]fortran_order['"]\s*:\s*True/.test(text);
      const shape = /['"]shape['"]\s*:\s*\(\s*(\d+)\s*,\s*(\d+)\s*,?\s*\)/.exec(text);
      if (descr !== "<f4" || fortran || !shape) {
        throw new Error(
          `${path}: expected a 2-D C-order float32 .npy (descr '<f4'), header is ${text.trim()}`,
        );
      }
      const rows = Number(shape[1]), dim = Number(shape[2]);
      const want = start + rows * dim * 4;
      if (size !== want) {
        throw new Error(
          `${path}: ${size < want ? "truncated" : "has trailing bytes"}: a (${rows}, ${dim}) ` +
            `float32 array needs ${want} bytes, the file has ${size}; re-run the embedding step`,
        );
      }
      return new EmbeddingStore(path, file, rows, dim, start);
    } catch (e) {
      file.close();
      throw e;
    }
  }

  /** Rows `[start, start + count)` as a new count×E array (positioned read). */
  async read(start: number, count: number): Promise<Float32Array> {
    if (start < 0 || count < 0 || start + count > this.rows) {
      throw new Error(`${this.path}: rows ${start}…${start + count} outside 0…${this.rows}`);
    }
    const out = new Float32Array(count * this.dim);
    const bytes = new Uint8Array(out.buffer);
    const got = await readFull(this.#file, this.#dataStart + start * this.dim * 4, bytes);
    if (got !== bytes.length) {
      throw new Error(`${this.path}: short read at row ${start} (file changed while open?)`);
    }
    return out;
  }

  /** Closes the file. */
  close(): void {
    this.#file.close();
  }
}

async function readFull(file: Deno.FsFile, offset: number, into: Uint8Array): Promise<number> {
  await file.seek(offset, Deno.SeekMode.Start);
  let done = 0;
  while (done < into.length) {
    const n = await file.read(into.subarray(done));
    if (n === null) break;
    done += n;
  }
  return done;
}
