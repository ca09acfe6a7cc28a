/**
 * MXNet RecordIO (`.rec` + `.idx`), read and written as REFERENCE.md describes: records framed
 * by a magic number and a length word whose top three bits are the continuation flag, padded to
 * four bytes; payloads that start with an IRHeader (flag, float32 label, two uint64 ids) and
 * `flag` extra float32 labels; InsightFace's optional header record 0.
 *
 * The reader keeps only the index in memory (two Float64Arrays: 16 bytes per record) and reads each
 * record with a positioned read, so 100 GB packs open instantly. Every problem is a
 * {@link DataError} naming the file, key and byte offset.
 *
 * @module
 */
import { DataError } from "./errors.ts";

/** The magic number that starts every record part. */
export const RECORDIO_MAGIC = 0xced7230a;
/** Size of the IRHeader in bytes. */
export const IR_HEADER_BYTES = 24;
/** The largest payload part the length field can hold (2^29 − 1). */
export const MAX_PART_BYTES = (1 << 29) - 1;

/** An IRHeader with its labels. */
export interface IRHeader {
  /** The header flag: 0 for a scalar label, otherwise the number of float32 labels. */
  flag: number;
  /** The scalar label (0 when `flag > 0` in files written by MXNet). */
  label: number;
  /** The `flag` float32 labels, empty when `flag == 0`. */
  labels: Float32Array;
  /** First id field (InsightFace stores the record key there). */
  id: number;
  /** Second id field. */
  id2: number;
}

/** An unpacked record payload: its header and the bytes after it (an encoded image). */
export interface UnpackedRecord {
  /** The IRHeader. */
  header: IRHeader;
  /** The bytes after the header and labels (a view into the payload). */
  image: Uint8Array;
}

/** What to pack as a record header: a scalar label or an array of labels. */
export interface PackHeader {
  /** A scalar label (flag 0) or an array of labels (flag = its length). */
  label: number | ArrayLike<number>;
  /** First id field (default 0). */
  id?: number;
  /** Second id field (default 0). */
  id2?: number;
}

/** Packs an IRHeader (with MXNet's rule: an array label sets flag to its length) and bytes. */
export function packRecord(header: PackHeader, image: Uint8Array): Uint8Array {
  const arr = typeof header.label === "number" ? null : header.label;
  const n = arr ? arr.length : 0;
  const out = new Uint8Array(IR_HEADER_BYTES + 4 * n + image.length);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, n, true);
  dv.setFloat32(4, arr ? 0 : header.label as number, true);
  dv.setBigUint64(8, BigInt(header.id ?? 0), true);
  dv.setBigUint64(16, BigInt(header.id2 ?? 0), true);
  for (let i = 0; i < n; i++) dv.setFloat32(IR_HEADER_BYTES + 4 * i, arr![i], true);
  out.set(image, IR_HEADER_BYTES + 4 * n);
  return out;
}

/** Unpacks a record payload into its IRHeader and image bytes; throws a DataError if short. */
export function unpackRecord(
  payload: Uint8Array,
  where: { file: string; key?: number; offset?: number } = { file: "<memory>" },
): UnpackedRecord {
  if (payload.length < IR_HEADER_BYTES) {
    throw new DataError(
      `record payload of ${payload.length} bytes is shorter than the 24-byte IRHeader`,
      where,
    );
  }
  const dv = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
  const flag = dv.getUint32(0, true);
  const label = dv.getFloat32(4, true);
  const id = Number(dv.getBigUint64(8, true));
  const id2 = Number(dv.getBigUint64(16, true));
  const end = IR_HEADER_BYTES + 4 * flag;
  if (flag > (1 << 24) || end > payload.length) {
    throw new DataError(
      `IRHeader flag ${flag} announces ${flag} labels but the payload has ${payload.length} bytes`,
      where,
    );
  }
  const labels = new Float32Array(flag);
  for (let i = 0; i < flag; i++) labels[i] = dv.getFloat32(IR_HEADER_BYTES + 4 * i, true);
  return { header: { flag, label, labels, id, id2 }, image: payload.subarray(end) };
}

/** The class of a record: its scalar label, or the first label when it has an array. */
export function classOf(header: IRHeader): number {
  return header.flag > 0 ? header.labels[0] : header.label;
}

/**
 * Frames one payload as RecordIO bytes exactly as dmlc's writer does: wherever the magic number
 * occurs at a 4-byte-aligned position of the payload the record is split there (the magic
 * itself is dropped; readers re-insert it), parts flagged 1 (first), 2 (middle), 3 (last);
 * a payload without such occurrences is one part with flag 0. Zero padding to 4 bytes.
 */
export function frameRecord(payload: Uint8Array): Uint8Array {
  const len = payload.length;
  if (len > MAX_PART_BYTES) throw new Error(`record of ${len} bytes exceeds RecordIO's 2^29 limit`);
  const cuts: number[] = [];
  for (let i = 0; i + 4 <= len; i += 4) {
    if (
      payload[i] === 0x0a && payload[i + 1] === 0x23 && payload[i + 2] === 0xd7 &&
      payload[i + 3] === 0xce
    ) cuts.push(i);
  }
  const padded = (len + 3) & ~3;
  const out = new Uint8Array(8 * (cuts.length + 1) + padded - 4 * cuts.length);
  const dv = new DataView(out.buffer);
  let w = 0;
  let start = 0;
  const part = (flag: number, from: number, to: number) => {
    dv.setUint32(w, RECORDIO_MAGIC, true);
    dv.setUint32(w + 4, ((flag << 29) | (to - from)) >>> 0, true);
    out.set(payload.subarray(from, to), w + 8);
    w += 8 + (to - from);
  };
  for (const c of cuts) {
    part(start === 0 ? 1 : 2, start, c);
    start = c + 4;
  }
  part(cuts.length ? 3 : 0, start, len);
  return out;
}

/** An `.idx` file in memory: keys and byte offsets in file order, as typed arrays. */
export interface RecordIndex {
  /** Record keys, in the order of the `.idx` lines. */
  keys: Float64Array;
  /** Byte offset of each record in the `.rec`, parallel to `keys`. */
  offsets: Float64Array;
}

/**
 * Parses `.idx` text (`key\toffset` lines) streaming from disk into typed arrays, without
 * building strings per line. Bad lines are a DataError naming the line's byte offset.
 */
export function readIndexSync(idxPath: string): RecordIndex {
  const f = Deno.openSync(idxPath, { read: true });
  try {
    let keys = new Float64Array(1 << 16);
    let offsets = new Float64Array(1 << 16);
    let n = 0;
    const buf = new Uint8Array(1 << 20);
    let field = 0; // 0 = key, 1 = offset, 2 = after offset
    let cur = 0;
    let digits = 0;
    let key = 0;
    let lineStart = 0;
    let pos = 0;
    const bad = (why: string): never => {
      throw new DataError(`bad .idx line: ${why}`, { file: idxPath, offset: lineStart });
    };
    const endLine = () => {
      if (field === 0 && digits === 0) return; // blank line
      if (field === 0 || (field === 1 && digits === 0)) bad("expected `key<TAB>offset`");
      if (n === keys.length) {
        const k2 = new Float64Array(n * 2);
        k2.set(keys);
        keys = k2;
        const o2 = new Float64Array(n * 2);
        o2.set(offsets);
        offsets = o2;
      }
      keys[n] = key;
      offsets[n] = cur;
      n++;
    };
    while (true) {
      const got = f.readSync(buf);
      if (got === null) break;
      for (let i = 0; i < got; i++, pos++) {
        const c = buf[i];
        if (c >= 48 && c <= 57) {
          if (field === 2) bad("trailing characters");
          cur = cur * 10 + (c - 48);
          digits++;
        } else if (c === 10) {
          endLine();
          field = 0;
          cur = 0;
          digits = 0;
          lineStart = pos + 1;
        } else if (c === 9 || c === 32) {
          if (field === 0 && digits > 0) {
            key = cur;
            field = 1;
            cur = 0;
            digits = 0;
          } else if (field === 1 && digits > 0) field = 2;
        } else if (c !== 13) bad(`unexpected byte 0x${c.toString(16)}`);
      }
    }
    endLine();
    return { keys: keys.slice(0, n), offsets: offsets.slice(0, n) };
  } finally {
    f.close();
  }
}

/**
 * Builds an index by scanning a `.rec` from the start (for files without `.idx`, and for
 * checking one): keys are assigned 0, 1, 2… in file order, as MXNet's sequential reader sees
 * them. Stops with a DataError at the first bad magic or truncated record.
 */
export function scanRecordIOSync(recPath: string): RecordIndex {
  const f = Deno.openSync(recPath, { read: true });
  try {
    const size = f.statSync().size;
    const offsets: number[] = [];
    const hdr = new Uint8Array(8);
    const dv = new DataView(hdr.buffer);
    let pos = 0;
    let inMulti = false;
    let start = 0;
    while (pos < size) {
      if (size - pos < 8) {
        throw new DataError("truncated record header at end of file", {
          file: recPath,
          key: offsets.length,
          offset: pos,
        });
      }
      readFully(f, pos, hdr, recPath, offsets.length);
      if (dv.getUint32(0, true) !== RECORDIO_MAGIC) {
        throw new DataError(`bad magic 0x${dv.getUint32(0, true).toString(16)}`, {
          file: recPath,
          key: offsets.length,
          offset: pos,
        });
      }
      const lrec = dv.getUint32(4, true);
      const cflag = lrec >>> 29;
      const len = lrec & MAX_PART_BYTES;
      const next = pos + 8 + ((len + 3) & ~3);
      if (pos + 8 + len > size) {
        throw new DataError(`truncated record: ${len} bytes announced, ${size - pos - 8} left`, {
          file: recPath,
          key: offsets.length,
          offset: pos,
        });
      }
      if (cflag === 0 || cflag === 1) {
        if (inMulti) {
          throw new DataError("multi-part record not terminated", {
            file: recPath,
            key: offsets.length,
            offset: start,
          });
        }
        start = pos;
        inMulti = cflag === 1;
        if (!inMulti) offsets.push(start);
      } else {
        if (!inMulti) {
          throw new DataError(`continuation part (flag ${cflag}) without a first part`, {
            file: recPath,
            key: offsets.length,
            offset: pos,
          });
        }
        if (cflag === 3) {
          inMulti = false;
          offsets.push(start);
        }
      }
      pos = next;
    }
    if (inMulti) {
      throw new DataError("file ends inside a multi-part record", {
        file: recPath,
        key: offsets.length,
        offset: start,
      });
    }
    const o = Float64Array.from(offsets);
    return { keys: Float64Array.from(o, (_, i) => i), offsets: o };
  } finally {
    f.close();
  }
}

function readFully(f: Deno.FsFile, offset: number, out: Uint8Array, file: string, key?: number) {
  f.seekSync(offset, Deno.SeekMode.Start);
  let got = 0;
  while (got < out.length) {
    const n = f.readSync(out.subarray(got));
    if (n === null || n === 0) {
      throw new DataError(`unexpected end of file reading ${out.length} bytes`, {
        file,
        key,
        offset: offset + got,
      });
    }
    got += n;
  }
}

/** The InsightFace layout of a pack: its header record, if any, and where images are. */
export interface RecordLayout {
  /** True when record 0 is InsightFace's header (flag > 0 and no image after the labels). */
  hasHeader: boolean;
  /**
   * Number of image records: label[0] − 1 with a header (images are keys 1..label[0]−1),
   * otherwise every record of the index (image i is the i-th `.idx` entry).
   */
  numImages: number;
  /** Number of classes from the identity records, or null when the pack has no header. */
  numClasses: number | null;
  /** Key range [start, end) of the identity records, or null. */
  identityKeys: [number, number] | null;
}

/**
 * Random access to a `.rec` by key through its `.idx` (or a scan when there is none).
 * Synchronous positioned reads: each call is a seek and one read, sized by the next record's
 * offset when the index is in file order.
 */
export class RecordIOReader {
  /** The `.rec` path. */
  readonly recPath: string;
  /** The `.idx` path, or null when the index came from a scan. */
  readonly idxPath: string | null;
  /** The index (keys and offsets in `.idx` order). */
  readonly index: RecordIndex;
  /** Size of the `.rec` in bytes. */
  readonly fileSize: number;
  #file: Deno.FsFile;
  #dense: boolean;
  #sorted: boolean;
  #byKey: Map<number, number> | null = null;
  #buf = new Uint8Array(1 << 16);

  private constructor(recPath: string, idxPath: string | null, index: RecordIndex) {
    this.recPath = recPath;
    this.idxPath = idxPath;
    this.index = index;
    this.#file = Deno.openSync(recPath, { read: true });
    this.fileSize = this.#file.statSync().size;
    const k = index.keys;
    let dense = true;
    let sorted = true;
    for (let i = 0; i < k.length; i++) {
      if (k[i] !== i) dense = false;
      if (i > 0 && k[i] <= k[i - 1]) sorted = false;
    }
    this.#dense = dense;
    this.#sorted = sorted;
  }

  /**
   * Opens `recPath` with its index: `idxPath` when given, else the `.idx` beside it when it
   * exists, else a scan of the file.
   */
  static open(recPath: string, idxPath?: string): RecordIOReader {
    const guess = idxPath ?? recPath.replace(/\.rec$/, "") + ".idx";
    let index: RecordIndex;
    let used: string | null = guess;
    if (idxPath !== undefined || exists(guess)) index = readIndexSync(guess);
    else {
      index = scanRecordIOSync(recPath);
      used = null;
    }
    return new RecordIOReader(recPath, used, index);
  }

  /** Opens `recPath` with an index already in memory (e.g. shared with worker threads). */
  static withIndex(recPath: string, index: RecordIndex, idxPath: string | null): RecordIOReader {
    return new RecordIOReader(recPath, idxPath, index);
  }

  /** Number of records in the index. */
  get length(): number {
    return this.index.keys.length;
  }

  /** The position of `key` in the index, or −1. */
  position(key: number): number {
    const k = this.index.keys;
    if (this.#dense) return key >= 0 && key < k.length && Number.isInteger(key) ? key : -1;
    if (this.#sorted) {
      let lo = 0, hi = k.length - 1;
      while (lo <= hi) {
        const mid = (lo + hi) >>> 1;
        if (k[mid] === key) return mid;
        if (k[mid] < key) lo = mid + 1;
        else hi = mid - 1;
      }
      return -1;
    }
    if (!this.#byKey) {
      this.#byKey = new Map();
      for (let i = 0; i < k.length; i++) this.#byKey.set(k[i], i);
    }
    return this.#byKey.get(key) ?? -1;
  }

  /** True when the index has `key`. */
  has(key: number): boolean {
    return this.position(key) >= 0;
  }

  /** The byte offset of `key`'s record; throws a DataError for an unknown key. */
  offsetOf(key: number): number {
    const p = this.position(key);
    if (p < 0) throw new DataError(`no record with this key in the index`, this.#where(key));
    return this.index.offsets[p];
  }

  /** The offset of `key`, checked to lie inside the file. */
  #checkedOffset(key: number): number {
    const p = this.position(key);
    if (p < 0) throw new DataError(`no record with this key in the index`, this.#where(key));
    const offset = this.index.offsets[p];
    if (offset + 8 > this.fileSize) {
      throw new DataError(
        `.idx points past the end of the .rec (${this.fileSize} bytes): truncated .rec or ` +
          `wrong .idx`,
        { file: this.recPath, key, offset },
      );
    }
    return offset;
  }

  #where(key: number, offset?: number) {
    return { file: this.recPath, key, offset };
  }

  /** Reads `len` bytes at `offset` into the reusable buffer (grown as needed). */
  #readAt(offset: number, len: number, key: number): Uint8Array {
    if (offset + len > this.fileSize) {
      throw new DataError(
        `truncated record: needs bytes up to ${offset + len}, file has ${this.fileSize}`,
        this.#where(key, offset),
      );
    }
    if (this.#buf.length < len) this.#buf = new Uint8Array(Math.max(len, this.#buf.length * 2));
    const out = this.#buf.subarray(0, len);
    readFully(this.#file, offset, out, this.recPath, key);
    return out;
  }

  /**
   * Reads the payload of `key` (IRHeader + labels + image), joining multi-part records.
   * The returned bytes are a fresh copy.
   */
  readSync(key: number): Uint8Array {
    const offset = this.#checkedOffset(key);
    const p = this.position(key);
    // One read covering the whole record when the next index entry bounds it.
    const nextOff = Math.min(
      p + 1 < this.length ? this.index.offsets[p + 1] : this.fileSize,
      this.fileSize,
    );
    const guess = nextOff > offset && nextOff - offset <= (1 << 24) ? nextOff - offset : 8;
    let chunk = this.#readAt(offset, Math.max(8, guess), key);
    let chunkStart = offset;
    let dv = new DataView(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    const parts: Uint8Array[] = [];
    let pos = offset;
    for (let partNo = 0;; partNo++) {
      let local = pos - chunkStart;
      if (local + 8 > chunk.length) {
        chunk = this.#readAt(pos, 8, key);
        chunkStart = pos;
        dv = new DataView(chunk.buffer, chunk.byteOffset, chunk.byteLength);
        local = 0;
      }
      const magic = dv.getUint32(local, true);
      if (magic !== RECORDIO_MAGIC) {
        throw new DataError(
          `bad magic 0x${magic.toString(16).padStart(8, "0")} (expected 0xced7230a)`,
          this.#where(key, pos),
        );
      }
      const lrec = dv.getUint32(local + 4, true);
      const cflag = lrec >>> 29;
      const len = lrec & MAX_PART_BYTES;
      if (pos + 8 + len > this.fileSize) {
        throw new DataError(
          `truncated record: ${len} payload bytes announced, ${this.fileSize - pos - 8} left`,
          this.#where(key, pos),
        );
      }
      const expectFirst = partNo === 0;
      if (expectFirst ? cflag > 1 : cflag < 2) {
        throw new DataError(
          `unexpected continuation flag ${cflag} in part ${partNo} of a record`,
          this.#where(key, pos),
        );
      }
      let bytes: Uint8Array;
      if (local + 8 + len <= chunk.length) bytes = chunk.slice(local + 8, local + 8 + len);
      else {
        bytes = this.#readAt(pos + 8, len, key).slice();
        chunk = chunk.subarray(0, 0); // the shared buffer was overwritten
        chunkStart = pos;
      }
      parts.push(bytes);
      pos += 8 + ((len + 3) & ~3);
      if (cflag === 0 || cflag === 3) break;
    }
    if (parts.length === 1) return parts[0];
    let total = 4 * (parts.length - 1);
    for (const b of parts) total += b.length;
    const out = new Uint8Array(total);
    const odv = new DataView(out.buffer);
    let w = 0;
    parts.forEach((b, i) => {
      if (i > 0) {
        odv.setUint32(w, RECORDIO_MAGIC, true);
        w += 4;
      }
      out.set(b, w);
      w += b.length;
    });
    return out;
  }

  /**
   * Reads only the IRHeader (and its labels) of `key`'s record: a cheap label scan. Checks
   * the magic number and that the record lies inside the file.
   */
  readHeaderSync(key: number): IRHeader {
    const offset = this.#checkedOffset(key);
    const head = this.#readAt(offset, Math.min(64, this.fileSize - offset), key);
    const dv = new DataView(head.buffer, head.byteOffset, head.byteLength);
    if (head.length < 8 || dv.getUint32(0, true) !== RECORDIO_MAGIC) {
      const m = head.length >= 4 ? dv.getUint32(0, true) : 0;
      throw new DataError(
        `bad magic 0x${m.toString(16).padStart(8, "0")} (expected 0xced7230a)`,
        this.#where(key, offset),
      );
    }
    const lrec = dv.getUint32(4, true);
    const len = lrec & MAX_PART_BYTES;
    if (offset + 8 + len > this.fileSize) {
      throw new DataError(
        `truncated record: ${len} payload bytes announced, ${this.fileSize - offset - 8} left`,
        this.#where(key, offset),
      );
    }
    const flag = head.length >= 12 ? dv.getUint32(8, true) : 0;
    const need = 8 + IR_HEADER_BYTES + 4 * flag;
    if (lrec >>> 29 === 0 && need <= head.length && need - 8 <= len) {
      return unpackRecord(head.subarray(8, need), this.#where(key, offset)).header;
    }
    return this.readRecordSync(key).header;
  }

  /** Reads and unpacks the record of `key`. */
  readRecordSync(key: number): UnpackedRecord {
    const payload = this.readSync(key);
    return unpackRecord(payload, this.#where(key, this.offsetOf(key)));
  }

  /**
   * Works out the InsightFace layout: with a header record (key 0, flag > 0, no image after
   * its labels) images are keys 1..label[0]−1 and classes the identity records
   * label[0]..label[1]−1; without one every key in the index is an image.
   */
  layout(): RecordLayout {
    if (this.has(0)) {
      const rec = this.readRecordSync(0);
      if (rec.header.flag > 0 && !looksLikeImage(rec.image)) {
        const l = rec.header.labels;
        const first = Math.round(l[0]);
        const end = l.length > 1 ? Math.round(l[1]) : first;
        const numImages = first - 1;
        if (numImages < 0 || end < first) {
          throw new DataError(
            `InsightFace header record has impossible ranges label=[${Array.from(l)}]`,
            this.#where(0, this.offsetOf(0)),
          );
        }
        return {
          hasHeader: true,
          numImages,
          numClasses: l.length > 1 ? end - first : null,
          identityKeys: l.length > 1 ? [first, end] : null,
        };
      }
    }
    return { hasHeader: false, numImages: this.length, numClasses: null, identityKeys: null };
  }

  /** The key of image `i` under `layout` (i + 1 with a header, else the i-th index key). */
  imageKey(layout: RecordLayout, i: number): number {
    return layout.hasHeader ? i + 1 : this.index.keys[i];
  }

  /** Closes the `.rec` file. */
  close(): void {
    this.#file.close();
  }
}

/** True when bytes start with a JPEG or PNG signature. */
export function looksLikeImage(b: Uint8Array): boolean {
  return (b.length >= 3 && b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff) ||
    (b.length >= 8 && b[0] === 0x89 && b[1] === 0x50 && b[2] === 0x4e && b[3] === 0x47);
}

function exists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}

/**
 * Writes a `.rec` and its `.idx` (`key\toffset` lines), buffering writes. Records are framed
 * by {@link frameRecord}, so MXNet's and dmlc's readers read them.
 */
export class RecordIOWriter {
  /** The `.rec` path. */
  readonly recPath: string;
  /** The `.idx` path. */
  readonly idxPath: string;
  #rec: Deno.FsFile;
  #idxLines: string[] = [];
  #idx: Deno.FsFile;
  #pos = 0;
  #pending: Uint8Array[] = [];
  #pendingBytes = 0;

  private constructor(recPath: string, idxPath: string) {
    this.recPath = recPath;
    this.idxPath = idxPath;
    this.#rec = Deno.openSync(recPath, { write: true, create: true, truncate: true });
    this.#idx = Deno.openSync(idxPath, { write: true, create: true, truncate: true });
  }

  /** Creates (truncating) `recPath` and `idxPath`. */
  static create(recPath: string, idxPath: string): RecordIOWriter {
    return new RecordIOWriter(recPath, idxPath);
  }

  /** Bytes written to the `.rec` so far (the offset of the next record). */
  get position(): number {
    return this.#pos;
  }

  /** Appends the payload as record `key` and returns its byte offset. */
  write(key: number, payload: Uint8Array): number {
    const framed = frameRecord(payload);
    const at = this.#pos;
    this.#pending.push(framed);
    this.#pendingBytes += framed.length;
    this.#pos += framed.length;
    this.#idxLines.push(`${key}\t${at}\n`);
    if (this.#pendingBytes >= 1 << 22) this.flush();
    return at;
  }

  /** Writes buffered bytes to disk. */
  flush(): void {
    const all = new Uint8Array(this.#pendingBytes);
    let w = 0;
    for (const p of this.#pending) {
      all.set(p, w);
      w += p.length;
    }
    writeAll(this.#rec, all);
    writeAll(this.#idx, new TextEncoder().encode(this.#idxLines.join("")));
    this.#pending = [];
    this.#pendingBytes = 0;
    this.#idxLines = [];
  }

  /** Flushes and closes both files. */
  close(): void {
    this.flush();
    this.#rec.close();
    this.#idx.close();
  }
}

function writeAll(f: Deno.FsFile, bytes: Uint8Array) {
  let w = 0;
  while (w < bytes.length) w += f.writeSync(bytes.subarray(w));
}
