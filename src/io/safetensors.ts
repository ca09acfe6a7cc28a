/**
 * safetensors read and write: an 8-byte little-endian header length N, N bytes of JSON
 * (`{"name": {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {...}}`),
 * then the raw little-endian data, offsets relative to its start. Reading fetches only the
 * header and the tensors asked for; writing goes to a temporary name that is renamed into
 * place, so a crash never leaves half a file.
 *
 * @module
 */

import { writeAll, writeAtomically } from "./atomic.ts";
import { type ByteSource, bytesSource, openFileSource } from "./byte_source.ts";
import {
  assertLittleEndianHost,
  DTYPE_SIZE,
  type HostDType,
  type HostTensor,
  numel,
  tensorBytes,
  typedArrayFromBytes,
} from "./host_tensor.ts";

/** dtype names of the safetensors format and our {@link HostDType} for each. */
export const SAFETENSORS_DTYPES: Readonly<Record<string, HostDType>> = {
  F64: "float64",
  F32: "float32",
  F16: "float16",
  BF16: "bfloat16",
  I64: "int64",
  I32: "int32",
  I16: "int16",
  I8: "int8",
  U8: "uint8",
  BOOL: "bool",
};

const TO_SAFETENSORS: Record<HostDType, string> = {
  float64: "F64",
  float32: "F32",
  float16: "F16",
  bfloat16: "BF16",
  int64: "I64",
  int32: "I32",
  int16: "I16",
  int8: "I8",
  uint8: "U8",
  bool: "BOOL",
};

/** Largest header accepted (the format's own limit is 100 MB). */
const MAX_HEADER = 100_000_000;

/** One tensor's header entry, offsets absolute within the file. */
export interface SafetensorsEntry {
  /** Element type. */
  dtype: HostDType;
  /** Dimensions. */
  shape: number[];
  /** First byte of the tensor's data in the file. */
  begin: number;
  /** One past its last byte. */
  end: number;
}

/** The parsed header of a safetensors file. */
export interface SafetensorsHeader {
  /** Tensors in header order. */
  entries: Map<string, SafetensorsEntry>;
  /** The `__metadata__` string map (empty when absent). */
  metadata: Record<string, string>;
}

/** Tensors and metadata read from a safetensors file. */
export interface SafetensorsContents {
  /** Tensors in header order. */
  tensors: Map<string, HostTensor>;
  /** The `__metadata__` string map (empty when absent). */
  metadata: Record<string, string>;
}

/** Options of {@link readSafetensors}. */
export interface ReadSafetensorsOptions {
  /** Read only these tensors (error naming any that is missing). */
  keys?: readonly string[];
}

/**
 * Parses and validates the header of a safetensors source: known dtypes, integer shapes,
 * offsets consistent with shape and dtype, data fully covered without holes or overlaps,
 * and file size equal to header plus data.
 */
export async function readSafetensorsHeader(src: ByteSource): Promise<SafetensorsHeader> {
  const name = src.name;
  if (src.size < 8) {
    throw new Error(`${name}: not a safetensors file: ${src.size} bytes, needs at least 8`);
  }
  const lenBytes = await src.read(0, 8);
  const n64 = new DataView(lenBytes.buffer).getBigUint64(0, true);
  if (n64 > BigInt(MAX_HEADER) || n64 < 2n) {
    throw new Error(
      `${name}: not a safetensors file: header length ${n64} at offset 0 is out of range`,
    );
  }
  const n = Number(n64);
  if (8 + n > src.size) {
    throw new Error(
      `${name}: truncated: header of ${n} bytes at offset 8 runs past the end (${src.size} bytes)`,
    );
  }
  const headerBytes = await src.read(8, n);
  if (headerBytes[0] !== 0x7b) {
    throw new Error(`${name}: not a safetensors file: header at offset 8 does not start with '{'`);
  }
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(headerBytes));
  } catch (e) {
    throw new Error(`${name}: corrupt safetensors header (bytes 8..${8 + n}): ${e}`);
  }
  if (typeof json !== "object" || json === null || Array.isArray(json)) {
    throw new Error(`${name}: corrupt safetensors header: not a JSON object`);
  }
  const dataStart = 8 + n;
  const entries = new Map<string, SafetensorsEntry>();
  let metadata: Record<string, string> = {};
  const spans: Array<[number, number, string]> = [];
  for (const [key, value] of Object.entries(json as Record<string, unknown>)) {
    if (key === "__metadata__") {
      if (typeof value !== "object" || value === null || Array.isArray(value)) {
        throw new Error(`${name}: __metadata__ must be an object of strings`);
      }
      for (const [mk, mv] of Object.entries(value)) {
        if (typeof mv !== "string") {
          throw new Error(`${name}: __metadata__["${mk}"] is not a string`);
        }
      }
      metadata = value as Record<string, string>;
      continue;
    }
    const v = value as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    if (typeof v !== "object" || v === null) {
      throw new Error(`${name}: tensor "${key}": header entry is not an object`);
    }
    const dtype = typeof v.dtype === "string" ? SAFETENSORS_DTYPES[v.dtype] : undefined;
    if (!dtype) {
      throw new Error(
        `${name}: tensor "${key}": unsupported dtype ${JSON.stringify(v.dtype)} (supported: ${
          Object.keys(SAFETENSORS_DTYPES).join(", ")
        })`,
      );
    }
    if (
      !Array.isArray(v.shape) ||
      !v.shape.every((d) => Number.isSafeInteger(d) && (d as number) >= 0)
    ) {
      throw new Error(`${name}: tensor "${key}": bad shape ${JSON.stringify(v.shape)}`);
    }
    const off = v.data_offsets;
    if (
      !Array.isArray(off) || off.length !== 2 ||
      !off.every((o) => Number.isSafeInteger(o) && (o as number) >= 0) || off[1] < off[0]
    ) {
      throw new Error(`${name}: tensor "${key}": bad data_offsets ${JSON.stringify(off)}`);
    }
    const shape = v.shape as number[];
    const want = numel(shape) * DTYPE_SIZE[dtype];
    if (off[1] - off[0] !== want) {
      throw new Error(
        `${name}: tensor "${key}": data_offsets [${off[0]}, ${off[1]}] span ${
          off[1] - off[0]
        } bytes but ${dtype}[${shape.join(",")}] needs ${want}`,
      );
    }
    entries.set(key, { dtype, shape, begin: dataStart + off[0], end: dataStart + off[1] });
    spans.push([off[0], off[1], key]);
  }
  spans.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  let pos = 0;
  for (const [b, e, key] of spans) {
    if (b !== pos) {
      throw new Error(
        `${name}: tensor "${key}": data_offsets [${b}, ${e}] ${
          b < pos ? "overlap the previous tensor" : `leave a hole at data bytes ${pos}..${b}`
        }`,
      );
    }
    pos = e;
  }
  if (dataStart + pos !== src.size) {
    throw new Error(
      dataStart + pos > src.size
        ? `${name}: truncated: tensor data ends at byte ${
          dataStart + pos
        } but the file has ${src.size} bytes`
        : `${name}: corrupt: ${
          src.size - dataStart - pos
        } trailing bytes after the tensor data (offset ${dataStart + pos})`,
    );
  }
  return { entries, metadata };
}

/** Reads one tensor described by `entry` from `src`. */
export async function readSafetensorsEntry(
  src: ByteSource,
  entry: SafetensorsEntry,
): Promise<HostTensor> {
  const bytes = await src.read(entry.begin, entry.end - entry.begin);
  return {
    dtype: entry.dtype,
    shape: [...entry.shape],
    data: typedArrayFromBytes(entry.dtype, bytes),
  };
}

async function readFrom(
  src: ByteSource,
  options: ReadSafetensorsOptions,
): Promise<SafetensorsContents> {
  const header = await readSafetensorsHeader(src);
  const keys = options.keys ?? [...header.entries.keys()];
  const tensors = new Map<string, HostTensor>();
  for (const key of keys) {
    const entry = header.entries.get(key);
    if (!entry) throw new Error(`${src.name}: no tensor named "${key}"`);
    tensors.set(key, await readSafetensorsEntry(src, entry));
  }
  return { tensors, metadata: header.metadata };
}

/** Reads a safetensors file (only the tensors in `options.keys` when given). */
export async function readSafetensors(
  path: string,
  options: ReadSafetensorsOptions = {},
): Promise<SafetensorsContents> {
  const src = await openFileSource(path);
  try {
    return await readFrom(src, options);
  } finally {
    src.close();
  }
}

/** Parses safetensors bytes already in memory. */
export function parseSafetensors(
  bytes: Uint8Array,
  name = "<bytes>",
  options: ReadSafetensorsOptions = {},
): Promise<SafetensorsContents> {
  return readFrom(bytesSource(bytes, name), options);
}

type TensorInput = Map<string, HostTensor> | Record<string, HostTensor>;

function planLayout(tensors: TensorInput, metadata: Record<string, string> | undefined) {
  const list = tensors instanceof Map ? [...tensors] : Object.entries(tensors);
  const header: Record<string, unknown> = {};
  if (metadata && Object.keys(metadata).length > 0) header.__metadata__ = metadata;
  let offset = 0;
  for (const [key, t] of list) {
    if (key === "__metadata__") throw new Error(`tensor name "__metadata__" is reserved`);
    const bytes = numel(t.shape) * DTYPE_SIZE[t.dtype];
    if (t.data.byteLength !== bytes) {
      throw new Error(
        `tensor "${key}": data has ${t.data.byteLength} bytes but ${t.dtype}[${
          t.shape.join(",")
        }] needs ${bytes}`,
      );
    }
    header[key] = {
      dtype: TO_SAFETENSORS[t.dtype],
      shape: t.shape,
      data_offsets: [offset, offset + bytes],
    };
    offset += bytes;
  }
  let json = new TextEncoder().encode(JSON.stringify(header));
  const padded = Math.ceil(json.byteLength / 8) * 8;
  if (padded !== json.byteLength) {
    const p = new Uint8Array(padded).fill(0x20);
    p.set(json);
    json = p;
  }
  const prefix = new Uint8Array(8 + json.byteLength);
  new DataView(prefix.buffer).setBigUint64(0, BigInt(json.byteLength), true);
  prefix.set(json, 8);
  return { prefix, list, total: prefix.byteLength + offset };
}

/** Serialises tensors (in the given order) and optional metadata to safetensors bytes. */
export function serializeSafetensors(
  tensors: TensorInput,
  metadata?: Record<string, string>,
): Uint8Array {
  assertLittleEndianHost();
  const { prefix, list, total } = planLayout(tensors, metadata);
  const out = new Uint8Array(total);
  out.set(prefix);
  let pos = prefix.byteLength;
  for (const [, t] of list) {
    out.set(tensorBytes(t), pos);
    pos += t.data.byteLength;
  }
  return out;
}

/**
 * Writes tensors (in the given order) and optional metadata to `path` atomically: the data
 * streams to `path.<pid>.<random>.tmp`, is flushed to disk, then renamed over `path`.
 */
export async function writeSafetensors(
  path: string,
  tensors: TensorInput,
  metadata?: Record<string, string>,
): Promise<void> {
  assertLittleEndianHost();
  const { prefix, list } = planLayout(tensors, metadata);
  await writeAtomically(path, async (file) => {
    await writeAll(file, prefix);
    for (const [, t] of list) await writeAll(file, tensorBytes(t));
  });
}
