/**
 * PyTorch `.pth` files (what `torch.save` writes), read without running code and written so
 * that `torch.load` reads them.
 *
 * Two on-disk layouts are read:
 * - zip (PyTorch ≥ 1.6): `<prefix>/data.pkl` (a pickle whose tensors point at storages by
 *   persistent id) and `<prefix>/data/<key>` (each storage's raw little-endian bytes), located
 *   through the zip central directory and fetched with positioned reads; entries stored or
 *   deflated.
 * - legacy: consecutive pickles (magic number, protocol version, system info, the object, the
 *   storage keys) followed by each storage as an int64 element count and its bytes. Legacy
 *   files are read into memory whole; the older tar-based layout (PyTorch < 0.4) is not read.
 *
 * Tensors come out C-contiguous whatever their storage offset and strides were.
 *
 * @module
 */

import * as zlib from "node:zlib";
import { writeAll, writeAtomically } from "./atomic.ts";
import { type ByteSource, bytesSource, openFileSource } from "./byte_source.ts";
import {
  assertLittleEndianHost,
  DTYPE_SIZE,
  type HostData,
  type HostDType,
  type HostTensor,
  numel,
  tensorBytes,
  typedArrayFromBytes,
} from "./host_tensor.ts";
import {
  pickle,
  PickleGlobal,
  PicklePersistentId,
  PickleReduce,
  PickleTuple,
  TORCH_STORAGE_DTYPES,
  type TorchTensorRef,
  unpickle,
} from "./pickle.ts";

/** The legacy format's magic number (first pickle of the file). */
const LEGACY_MAGIC = 0x1950a86a20f9469cfc6cn;

/** A storage named by a persistent id. */
interface StorageRef {
  kind: "storage";
  key: string;
  dtype: HostDType;
  /** Number of elements the pickle declares. */
  numel: number;
  /** Offset in elements into the root storage (legacy views), else 0. */
  elementOffset: number;
}

/** One entry of a zip central directory. */
export interface ZipEntry {
  /** Entry name. */
  name: string;
  /** 0 stored, 8 deflated. */
  method: number;
  /** CRC-32 of the uncompressed data. */
  crc32: number;
  /** Bytes in the archive. */
  compressedSize: number;
  /** Bytes once extracted. */
  size: number;
  /** Offset of the local header. */
  localHeaderOffset: number;
}

function u16(b: Uint8Array, o: number): number {
  return b[o] | (b[o + 1] << 8);
}
function u32(b: Uint8Array, o: number): number {
  return (b[o] | (b[o + 1] << 8) | (b[o + 2] << 16) | (b[o + 3] << 24)) >>> 0;
}
function u64(b: Uint8Array, o: number, name: string): number {
  const v = new DataView(b.buffer, b.byteOffset + o, 8).getBigUint64(0, true);
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new Error(`${name}: zip value ${v} too large`);
  return Number(v);
}

/** Reads the central directory of a zip source (zip64 included). */
export async function readZipDirectory(src: ByteSource): Promise<Map<string, ZipEntry>> {
  const name = src.name;
  const tailLen = Math.min(src.size, 22 + 65535);
  const tailStart = src.size - tailLen;
  const tail = await src.read(tailStart, tailLen);
  let eocd = -1;
  for (let i = tail.length - 22; i >= 0; i--) {
    if (u32(tail, i) === 0x06054b50) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) {
    throw new Error(`${name}: corrupt or truncated zip: no end-of-central-directory record`);
  }
  let count = u16(tail, eocd + 10);
  let cdSize = u32(tail, eocd + 12);
  let cdOffset = u32(tail, eocd + 16);
  if (count === 0xffff || cdSize === 0xffffffff || cdOffset === 0xffffffff) {
    const loc = eocd - 20;
    if (loc < 0 || u32(tail, loc) !== 0x07064b50) {
      throw new Error(`${name}: corrupt zip64: locator missing before byte ${tailStart + eocd}`);
    }
    const z64Off = u64(tail, loc + 8, name);
    const z64 = await src.read(z64Off, 56);
    if (u32(z64, 0) !== 0x06064b50) {
      throw new Error(`${name}: corrupt zip64: no end record at byte ${z64Off}`);
    }
    count = u64(z64, 32, name);
    cdSize = u64(z64, 40, name);
    cdOffset = u64(z64, 48, name);
  }
  if (cdOffset + cdSize > src.size) {
    throw new Error(
      `${name}: truncated zip: central directory at bytes ${cdOffset}..${
        cdOffset + cdSize
      } lies beyond the end (${src.size} bytes)`,
    );
  }
  const cd = await src.read(cdOffset, cdSize);
  const entries = new Map<string, ZipEntry>();
  let p = 0;
  const dec = new TextDecoder();
  for (let i = 0; i < count; i++) {
    if (p + 46 > cd.length || u32(cd, p) !== 0x02014b50) {
      throw new Error(`${name}: corrupt zip: bad central directory entry at byte ${cdOffset + p}`);
    }
    const nameLen = u16(cd, p + 28);
    const extraLen = u16(cd, p + 30);
    const commentLen = u16(cd, p + 32);
    const entryName = dec.decode(cd.subarray(p + 46, p + 46 + nameLen));
    let compressedSize = u32(cd, p + 20);
    let size = u32(cd, p + 24);
    let localHeaderOffset = u32(cd, p + 42);
    // zip64 extended information: the 0xffffffff fields, in order.
    let e = p + 46 + nameLen;
    const eEnd = e + extraLen;
    while (e + 4 <= eEnd) {
      const id = u16(cd, e);
      const len = u16(cd, e + 2);
      if (id === 0x0001) {
        let q = e + 4;
        if (size === 0xffffffff) size = u64(cd, (q += 8) - 8, name);
        if (compressedSize === 0xffffffff) compressedSize = u64(cd, (q += 8) - 8, name);
        if (localHeaderOffset === 0xffffffff) localHeaderOffset = u64(cd, (q += 8) - 8, name);
      }
      e += 4 + len;
    }
    entries.set(entryName, {
      name: entryName,
      method: u16(cd, p + 10),
      crc32: u32(cd, p + 16),
      compressedSize,
      size,
      localHeaderOffset,
    });
    p += 46 + nameLen + extraLen + commentLen;
  }
  return entries;
}

/** Reads and (if deflated) inflates one zip entry, checking its size. */
export async function readZipEntry(src: ByteSource, entry: ZipEntry): Promise<Uint8Array> {
  const name = src.name;
  const lh = await src.read(entry.localHeaderOffset, 30);
  if (u32(lh, 0) !== 0x04034b50) {
    throw new Error(
      `${name}: corrupt zip: entry "${entry.name}" has no local header at byte ${entry.localHeaderOffset}`,
    );
  }
  const start = entry.localHeaderOffset + 30 + u16(lh, 26) + u16(lh, 28);
  const raw = await src.read(start, entry.compressedSize);
  let data: Uint8Array;
  if (entry.method === 0) data = raw;
  else if (entry.method === 8) {
    try {
      data = new Uint8Array(zlib.inflateRawSync(raw));
    } catch (e) {
      throw new Error(`${name}: corrupt zip: entry "${entry.name}" at byte ${start}: ${e}`);
    }
  } else {
    throw new Error(
      `${name}: zip entry "${entry.name}" uses compression method ${entry.method} (only stored and deflate are supported)`,
    );
  }
  if (data.byteLength !== entry.size) {
    throw new Error(
      `${name}: corrupt zip: entry "${entry.name}" has ${data.byteLength} bytes, the directory says ${entry.size}`,
    );
  }
  const crc = zlib.crc32(data) >>> 0;
  if (crc !== entry.crc32) {
    throw new Error(
      `${name}: corrupt zip: entry "${entry.name}" (bytes ${start}..${
        start + entry.compressedSize
      }) fails its CRC-32 check`,
    );
  }
  return data;
}

function storageFromPid(pid: unknown, name: string): StorageRef {
  const bad = (why: string): never => {
    throw new Error(`${name}: unsupported persistent id in the pickle: ${why}`);
  };
  if (!Array.isArray(pid) || pid[0] !== "storage") return bad("not a ('storage', …) tuple");
  const [, type, key, , count, view] = pid as unknown[];
  if (!(type instanceof PickleGlobal) || type.module !== "torch") return bad("storage type");
  const dtype = TORCH_STORAGE_DTYPES[type.name];
  if (!dtype) return bad(`storage type torch.${type.name}`);
  const k = typeof key === "string" ? key : String(key);
  // legacy views of a root storage carry (view_key, offset, size): data is root[offset…]
  const elementOffset = Array.isArray(view) ? Number(view[1]) : 0;
  return {
    kind: "storage",
    key: k,
    dtype,
    numel: typeof count === "number" ? count : Number(count),
    elementOffset,
  };
}

function isTensorRef(v: unknown): v is TorchTensorRef {
  return typeof v === "object" && v !== null && (v as TorchTensorRef).kind === "torch.Tensor";
}

/** Copies a strided view of `src` into a new contiguous typed array. */
function gather(
  src: HostData,
  dtype: HostDType,
  offset: number,
  shape: number[],
  stride: number[],
  what: string,
): HostData {
  const n = numel(shape);
  const out = typedArrayFromBytes(dtype, new Uint8Array(n * DTYPE_SIZE[dtype]));
  if (n === 0) return out;
  let maxIndex = offset;
  for (let d = 0; d < shape.length; d++) {
    if (stride[d] < 0) throw new Error(`${what}: negative stride ${stride[d]}`);
    maxIndex += (shape[d] - 1) * stride[d];
  }
  if (offset < 0 || maxIndex >= src.length) {
    throw new Error(
      `${what}: view (offset ${offset}, shape [${shape}], stride [${stride}]) reaches element ${maxIndex} of a storage of ${src.length}`,
    );
  }
  const s = src as unknown as number[];
  const o = out as unknown as number[];
  const nd = shape.length;
  if (nd === 0) {
    o[0] = s[offset];
    return out;
  }
  let contiguous = true;
  for (let d = nd - 1, expect = 1; d >= 0; d--) {
    if (shape[d] !== 1 && stride[d] !== expect) contiguous = false;
    expect *= shape[d];
  }
  if (contiguous) {
    (out as Uint8Array).set((src as Uint8Array).subarray(offset, offset + n));
    return out;
  }
  const inner = shape[nd - 1];
  const innerStride = stride[nd - 1];
  const idx = new Array(nd).fill(0);
  let p = offset;
  for (let w = 0; w < n;) {
    for (let i = 0, q = p; i < inner; i++, q += innerStride) o[w++] = s[q];
    for (let d = nd - 2; d >= 0; d--) {
      idx[d]++;
      p += stride[d];
      if (idx[d] < shape[d]) break;
      p -= stride[d] * shape[d];
      idx[d] = 0;
    }
  }
  return out;
}

/** Replaces every tensor reference in `v` by a contiguous {@link HostTensor}. */
function materialize(
  v: unknown,
  storages: Map<string, HostData>,
  name: string,
  path: string,
): unknown {
  if (isTensorRef(v)) {
    const st = v.storage as StorageRef;
    const data = storages.get(st.key);
    if (!data) throw new Error(`${name}: tensor ${path}: storage "${st.key}" is missing`);
    const what = `${name}: tensor ${path || "<root>"}`;
    return {
      dtype: st.dtype,
      shape: v.shape,
      data: gather(data, st.dtype, st.elementOffset + v.storageOffset, v.shape, v.stride, what),
    } satisfies HostTensor;
  }
  if (Array.isArray(v)) {
    return v.map((x, i) => materialize(x, storages, name, `${path}[${i}]`));
  }
  if (v instanceof Map) {
    const out = new Map();
    for (const [k, x] of v) {
      out.set(k, materialize(x, storages, name, path ? `${path}.${k}` : String(k)));
    }
    return out;
  }
  return v;
}

function collectStorages(v: unknown, into: Map<string, StorageRef>): void {
  if (isTensorRef(v)) {
    const s = v.storage as StorageRef;
    const prev = into.get(s.key);
    if (prev && prev.dtype !== s.dtype) {
      throw new Error(`storage "${s.key}" is used with two dtypes (${prev.dtype}, ${s.dtype})`);
    }
    into.set(s.key, s);
  } else if (Array.isArray(v)) { for (const x of v) collectStorages(x, into); }
  else if (v instanceof Map) { for (const x of v.values()) collectStorages(x, into); }
}

async function loadZip(src: ByteSource): Promise<unknown> {
  const name = src.name;
  const entries = await readZipDirectory(src);
  const pkl = [...entries.keys()].find((k) => /^[^/]+\/data\.pkl$/.test(k)) ??
    [...entries.keys()].find((k) => k.endsWith("data.pkl"));
  if (!pkl) throw new Error(`${name}: zip file without a data.pkl: not a PyTorch checkpoint`);
  const prefix = pkl.slice(0, pkl.length - "data.pkl".length);
  const bo = entries.get(`${prefix}byteorder`);
  if (bo) {
    const order = new TextDecoder().decode(await readZipEntry(src, bo)).trim();
    if (order !== "little") throw new Error(`${name}: byte order "${order}" is not supported`);
  }
  const pklBytes = await readZipEntry(src, entries.get(pkl)!);
  const { value } = unpickle(pklBytes, {
    name: `${name} (${pkl})`,
    persistentLoad: (pid) => storageFromPid(pid, name),
  });
  const refs = new Map<string, StorageRef>();
  collectStorages(value, refs);
  const storages = new Map<string, HostData>();
  for (const [key, ref] of refs) {
    const entryName = `${prefix}data/${key}`;
    const entry = entries.get(entryName);
    if (!entry) throw new Error(`${name}: storage entry "${entryName}" is missing`);
    const bytes = await readZipEntry(src, entry);
    const want = ref.numel * DTYPE_SIZE[ref.dtype];
    if (bytes.byteLength < want) {
      throw new Error(
        `${name}: storage "${entryName}" has ${bytes.byteLength} bytes, needs ${want} for ${ref.numel} ${ref.dtype}`,
      );
    }
    storages.set(
      key,
      typedArrayFromBytes(
        ref.dtype,
        bytes.subarray(0, bytes.byteLength - (bytes.byteLength % DTYPE_SIZE[ref.dtype])),
      ),
    );
  }
  return materialize(value, storages, name, "");
}

function loadLegacy(bytes: Uint8Array, name: string): unknown {
  let pos = 0;
  const next = (what: string, persistent = false, refs?: Map<string, StorageRef>) => {
    try {
      const r = unpickle(bytes, {
        name,
        offset: pos,
        persistentLoad: persistent
          ? (pid) => {
            const ref = storageFromPid(pid, name);
            refs!.set(ref.key, ref);
            return ref;
          }
          : undefined,
      });
      pos = r.end;
      return r.value;
    } catch (e) {
      throw new Error(`${(e as Error).message} (while reading the ${what})`);
    }
  };
  const magic = next("magic number");
  if (magic !== LEGACY_MAGIC) throw new Error(`${name}: not a PyTorch file (bad magic number)`);
  const version = next("protocol version");
  if (version !== 1001) throw new Error(`${name}: unsupported legacy protocol version ${version}`);
  const sysInfo = next("system info");
  if (sysInfo instanceof Map && sysInfo.get("little_endian") === false) {
    throw new Error(`${name}: big-endian checkpoints are not supported`);
  }
  const refs = new Map<string, StorageRef>();
  const value = next("object", true, refs);
  const keys = next("storage keys");
  if (!Array.isArray(keys)) throw new Error(`${name}: corrupt: storage key list missing`);
  const storages = new Map<string, HostData>();
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (const k of keys) {
    const key = String(k);
    const ref = refs.get(key);
    if (!ref) throw new Error(`${name}: storage "${key}" is listed but never used`);
    if (pos + 8 > bytes.byteLength) {
      throw new Error(`${name}: truncated: storage "${key}" header at byte ${pos} is missing`);
    }
    const count = Number(view.getBigInt64(pos, true));
    const size = count * DTYPE_SIZE[ref.dtype];
    if (pos + 8 + size > bytes.byteLength) {
      throw new Error(
        `${name}: truncated: storage "${key}" needs bytes ${pos + 8}..${
          pos + 8 + size
        } but the file has ${bytes.byteLength}`,
      );
    }
    storages.set(key, typedArrayFromBytes(ref.dtype, bytes.slice(pos + 8, pos + 8 + size)));
    pos += 8 + size;
  }
  return materialize(value, storages, name, "");
}

async function loadFrom(src: ByteSource): Promise<unknown> {
  assertLittleEndianHost();
  if (src.size < 4) throw new Error(`${src.name}: not a PyTorch file (${src.size} bytes)`);
  const head = await src.read(0, 4);
  if (u32(head, 0) === 0x04034b50) return await loadZip(src);
  if (head[0] === 0x80) return loadLegacy(await src.read(0, src.size), src.name);
  throw new Error(`${src.name}: not a PyTorch file (neither a zip nor a legacy pickle)`);
}

/**
 * Loads the object of a `.pth` file (zip or legacy format): dicts become Maps, tensors
 * contiguous {@link HostTensor}s, other values plain data. Never runs code: a pickle that
 * asks for anything beyond tensors, storages and OrderedDict is refused.
 */
export async function loadPth(path: string): Promise<unknown> {
  const src = await openFileSource(path);
  try {
    return await loadFrom(src);
  } finally {
    src.close();
  }
}

/** {@link loadPth} over bytes already in memory. */
export function parsePth(bytes: Uint8Array, name = "<bytes>"): Promise<unknown> {
  return loadFrom(bytesSource(bytes, name));
}

function isHostTensor(v: unknown): v is HostTensor {
  return typeof v === "object" && v !== null && "dtype" in v && "shape" in v && "data" in v &&
    ArrayBuffer.isView((v as HostTensor).data);
}

/**
 * Flattens the tensors of a loaded object into a state dict: nested dicts join their keys with
 * "." (so `{"state_dict": {...}}` gives `state_dict.conv1.weight`); non-tensor leaves are
 * dropped.
 */
export function flattenTensors(obj: unknown, prefix = ""): Map<string, HostTensor> {
  const out = new Map<string, HostTensor>();
  const walk = (v: unknown, p: string) => {
    if (isHostTensor(v)) out.set(p, v);
    else if (v instanceof Map) { for (const [k, x] of v) walk(x, p ? `${p}.${k}` : String(k)); }
    else if (Array.isArray(v)) v.forEach((x, i) => walk(x, p ? `${p}.${i}` : String(i)));
  };
  walk(obj, prefix);
  return out;
}

/** Reads the tensors of a `.pth` file as a flat state dict (see {@link flattenTensors}). */
export async function readPth(path: string): Promise<Map<string, HostTensor>> {
  const obj = await loadPth(path);
  if (isHostTensor(obj)) return new Map([["", obj]]);
  return flattenTensors(obj);
}

const STORAGE_OF: Record<HostDType, string> = Object.fromEntries(
  Object.entries(TORCH_STORAGE_DTYPES).map(([k, v]) => [v, k]),
) as Record<HostDType, string>;

/** Options of {@link writePth}. */
export interface WritePthOptions {
  /** Folder name inside the zip (default `archive`, like recent PyTorch). */
  archiveName?: string;
}

interface ZipPlan {
  name: string;
  data: Uint8Array;
}

const ALIGN = 64;

/**
 * Writes tensors as a PyTorch state dict (an `OrderedDict` of tensors, zip format) that
 * `torch.load` reads, atomically (temporary name, then rename).
 */
export async function writePth(
  path: string,
  tensors: Map<string, HostTensor> | Record<string, HostTensor>,
  options: WritePthOptions = {},
): Promise<void> {
  const entries = serializePthEntries(tensors, options);
  await writeAtomically(path, async (file) => {
    await writeZip(entries, (b) => writeAll(file, b));
  });
}

/** {@link writePth} into memory. */
export async function serializePth(
  tensors: Map<string, HostTensor> | Record<string, HostTensor>,
  options: WritePthOptions = {},
): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  await writeZip(serializePthEntries(tensors, options), (b) => {
    chunks.push(b.slice());
    return Promise.resolve();
  });
  const out = new Uint8Array(chunks.reduce((s, c) => s + c.byteLength, 0));
  let p = 0;
  for (const c of chunks) {
    out.set(c, p);
    p += c.byteLength;
  }
  return out;
}

function serializePthEntries(
  tensors: Map<string, HostTensor> | Record<string, HostTensor>,
  options: WritePthOptions,
): ZipPlan[] {
  assertLittleEndianHost();
  const archive = options.archiveName ?? "archive";
  const list = tensors instanceof Map ? [...tensors] : Object.entries(tensors);
  const orderedDict = new PickleGlobal("collections", "OrderedDict");
  const rebuild = new PickleGlobal("torch._utils", "_rebuild_tensor_v2");
  const items = new Map<unknown, unknown>();
  const storages: ZipPlan[] = [];
  list.forEach(([key, t], i) => {
    const n = numel(t.shape);
    if (t.data.length !== n) {
      throw new Error(
        `tensor "${key}": data has ${t.data.length} elements, shape [${t.shape}] needs ${n}`,
      );
    }
    const stride: number[] = new Array(t.shape.length);
    for (let d = t.shape.length - 1, s = 1; d >= 0; d--) {
      stride[d] = s;
      s *= t.shape[d];
    }
    const pid = new PickleTuple([
      "storage",
      new PickleGlobal("torch", STORAGE_OF[t.dtype]),
      String(i),
      "cpu",
      n,
    ]);
    items.set(
      key,
      new PickleReduce(rebuild, [
        new PicklePersistentId(pid),
        0,
        new PickleTuple(t.shape),
        new PickleTuple(stride),
        false,
        new PickleReduce(orderedDict, []),
      ]),
    );
    storages.push({ name: `${archive}/data/${i}`, data: tensorBytes(t) });
  });
  const pkl = pickle(new PickleReduce(orderedDict, [], items), { protocol: 2 });
  const enc = new TextEncoder();
  return [
    { name: `${archive}/data.pkl`, data: pkl },
    { name: `${archive}/byteorder`, data: enc.encode("little") },
    ...storages,
    { name: `${archive}/version`, data: enc.encode("3\n") },
  ];
}

/** Writes stored (uncompressed) zip entries, data aligned to 64 bytes; zip64 when needed. */
async function writeZip(
  entries: ZipPlan[],
  write: (b: Uint8Array) => Promise<void>,
): Promise<void> {
  const enc = new TextEncoder();
  let offset = 0;
  const central: Uint8Array[] = [];
  const put = async (b: Uint8Array) => {
    await write(b);
    offset += b.byteLength;
  };
  for (const e of entries) {
    const name = enc.encode(e.name);
    const crc = zlib.crc32(e.data) >>> 0;
    const size = e.data.byteLength;
    const big = size >= 0xffffffff || offset >= 0xffffffff;
    const z64Len = big ? 20 : 0;
    const base = offset + 30 + name.byteLength + z64Len + 4;
    const pad = (ALIGN - (base % ALIGN)) % ALIGN;
    const local = new Uint8Array(30 + name.byteLength + z64Len + 4 + pad);
    const lv = new DataView(local.buffer);
    lv.setUint32(0, 0x04034b50, true);
    lv.setUint16(4, big ? 45 : 20, true);
    lv.setUint32(14, crc, true);
    lv.setUint32(18, big ? 0xffffffff : size, true);
    lv.setUint32(22, big ? 0xffffffff : size, true);
    lv.setUint16(26, name.byteLength, true);
    lv.setUint16(28, z64Len + 4 + pad, true);
    local.set(name, 30);
    let x = 30 + name.byteLength;
    if (big) {
      lv.setUint16(x, 0x0001, true);
      lv.setUint16(x + 2, 16, true);
      lv.setBigUint64(x + 4, BigInt(size), true);
      lv.setBigUint64(x + 12, BigInt(size), true);
      x += 20;
    }
    lv.setUint16(x, 0x4246, true); // "FB": padding so the data starts aligned
    lv.setUint16(x + 2, pad, true);
    local.fill(0x5a, x + 4);
    const headerOffset = offset;
    await put(local);
    await put(e.data);
    const c64 = big ? 28 : 0;
    const c = new Uint8Array(46 + name.byteLength + c64);
    const cv = new DataView(c.buffer);
    cv.setUint32(0, 0x02014b50, true);
    cv.setUint16(4, big ? 45 : 20, true);
    cv.setUint16(6, big ? 45 : 20, true);
    cv.setUint32(16, crc, true);
    cv.setUint32(20, big ? 0xffffffff : size, true);
    cv.setUint32(24, big ? 0xffffffff : size, true);
    cv.setUint16(28, name.byteLength, true);
    cv.setUint16(30, c64, true);
    cv.setUint32(42, big ? 0xffffffff : headerOffset, true);
    c.set(name, 46);
    if (big) {
      const y = 46 + name.byteLength;
      cv.setUint16(y, 0x0001, true);
      cv.setUint16(y + 2, 24, true);
      cv.setBigUint64(y + 4, BigInt(size), true);
      cv.setBigUint64(y + 12, BigInt(size), true);
      cv.setBigUint64(y + 20, BigInt(headerOffset), true);
    }
    central.push(c);
  }
  const cdOffset = offset;
  for (const c of central) await put(c);
  const cdSize = offset - cdOffset;
  const zip64 = cdOffset + cdSize >= 0xffffffff || entries.length >= 0xffff;
  if (zip64) {
    const z = new Uint8Array(56 + 20);
    const zv = new DataView(z.buffer);
    zv.setUint32(0, 0x06064b50, true);
    zv.setBigUint64(4, 44n, true);
    zv.setUint16(12, 45, true);
    zv.setUint16(14, 45, true);
    zv.setBigUint64(24, BigInt(entries.length), true);
    zv.setBigUint64(32, BigInt(entries.length), true);
    zv.setBigUint64(40, BigInt(cdSize), true);
    zv.setBigUint64(48, BigInt(cdOffset), true);
    zv.setUint32(56, 0x07064b50, true);
    zv.setBigUint64(64, BigInt(offset), true);
    zv.setUint32(72, 1, true);
    await put(z);
  }
  const end = new Uint8Array(22);
  const ev = new DataView(end.buffer);
  ev.setUint32(0, 0x06054b50, true);
  ev.setUint16(8, zip64 ? 0xffff : entries.length, true);
  ev.setUint16(10, zip64 ? 0xffff : entries.length, true);
  ev.setUint32(12, zip64 ? 0xffffffff : cdSize, true);
  ev.setUint32(16, zip64 ? 0xffffffff : cdOffset, true);
  await put(end);
}
