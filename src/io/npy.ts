/**
 * NumPy `.npy` files: magic `\x93NUMPY`, version, a little-endian header length (2 bytes in
 * v1, 4 in v2/v3), a Python dict literal header (`descr`, `fortran_order`, `shape`) padded to
 * a multiple of 64 bytes, then the raw C-order data.
 *
 * Read: `<f8 <f4 <f2 <i8 <i4 <i2 |i1 |u1 |b1` (and their `=`/`|` spellings), C order only.
 * Written: v1, or v2 when the header needs it.
 *
 * @module
 */

import { writeFileAtomically } from "./atomic.ts";
import {
  assertLittleEndianHost,
  DTYPE_SIZE,
  type HostDType,
  type HostTensor,
  numel,
  tensorBytes,
  typedArrayFromBytes,
} from "./host_tensor.ts";

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY

const DESCR_OF: Record<HostDType, string> = {
  float64: "<f8",
  float32: "<f4",
  float16: "<f2",
  bfloat16: "",
  int64: "<i8",
  int32: "<i4",
  int16: "<i2",
  int8: "|i1",
  uint8: "|u1",
  bool: "|b1",
};

const DTYPE_OF: Record<string, HostDType> = {
  f8: "float64",
  f4: "float32",
  f2: "float16",
  i8: "int64",
  i4: "int32",
  i2: "int16",
  i1: "int8",
  u1: "uint8",
  b1: "bool",
};

function parseHeader(
  text: string,
  name: string,
): { descr: string; fortran: boolean; shape: number[] } {
  const bad = (why: string): never => {
    throw new Error(`${name}: bad .npy header (${why}): ${text.trim()}`);
  };
  const descr = /['"]descr['"]\s*:\s*['"]([^'"]+)['"]/.exec(text)?.[1] ?? bad("no descr");
  const fo = /['"]fortran_order['"]\s*:\s*(True|False)/.exec(text)?.[1] ?? bad("no fortran_order");
  const sh = /['"]shape['"]\s*:\s*\(([^)]*)\)/.exec(text)?.[1] ?? bad("no shape");
  const shape = sh.split(",").map((s) => s.trim()).filter((s) => s.length > 0).map((s) => {
    const v = Number(s.replace(/L$/, ""));
    if (!Number.isSafeInteger(v) || v < 0) bad(`dimension ${s}`);
    return v;
  });
  return { descr, fortran: fo === "True", shape };
}

/** Parses `.npy` bytes into a tensor; `name` appears in error messages. */
export function parseNpy(bytes: Uint8Array, name = "<bytes>"): HostTensor {
  assertLittleEndianHost();
  if (bytes.byteLength < 10 || MAGIC.some((m, i) => bytes[i] !== m)) {
    throw new Error(`${name}: not a .npy file (magic \\x93NUMPY missing at offset 0)`);
  }
  const major = bytes[6];
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let headerLen: number;
  let start: number;
  if (major === 1) {
    headerLen = dv.getUint16(8, true);
    start = 10;
  } else if (major === 2 || major === 3) {
    if (bytes.byteLength < 12) throw new Error(`${name}: truncated .npy header`);
    headerLen = dv.getUint32(8, true);
    start = 12;
  } else {
    throw new Error(`${name}: unsupported .npy version ${major}.${bytes[7]}`);
  }
  if (start + headerLen > bytes.byteLength) {
    throw new Error(
      `${name}: truncated: .npy header of ${headerLen} bytes at offset ${start} runs past the end (${bytes.byteLength} bytes)`,
    );
  }
  const text = new TextDecoder(major === 3 ? "utf-8" : "latin1").decode(
    bytes.subarray(start, start + headerLen),
  );
  const { descr, fortran, shape } = parseHeader(text, name);
  const m = /^([<>|=])?([a-zA-Z]\d+)$/.exec(descr);
  const dtype = m ? DTYPE_OF[m[2]] : undefined;
  if (!m || !dtype) {
    throw new Error(
      `${name}: unsupported .npy dtype '${descr}' (supported: <f8 <f4 <f2 <i8 <i4 <i2 |i1 |u1 |b1)`,
    );
  }
  if (m[1] === ">" && DTYPE_SIZE[dtype] > 1) {
    throw new Error(
      `${name}: big-endian .npy dtype '${descr}' is not supported; save as '<${m[2]}'`,
    );
  }
  if (fortran && shape.filter((d) => d > 1).length > 1) {
    throw new Error(
      `${name}: Fortran-order (column-major) .npy arrays are not supported; save with np.ascontiguousarray(x)`,
    );
  }
  const dataStart = start + headerLen;
  const size = numel(shape) * DTYPE_SIZE[dtype];
  if (dataStart + size > bytes.byteLength) {
    throw new Error(
      `${name}: truncated: ${dtype}[${shape}] needs bytes ${dataStart}..${
        dataStart + size
      } but the file has ${bytes.byteLength}`,
    );
  }
  if (dataStart + size < bytes.byteLength) {
    throw new Error(
      `${name}: corrupt: ${
        bytes.byteLength - dataStart - size
      } unexpected bytes after the data (offset ${dataStart + size})`,
    );
  }
  const data = typedArrayFromBytes(dtype, bytes.slice(dataStart, dataStart + size));
  return { dtype, shape, data };
}

/** Reads a `.npy` file. */
export async function readNpy(path: string): Promise<HostTensor> {
  return parseNpy(await Deno.readFile(path), path);
}

/** Serialises a tensor as `.npy` bytes (C order; v1 header, v2 when it does not fit). */
export function serializeNpy(t: HostTensor): Uint8Array {
  assertLittleEndianHost();
  const descr = DESCR_OF[t.dtype];
  if (!descr) throw new Error(`.npy has no ${t.dtype} dtype; convert to float32 first`);
  if (t.data.length !== numel(t.shape)) {
    throw new Error(
      `data has ${t.data.length} elements but shape [${t.shape}] needs ${numel(t.shape)}`,
    );
  }
  const shape = t.shape.length === 1 ? `(${t.shape[0]},)` : `(${t.shape.join(", ")})`;
  const dict = `{'descr': '${descr}', 'fortran_order': False, 'shape': ${shape}, }`;
  let version = 1;
  let prefix = 10;
  let total = Math.ceil((prefix + dict.length + 1) / 64) * 64;
  if (total - prefix > 0xffff) {
    version = 2;
    prefix = 12;
    total = Math.ceil((prefix + dict.length + 1) / 64) * 64;
  }
  const headerLen = total - prefix;
  const header = dict + " ".repeat(headerLen - dict.length - 1) + "\n";
  const data = tensorBytes(t);
  const out = new Uint8Array(total + data.byteLength);
  out.set(MAGIC);
  out[6] = version;
  out[7] = 0;
  const dv = new DataView(out.buffer);
  if (version === 1) dv.setUint16(8, headerLen, true);
  else dv.setUint32(8, headerLen, true);
  out.set(new TextEncoder().encode(header), prefix);
  out.set(data, total);
  return out;
}

/** Writes a tensor to a `.npy` file atomically. */
export function writeNpy(path: string, t: HostTensor): Promise<void> {
  return writeFileAtomically(path, serializeNpy(t));
}
