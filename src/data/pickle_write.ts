/**
 * A minimal Python pickle writer (protocol 3) for the values the data tools emit: None, bool,
 * int, float, str, bytes, list and tuple. Enough for a verification `.bin`
 * (`(list_of_encoded_images, list_of_bool)`), which Python's `pickle.load` reads. Reading
 * pickles is `src/io/pickle.ts`'s job.
 *
 * @module
 */

/** A Python tuple (arrays are written as lists). */
export class PyTuple {
  /** The items. */
  readonly items: PickleValue[];
  /** Wraps `items` as a tuple. */
  constructor(items: PickleValue[]) {
    this.items = items;
  }
}

/** The values this writer supports. */
export type PickleValue =
  | null
  | boolean
  | number
  | string
  | Uint8Array
  | PickleValue[]
  | PyTuple;

class Out {
  buf = new Uint8Array(1 << 16);
  n = 0;
  reserve(k: number) {
    if (this.n + k <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.n + k) size *= 2;
    const b = new Uint8Array(size);
    b.set(this.buf.subarray(0, this.n));
    this.buf = b;
  }
  byte(b: number) {
    this.reserve(1);
    this.buf[this.n++] = b;
  }
  u32(x: number) {
    this.reserve(4);
    new DataView(this.buf.buffer).setUint32(this.n, x, true);
    this.n += 4;
  }
  bytes(b: Uint8Array) {
    this.reserve(b.length);
    this.buf.set(b, this.n);
    this.n += b.length;
  }
}

const APPENDS_BATCH = 1000;

function write(o: Out, v: PickleValue): void {
  if (v === null) o.byte(0x4e); // NONE
  else if (v === true) o.byte(0x88); // NEWTRUE
  else if (v === false) o.byte(0x89); // NEWFALSE
  else if (typeof v === "number") {
    if (Number.isInteger(v) && v >= -(2 ** 31) && v < 2 ** 31) {
      o.byte(0x4a); // BININT
      o.reserve(4);
      new DataView(o.buf.buffer).setInt32(o.n, v, true);
      o.n += 4;
    } else {
      o.byte(0x47); // BINFLOAT, big-endian
      o.reserve(8);
      new DataView(o.buf.buffer).setFloat64(o.n, v, false);
      o.n += 8;
    }
  } else if (typeof v === "string") {
    const b = new TextEncoder().encode(v);
    o.byte(0x58); // BINUNICODE
    o.u32(b.length);
    o.bytes(b);
  } else if (v instanceof Uint8Array) {
    if (v.length < 256) {
      o.byte(0x43); // SHORT_BINBYTES
      o.byte(v.length);
    } else {
      o.byte(0x42); // BINBYTES
      o.u32(v.length);
    }
    o.bytes(v);
  } else if (v instanceof PyTuple) {
    const n = v.items.length;
    if (n === 0) o.byte(0x29); // EMPTY_TUPLE
    else if (n <= 3) {
      for (const x of v.items) write(o, x);
      o.byte([0x85, 0x86, 0x87][n - 1]); // TUPLE1..3
    } else {
      o.byte(0x28); // MARK
      for (const x of v.items) write(o, x);
      o.byte(0x74); // TUPLE
    }
  } else if (Array.isArray(v)) {
    o.byte(0x5d); // EMPTY_LIST
    for (let i = 0; i < v.length; i += APPENDS_BATCH) {
      o.byte(0x28); // MARK
      for (const x of v.slice(i, i + APPENDS_BATCH)) write(o, x);
      o.byte(0x65); // APPENDS
    }
  } else throw new TypeError(`cannot pickle ${typeof v}`);
}

/** Serialises `value` as a protocol-3 pickle. */
export function pickleDumps(value: PickleValue): Uint8Array {
  const o = new Out();
  o.byte(0x80);
  o.byte(3); // PROTO 3
  write(o, value);
  o.byte(0x2e); // STOP
  return o.buf.slice(0, o.n);
}

/**
 * Builds the bytes of a verification `.bin`: a pickle of `(encoded_images, issame)` with
 * `encoded_images.length === 2 * issame.length`.
 */
export function verificationBinBytes(encoded: Uint8Array[], issame: boolean[]): Uint8Array {
  if (encoded.length !== 2 * issame.length) {
    throw new Error(`a .bin needs 2 images per pair: ${encoded.length} for ${issame.length}`);
  }
  return pickleDumps(new PyTuple([encoded, issame]));
}
