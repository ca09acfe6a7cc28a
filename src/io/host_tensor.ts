/**
 * The host-side tensor every file reader of `src/io/` returns and every writer takes: a dtype
 * name, a shape and a C-contiguous typed array in the host's (little-endian) byte order.
 *
 * Half-precision data (`float16`, `bfloat16`) is kept as its raw 16-bit patterns in a
 * `Uint16Array`; {@link toFloat32} widens any numeric tensor to `Float32Array`.
 *
 * @module
 */

/** Element types the file formats of this project exchange. */
export type HostDType =
  | "float64"
  | "float32"
  | "float16"
  | "bfloat16"
  | "int64"
  | "int32"
  | "int16"
  | "int8"
  | "uint8"
  | "bool";

/** Typed array holding the elements of a {@link HostTensor} of the matching dtype. */
export type HostData =
  | Float64Array
  | Float32Array
  | Uint16Array
  | BigInt64Array
  | Int32Array
  | Int16Array
  | Int8Array
  | Uint8Array;

/**
 * A dense, C-contiguous tensor in host memory. `data.length` equals the product of `shape`
 * (1 for a scalar with `shape = []`). `bool` is stored as 0/1 bytes; `float16` and `bfloat16`
 * as raw 16-bit patterns.
 */
export interface HostTensor {
  /** Element type. */
  dtype: HostDType;
  /** Dimensions, outermost first. */
  shape: number[];
  /** Elements in row-major order. */
  data: HostData;
}

/** Bytes per element of each dtype. */
export const DTYPE_SIZE: Readonly<Record<HostDType, number>> = {
  float64: 8,
  float32: 4,
  float16: 2,
  bfloat16: 2,
  int64: 8,
  int32: 4,
  int16: 2,
  int8: 1,
  uint8: 1,
  bool: 1,
};

/** Number of elements of a shape (1 for the empty shape of a scalar). */
export function numel(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** Throws unless the host is little-endian (every format here stores little-endian data). */
export function assertLittleEndianHost(): void {
  if (new Uint8Array(new Uint16Array([1]).buffer)[0] !== 1) {
    throw new Error("big-endian hosts are not supported: tensor files are little-endian");
  }
}

/**
 * Views `bytes` (little-endian element data) as the typed array of `dtype`. The bytes are
 * copied when they are not aligned to the element size; otherwise the view shares memory.
 */
export function typedArrayFromBytes(dtype: HostDType, bytes: Uint8Array): HostData {
  assertLittleEndianHost();
  const size = DTYPE_SIZE[dtype];
  if (bytes.byteLength % size !== 0) {
    throw new Error(`${bytes.byteLength} bytes is not a whole number of ${dtype} elements`);
  }
  const b = bytes.byteOffset % size === 0 ? bytes : bytes.slice();
  const n = b.byteLength / size;
  switch (dtype) {
    case "float64":
      return new Float64Array(b.buffer, b.byteOffset, n);
    case "float32":
      return new Float32Array(b.buffer, b.byteOffset, n);
    case "float16":
    case "bfloat16":
      return new Uint16Array(b.buffer, b.byteOffset, n);
    case "int64":
      return new BigInt64Array(b.buffer, b.byteOffset, n);
    case "int32":
      return new Int32Array(b.buffer, b.byteOffset, n);
    case "int16":
      return new Int16Array(b.buffer, b.byteOffset, n);
    case "int8":
      return new Int8Array(b.buffer, b.byteOffset, n);
    case "uint8":
    case "bool":
      return new Uint8Array(b.buffer, b.byteOffset, n);
  }
}

/** The bytes of a tensor's data (a view, no copy), in little-endian order. */
export function tensorBytes(t: HostTensor): Uint8Array {
  assertLittleEndianHost();
  return new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
}

/** Converts one IEEE half-precision bit pattern to a number. */
export function halfToFloat(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const f = h & 0x3ff;
  if (e === 0) return s * f * 2 ** -24;
  if (e === 31) return f ? NaN : s * Infinity;
  return s * (1 + f / 1024) * 2 ** (e - 15);
}

/** Converts a number to the nearest IEEE half-precision bit pattern (round to nearest even). */
export function floatToHalf(x: number): number {
  const f32 = new Float32Array([x]);
  const u = new Uint32Array(f32.buffer)[0];
  const sign = (u >>> 16) & 0x8000;
  const exp = (u >>> 23) & 0xff;
  const mant = u & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  const e = exp - 127 + 15;
  if (e >= 31) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    const m = mant | 0x800000;
    const shift = 14 - e;
    let h = m >>> shift;
    const rem = m & ((1 << shift) - 1);
    const half = 1 << (shift - 1);
    if (rem > half || (rem === half && (h & 1))) h++;
    return sign | h;
  }
  let h = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && (h & 1))) h++;
  return sign | h;
}

/** Widens a numeric tensor's elements to a new `Float32Array` (int64 via Number()). */
export function toFloat32(t: HostTensor): Float32Array {
  const n = t.data.length;
  const out = new Float32Array(n);
  if (t.dtype === "float16") {
    const d = t.data as Uint16Array;
    for (let i = 0; i < n; i++) out[i] = halfToFloat(d[i]);
  } else if (t.dtype === "bfloat16") {
    const d = t.data as Uint16Array;
    const u = new Uint32Array(out.buffer);
    for (let i = 0; i < n; i++) u[i] = d[i] << 16;
  } else if (t.dtype === "int64") {
    const d = t.data as BigInt64Array;
    for (let i = 0; i < n; i++) out[i] = Number(d[i]);
  } else {
    out.set(t.data as Exclude<HostData, BigInt64Array>);
  }
  return out;
}
