/**
 * Python pickle, read without executing anything, and a small writer.
 *
 * The reader understands the opcodes of protocols 0–5 and produces plain data: `None` → null,
 * bool, int (number, or bigint beyond 2^53), float, str → string, bytes/bytearray →
 * Uint8Array, list and tuple → arrays, dict → Map, set/frozenset → Set. Python 2 `str` values
 * become latin1 strings or Uint8Array (option `strings`), like `pickle.load(f,
 * encoding="latin1" | "bytes")`.
 *
 * Globals are never imported or called. A short allow-list of data types is interpreted:
 * `collections.OrderedDict` (→ Map), the PyTorch tensor rebuilders (→ {@link TorchTensorRef}),
 * the torch storage classes (→ {@link PickleGlobal} markers for persistent ids), `_codecs.encode`
 * (Python 3's encoding of Python 2 bytes), `set`/`frozenset`/`bytearray`/`bytes`, and numpy
 * arrays, dtypes and scalars (→ {@link NumpyArray}). Any other global is refused with an error
 * that names it.
 *
 * @module
 */

import { DTYPE_SIZE, type HostDType, numel, typedArrayFromBytes } from "./host_tensor.ts";

/** A reference to a Python global (`module.name`), as data. */
export class PickleGlobal {
  /** Creates the marker for `module.name`. */
  constructor(readonly module: string, readonly name: string) {}
  /** `module.name`. */
  get qualifiedName(): string {
    return `${this.module}.${this.name}`;
  }
}

/** A tensor as `torch._utils._rebuild_tensor_v2` describes it: a view of a storage. */
export interface TorchTensorRef {
  /** Discriminator. */
  kind: "torch.Tensor";
  /** Whatever the persistent-id loader returned for the storage. */
  storage: unknown;
  /** Offset of the first element, in elements. */
  storageOffset: number;
  /** Dimensions. */
  shape: number[];
  /** Strides, in elements. */
  stride: number[];
  /** The pickled `requires_grad` flag. */
  requiresGrad: boolean;
}

/** A numpy array read from a pickle (C-order data, or Fortran order flagged). */
export interface NumpyArray {
  /** Discriminator. */
  kind: "numpy.ndarray";
  /** numpy dtype string such as `<f4`, `|u1`, `|b1`, `|O` (object arrays are refused). */
  descr: string;
  /** Dimensions. */
  shape: number[];
  /** True when the raw data is in Fortran (column-major) order. */
  fortranOrder: boolean;
  /** Raw element bytes. */
  bytes: Uint8Array;
}

/** Options of {@link unpickle}. */
export interface UnpickleOptions {
  /** Name used in error messages (usually the file path). */
  name?: string;
  /** Byte offset where the pickle starts (default 0). */
  offset?: number;
  /**
   * What a Python 2 `str` (opcodes STRING, BINSTRING, SHORT_BINSTRING) becomes: a string of
   * its bytes as latin1 characters (default, like `encoding="latin1"`) or a Uint8Array
   * (like `encoding="bytes"`).
   */
  strings?: "latin1" | "bytes";
  /** Resolves persistent ids (PERSID, BINPERSID); without it they are an error. */
  persistentLoad?: (pid: unknown) => unknown;
}

/** The value of a pickle and the offset one past its STOP opcode. */
export interface UnpickleResult {
  /** The unpickled value. */
  value: unknown;
  /** Offset just after the STOP opcode (where a following pickle would start). */
  end: number;
}

const MARK = Symbol("mark");

const TORCH_STORAGES = [
  "FloatStorage",
  "HalfStorage",
  "BFloat16Storage",
  "DoubleStorage",
  "LongStorage",
  "IntStorage",
  "ShortStorage",
  "CharStorage",
  "ByteStorage",
  "BoolStorage",
];

/** The dtype of each torch storage class name. */
export const TORCH_STORAGE_DTYPES: Readonly<Record<string, HostDType>> = {
  FloatStorage: "float32",
  HalfStorage: "float16",
  BFloat16Storage: "bfloat16",
  DoubleStorage: "float64",
  LongStorage: "int64",
  IntStorage: "int32",
  ShortStorage: "int16",
  CharStorage: "int8",
  ByteStorage: "uint8",
  BoolStorage: "bool",
};

/** Half-built numpy objects waiting for their BUILD state. */
class NumpyPending {
  array: NumpyArray | null = null;
  constructor(readonly what: "ndarray" | "dtype", public descr = "") {}
}

type Builder = (args: unknown[], fail: (msg: string) => never) => unknown;

function asInt(v: unknown, what: string, fail: (msg: string) => never): number {
  if (typeof v === "number" && Number.isInteger(v)) return v;
  if (
    typeof v === "bigint" && v >= BigInt(Number.MIN_SAFE_INTEGER) &&
    v <= BigInt(Number.MAX_SAFE_INTEGER)
  ) {
    return Number(v);
  }
  return fail(`${what} must be an integer, got ${describe(v)}`);
}

function asIntList(v: unknown, what: string, fail: (msg: string) => never): number[] {
  if (!Array.isArray(v)) return fail(`${what} must be a tuple of integers, got ${describe(v)}`);
  return v.map((x, i) => asInt(x, `${what}[${i}]`, fail));
}

function latin1Bytes(s: string, fail: (msg: string) => never): Uint8Array {
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c > 255) fail(`character U+${c.toString(16)} cannot be encoded as latin1`);
    out[i] = c;
  }
  return out;
}

function rebuildTensor(args: unknown[], fail: (msg: string) => never): TorchTensorRef {
  if (args.length < 4) fail(`_rebuild_tensor needs at least 4 arguments, got ${args.length}`);
  return {
    kind: "torch.Tensor",
    storage: args[0],
    storageOffset: asInt(args[1], "tensor storage offset", fail),
    shape: asIntList(args[2], "tensor size", fail),
    stride: asIntList(args[3], "tensor stride", fail),
    requiresGrad: args[4] === true,
  };
}

function numpyDescr(v: unknown): string {
  if (v instanceof NumpyPending && v.what === "dtype") return v.descr;
  return typeof v === "string" ? v : "";
}

const BUILDERS: Record<string, Builder> = {
  "collections.OrderedDict": (args, fail) => {
    const m = new Map<unknown, unknown>();
    if (args.length > 0) {
      const items = args[0];
      if (!Array.isArray(items)) fail(`OrderedDict argument must be a list of pairs`);
      for (const p of items as unknown[]) {
        if (!Array.isArray(p) || p.length !== 2) fail(`OrderedDict item must be a pair`);
        const pair = p as unknown[];
        m.set(pair[0], pair[1]);
      }
    }
    return m;
  },
  "torch._utils._rebuild_tensor_v2": rebuildTensor,
  "torch._utils._rebuild_tensor": rebuildTensor,
  "torch._utils._rebuild_parameter": (args, fail) => {
    if (args.length < 1) fail(`_rebuild_parameter needs its tensor`);
    const t = args[0] as TorchTensorRef;
    if (t && typeof t === "object" && t.kind === "torch.Tensor") t.requiresGrad = args[1] === true;
    return t;
  },
  "_codecs.encode": (args, fail) => {
    const [s, enc] = args;
    if (typeof s !== "string") fail(`_codecs.encode expects a str, got ${describe(s)}`);
    const e = typeof enc === "string" ? enc.toLowerCase().replace("_", "-") : "utf-8";
    if (e === "latin1" || e === "latin-1" || e === "iso-8859-1") {
      return latin1Bytes(s as string, fail);
    }
    if (e === "utf-8" || e === "utf8") return new TextEncoder().encode(s as string);
    return fail(`_codecs.encode with encoding ${JSON.stringify(enc)} is not supported`);
  },
  "builtins.set": (args) => new Set(Array.isArray(args[0]) ? args[0] : []),
  "builtins.frozenset": (args) => new Set(Array.isArray(args[0]) ? args[0] : []),
  "builtins.bytes": (args, fail) => {
    if (args.length === 0) return new Uint8Array(0);
    if (Array.isArray(args[0])) return Uint8Array.from(args[0] as number[]);
    return fail(`bytes() with ${describe(args[0])} is not supported`);
  },
  "builtins.bytearray": (args, fail) => {
    if (args.length === 0) return new Uint8Array(0);
    if (args[0] instanceof Uint8Array) return args[0].slice();
    if (typeof args[0] === "string") return latin1Bytes(args[0], fail);
    if (Array.isArray(args[0])) return Uint8Array.from(args[0] as number[]);
    return fail(`bytearray() with ${describe(args[0])} is not supported`);
  },
  "numpy.core.multiarray._reconstruct": (args, fail) => {
    const cls = args[0];
    if (!(cls instanceof PickleGlobal) || cls.name !== "ndarray") {
      fail(`numpy _reconstruct of ${describe(cls)} is not supported (only ndarray)`);
    }
    return new NumpyPending("ndarray");
  },
  "numpy.core.numeric._frombuffer": (args, fail) => {
    const [buf, dt, shape, order] = args;
    const descr = numpyDescr(dt);
    const dtype = numpyDescrDType(descr);
    if (!dtype) fail(`numpy arrays of dtype ${JSON.stringify(descr)} are not supported`);
    if (!(buf instanceof Uint8Array)) fail(`numpy buffer must be bytes`);
    const sh = asIntList(shape, "numpy shape", fail);
    if ((buf as Uint8Array).byteLength !== numel(sh) * DTYPE_SIZE[dtype!]) {
      fail(`numpy buffer has ${(buf as Uint8Array).byteLength} bytes, shape [${sh}] needs more`);
    }
    return {
      kind: "numpy.ndarray",
      descr,
      shape: sh,
      fortranOrder: order === "F",
      bytes: buf as Uint8Array,
    } satisfies NumpyArray;
  },
  "numpy.dtype": (args, fail) => {
    if (typeof args[0] !== "string") fail(`numpy.dtype expects a str`);
    return new NumpyPending("dtype", args[0] as string);
  },
  "numpy.core.multiarray.scalar": (args, fail) => {
    const descr = numpyDescr(args[0]);
    const raw = args[1];
    const bytes = raw instanceof Uint8Array
      ? raw
      : typeof raw === "string"
      ? latin1Bytes(raw, fail)
      : fail(`numpy scalar data must be bytes`);
    return numpyScalar(descr, bytes, fail);
  },
};
// Python 2 names and numpy 2 module paths of the same things.
BUILDERS["__builtin__.set"] = BUILDERS["builtins.set"];
BUILDERS["__builtin__.frozenset"] = BUILDERS["builtins.frozenset"];
BUILDERS["__builtin__.bytearray"] = BUILDERS["builtins.bytearray"];
BUILDERS["__builtin__.bytes"] = BUILDERS["builtins.bytes"];
BUILDERS["numpy._core.multiarray._reconstruct"] = BUILDERS["numpy.core.multiarray._reconstruct"];
BUILDERS["numpy._core.multiarray.scalar"] = BUILDERS["numpy.core.multiarray.scalar"];
BUILDERS["numpy._core.numeric._frombuffer"] = BUILDERS["numpy.core.numeric._frombuffer"];

/** Globals that may appear as plain values (never called). */
const VALUE_GLOBALS = new Set<string>([
  ...TORCH_STORAGES.map((s) => `torch.${s}`),
  "numpy.ndarray",
]);

const NUMPY_KINDS: Record<string, HostDType> = {
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

/** The host dtype of a little-endian numpy descr such as `<f4` or `|u1`, or undefined. */
export function numpyDescrDType(descr: string): HostDType | undefined {
  const m = /^([<|=]?)([a-z]\d)$/.exec(descr);
  if (!m) return undefined;
  return NUMPY_KINDS[m[2]];
}

function numpyScalar(descr: string, bytes: Uint8Array, fail: (msg: string) => never): unknown {
  const dtype = numpyDescrDType(descr);
  if (!dtype || bytes.byteLength !== DTYPE_SIZE[dtype]) {
    return fail(`numpy scalar of dtype ${JSON.stringify(descr)} is not supported`);
  }
  const v = typedArrayFromBytes(dtype, bytes)[0];
  if (dtype === "bool") return v !== 0;
  if (typeof v === "bigint") return Number.isSafeInteger(Number(v)) ? Number(v) : v;
  return v;
}

function describe(v: unknown): string {
  if (v === null) return "None";
  if (v === MARK) return "a MARK";
  if (Array.isArray(v)) return `a list/tuple of ${v.length}`;
  if (v instanceof Uint8Array) return `bytes of length ${v.byteLength}`;
  if (v instanceof Map) return "a dict";
  if (v instanceof PickleGlobal) return v.qualifiedName;
  return typeof v;
}

const OPNAMES: Record<number, string> = {
  0x28: "MARK",
  0x2e: "STOP",
  0x30: "POP",
  0x31: "POP_MARK",
  0x32: "DUP",
  0x46: "FLOAT",
  0x49: "INT",
  0x4a: "BININT",
  0x4b: "BININT1",
  0x4c: "LONG",
  0x4d: "BININT2",
  0x4e: "NONE",
  0x50: "PERSID",
  0x51: "BINPERSID",
  0x52: "REDUCE",
  0x53: "STRING",
  0x54: "BINSTRING",
  0x55: "SHORT_BINSTRING",
  0x56: "UNICODE",
  0x58: "BINUNICODE",
  0x61: "APPEND",
  0x62: "BUILD",
  0x63: "GLOBAL",
  0x64: "DICT",
  0x7d: "EMPTY_DICT",
  0x65: "APPENDS",
  0x67: "GET",
  0x68: "BINGET",
  0x69: "INST",
  0x6a: "LONG_BINGET",
  0x6c: "LIST",
  0x5d: "EMPTY_LIST",
  0x6f: "OBJ",
  0x70: "PUT",
  0x71: "BINPUT",
  0x72: "LONG_BINPUT",
  0x73: "SETITEM",
  0x74: "TUPLE",
  0x29: "EMPTY_TUPLE",
  0x75: "SETITEMS",
  0x47: "BINFLOAT",
  0x80: "PROTO",
  0x81: "NEWOBJ",
  0x82: "EXT1",
  0x83: "EXT2",
  0x84: "EXT4",
  0x85: "TUPLE1",
  0x86: "TUPLE2",
  0x87: "TUPLE3",
  0x88: "NEWTRUE",
  0x89: "NEWFALSE",
  0x8a: "LONG1",
  0x8b: "LONG4",
  0x42: "BINBYTES",
  0x43: "SHORT_BINBYTES",
  0x8c: "SHORT_BINUNICODE",
  0x8d: "BINUNICODE8",
  0x8e: "BINBYTES8",
  0x8f: "EMPTY_SET",
  0x90: "ADDITEMS",
  0x91: "FROZENSET",
  0x92: "NEWOBJ_EX",
  0x93: "STACK_GLOBAL",
  0x94: "MEMOIZE",
  0x95: "FRAME",
  0x96: "BYTEARRAY8",
  0x97: "NEXT_BUFFER",
  0x98: "READONLY_BUFFER",
};

function littleEndianSigned(b: Uint8Array): bigint {
  let v = 0n;
  for (let i = b.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[i]);
  if (b.length > 0 && b[b.length - 1] & 0x80) v -= 1n << BigInt(8 * b.length);
  return v;
}

function intValue(v: bigint): number | bigint {
  const n = Number(v);
  return Number.isSafeInteger(n) ? n : v;
}

/** Decodes Python's string-escape (`S'...'` of protocol 0) into bytes. */
function escapeDecode(s: string, fail: (msg: string) => never): Uint8Array {
  const out: number[] = [];
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c !== 0x5c) {
      out.push(c & 0xff);
      continue;
    }
    const e = s[++i];
    const simple: Record<string, number> = {
      "\\": 0x5c,
      "'": 0x27,
      '"': 0x22,
      a: 7,
      b: 8,
      f: 12,
      n: 10,
      r: 13,
      t: 9,
      v: 11,
    };
    if (e === undefined) fail("string ends with a lone backslash");
    if (e in simple) out.push(simple[e]);
    else if (e === "\n") continue;
    else if (e === "x") {
      const h = s.slice(i + 1, i + 3);
      if (!/^[0-9a-fA-F]{2}$/.test(h)) fail(`bad \\x escape`);
      out.push(parseInt(h, 16));
      i += 2;
    } else if (/[0-7]/.test(e)) {
      let j = i;
      while (j < i + 3 && j < s.length && /[0-7]/.test(s[j])) j++;
      out.push(parseInt(s.slice(i, j), 8) & 0xff);
      i = j - 1;
    } else {
      out.push(0x5c, e.charCodeAt(0) & 0xff);
    }
  }
  return Uint8Array.from(out);
}

/** Decodes Python's raw-unicode-escape (the UNICODE opcode of protocol 0). */
function rawUnicodeDecode(b: Uint8Array): string {
  let s = "";
  for (let i = 0; i < b.length; i++) {
    if (b[i] === 0x5c && (b[i + 1] === 0x75 || b[i + 1] === 0x55)) {
      const n = b[i + 1] === 0x75 ? 4 : 8;
      const hex = String.fromCharCode(...b.subarray(i + 2, i + 2 + n));
      if (/^[0-9a-fA-F]+$/.test(hex) && hex.length === n) {
        s += String.fromCodePoint(parseInt(hex, 16));
        i += 1 + n;
        continue;
      }
    }
    s += String.fromCharCode(b[i]);
  }
  return s;
}

/**
 * Reads one pickle from `bytes` (starting at `options.offset`) without executing anything.
 * Errors name the source, the byte offset and the opcode.
 */
export function unpickle(bytes: Uint8Array, options: UnpickleOptions = {}): UnpickleResult {
  const name = options.name ?? "<pickle>";
  const stringsAsBytes = options.strings === "bytes";
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const utf8 = new TextDecoder("utf-8", { fatal: true });
  let pos = options.offset ?? 0;
  let opPos = pos;
  let op = 0;
  const stack: unknown[] = [];
  const marks: number[] = [];
  const memo = new Map<number, unknown>();

  const fail = (msg: string): never => {
    const opname = OPNAMES[op] ?? `0x${op.toString(16).padStart(2, "0")}`;
    throw new Error(`${name}: pickle error at byte ${opPos} (opcode ${opname}): ${msg}`);
  };
  const need = (n: number): void => {
    if (pos + n > bytes.byteLength) {
      fail(
        `truncated: needs ${n} bytes at offset ${pos} but the data ends at ${bytes.byteLength}`,
      );
    }
  };
  const take = (n: number): Uint8Array => {
    need(n);
    const b = bytes.subarray(pos, pos + n);
    pos += n;
    return b;
  };
  const u8 = (): number => {
    need(1);
    return bytes[pos++];
  };
  const u16 = (): number => {
    need(2);
    const v = view.getUint16(pos, true);
    pos += 2;
    return v;
  };
  const u32 = (): number => {
    need(4);
    const v = view.getUint32(pos, true);
    pos += 4;
    return v;
  };
  const i32 = (): number => {
    need(4);
    const v = view.getInt32(pos, true);
    pos += 4;
    return v;
  };
  const u64 = (): number => {
    need(8);
    const v = view.getBigUint64(pos, true);
    pos += 8;
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) fail(`length ${v} is too large`);
    return Number(v);
  };
  const line = (): string => {
    const end = bytes.indexOf(0x0a, pos);
    if (end < 0) fail(`truncated: no newline after offset ${pos}`);
    let s = "";
    for (let i = pos; i < end; i++) s += String.fromCharCode(bytes[i]);
    pos = end + 1;
    return s.endsWith("\r") ? s.slice(0, -1) : s;
  };
  const decodeUtf8 = (b: Uint8Array): string => {
    try {
      return utf8.decode(b);
    } catch {
      return fail("invalid UTF-8 in a str");
    }
  };
  const py2str = (b: Uint8Array): string | Uint8Array => {
    if (stringsAsBytes) return b.slice();
    let s = "";
    for (let i = 0; i < b.length; i += 8192) {
      s += String.fromCharCode(...b.subarray(i, Math.min(b.length, i + 8192)));
    }
    return s;
  };
  const pop = (): unknown => {
    if (stack.length === 0 || (marks.length > 0 && stack.length <= marks[marks.length - 1])) {
      fail("stack underflow");
    }
    return stack.pop();
  };
  const top = (): unknown => {
    if (stack.length === 0) fail("stack underflow");
    return stack[stack.length - 1];
  };
  const popMark = (): unknown[] => {
    const m = marks.pop();
    if (m === undefined) fail("no MARK on the stack");
    return stack.splice(m as number);
  };
  const resolveGlobal = (module: string, gname: string): unknown => {
    const q = `${module}.${gname}`;
    if (q in BUILDERS || VALUE_GLOBALS.has(q)) return new PickleGlobal(module, gname);
    return fail(
      `the pickle asks for the global "${q}", which is not on the allow-list of data types ` +
        `(collections.OrderedDict, torch tensors and storages, numpy arrays, _codecs.encode); ` +
        `loading never imports or runs code, so this file is refused`,
    );
  };
  const call = (callable: unknown, args: unknown): unknown => {
    if (!(callable instanceof PickleGlobal)) fail(`cannot call ${describe(callable)}`);
    const g = callable as PickleGlobal;
    const builder = BUILDERS[g.qualifiedName];
    if (!builder) return fail(`the global "${g.qualifiedName}" is data only and cannot be called`);
    if (!Array.isArray(args)) fail(`arguments of ${g.qualifiedName} must be a tuple`);
    return builder(args as unknown[], fail);
  };
  const build = (obj: unknown, state: unknown): void => {
    if (obj instanceof NumpyPending) {
      buildNumpy(obj, state);
      return;
    }
    if (obj instanceof Map) return; // e.g. a state dict's `_metadata` attribute: not data we keep
    if (obj && typeof obj === "object" && (obj as TorchTensorRef).kind === "torch.Tensor") return;
    fail(`BUILD on ${describe(obj)} is not supported`);
  };
  const buildNumpy = (obj: NumpyPending, state: unknown): void => {
    if (!Array.isArray(state)) fail("numpy state must be a tuple");
    const st = state as unknown[];
    if (obj.what === "dtype") {
      // (version, byteorder, subarray, names, fields, elsize, alignment, flags)
      const order = st[1];
      if (order === ">") fail(`big-endian numpy dtype ${obj.descr} is not supported`);
      return;
    }
    // (version, shape, dtype, is_fortran, rawdata)
    const [, shape, dt, fortran, raw] = st;
    const descr = numpyDescr(dt);
    const dtype = numpyDescrDType(descr === "?" ? "b1" : descr);
    if (!dtype) fail(`numpy arrays of dtype ${JSON.stringify(descr)} are not supported`);
    const data = raw instanceof Uint8Array
      ? raw
      : typeof raw === "string"
      ? latin1Bytes(raw, fail)
      : fail(`numpy array data must be bytes (object arrays are not supported)`);
    const sh = asIntList(shape, "numpy shape", fail);
    if (data.byteLength !== numel(sh) * DTYPE_SIZE[dtype as HostDType]) {
      fail(`numpy array data has ${data.byteLength} bytes, shape ${sh} needs more`);
    }
    obj.array = {
      kind: "numpy.ndarray",
      descr,
      shape: sh,
      fortranOrder: fortran === true,
      bytes: data,
    };
  };
  const finish = (v: unknown): unknown => {
    if (v instanceof NumpyPending) {
      if (v.what === "ndarray") {
        if (!v.array) fail("numpy array without data");
        return v.array;
      }
      return v.descr;
    }
    if (Array.isArray(v)) {
      for (let i = 0; i < v.length; i++) v[i] = finish(v[i]);
    } else if (v instanceof Map) {
      for (const [k, x] of v) v.set(k, finish(x));
    }
    return v;
  };
  const persistent = (pid: unknown): unknown => {
    if (!options.persistentLoad) fail("persistent id found but no persistent loader was given");
    return options.persistentLoad!(pid);
  };
  const setItems = (d: unknown, items: unknown[]): void => {
    if (!(d instanceof Map)) fail(`SETITEM(S) on ${describe(d)}`);
    if (items.length % 2) fail("odd number of items for SETITEMS");
    for (let i = 0; i < items.length; i += 2) {
      (d as Map<unknown, unknown>).set(items[i], items[i + 1]);
    }
  };
  const appendItems = (l: unknown, items: unknown[]): void => {
    if (Array.isArray(l)) l.push(...items);
    else if (l instanceof Set) { for (const x of items) l.add(x); }
    else fail(`APPEND(S) on ${describe(l)}`);
  };

  for (;;) {
    opPos = pos;
    if (pos >= bytes.byteLength) {
      op = 0;
      fail(`truncated: the data ends at offset ${pos} before the STOP opcode`);
    }
    op = bytes[pos++];
    switch (op) {
      case 0x80: { // PROTO
        const p = u8();
        if (p > 5) fail(`unsupported pickle protocol ${p}`);
        break;
      }
      case 0x95: // FRAME
        u64();
        break;
      case 0x2e: { // STOP
        if (stack.length !== 1 || marks.length) {
          fail(`STOP with ${stack.length} values on the stack`);
        }
        return { value: finish(stack.pop()), end: pos };
      }
      case 0x28: // MARK
        marks.push(stack.length);
        break;
      case 0x30: // POP
        if (marks.length && stack.length === marks[marks.length - 1]) marks.pop();
        else pop();
        break;
      case 0x31: // POP_MARK
        popMark();
        break;
      case 0x32: // DUP
        stack.push(top());
        break;
      case 0x4e: // NONE
        stack.push(null);
        break;
      case 0x88:
        stack.push(true);
        break;
      case 0x89:
        stack.push(false);
        break;
      case 0x49: { // INT
        const s = line();
        if (s === "01") stack.push(true);
        else if (s === "00") stack.push(false);
        else if (/^[-+]?\d+$/.test(s)) stack.push(intValue(BigInt(s)));
        else fail(`bad INT ${JSON.stringify(s)}`);
        break;
      }
      case 0x4c: { // LONG
        const s = line().replace(/L$/, "");
        if (!/^[-+]?\d+$/.test(s)) fail(`bad LONG ${JSON.stringify(s)}`);
        stack.push(intValue(BigInt(s)));
        break;
      }
      case 0x4a:
        stack.push(i32());
        break;
      case 0x4b:
        stack.push(u8());
        break;
      case 0x4d:
        stack.push(u16());
        break;
      case 0x8a: { // LONG1
        const n = u8();
        stack.push(intValue(littleEndianSigned(take(n))));
        break;
      }
      case 0x8b: { // LONG4
        const n = i32();
        if (n < 0) fail("negative LONG4 length");
        stack.push(intValue(littleEndianSigned(take(n))));
        break;
      }
      case 0x46: { // FLOAT
        const s = line();
        const v = Number(s.replace(/^(-?)inf$/i, "$1Infinity").replace(/^nan$/i, "NaN"));
        if (Number.isNaN(v) && !/nan/i.test(s)) fail(`bad FLOAT ${JSON.stringify(s)}`);
        stack.push(v);
        break;
      }
      case 0x47: // BINFLOAT
        need(8);
        stack.push(view.getFloat64(pos, false));
        pos += 8;
        break;
      case 0x53: { // STRING
        const s = line();
        const q = s[0];
        if (s.length < 2 || (q !== "'" && q !== '"') || s[s.length - 1] !== q) {
          fail("STRING argument is not quoted");
        }
        stack.push(py2str(escapeDecode(s.slice(1, -1), fail)));
        break;
      }
      case 0x54: { // BINSTRING
        const n = i32();
        if (n < 0) fail("negative BINSTRING length");
        stack.push(py2str(take(n)));
        break;
      }
      case 0x55:
        stack.push(py2str(take(u8())));
        break;
      case 0x56: { // UNICODE
        const end = bytes.indexOf(0x0a, pos);
        if (end < 0) fail("truncated: no newline");
        stack.push(rawUnicodeDecode(bytes.subarray(pos, end)));
        pos = end + 1;
        break;
      }
      case 0x58:
        stack.push(decodeUtf8(take(u32())));
        break;
      case 0x8c:
        stack.push(decodeUtf8(take(u8())));
        break;
      case 0x8d:
        stack.push(decodeUtf8(take(u64())));
        break;
      case 0x42:
        stack.push(take(u32()).slice());
        break;
      case 0x43:
        stack.push(take(u8()).slice());
        break;
      case 0x8e:
      case 0x96:
        stack.push(take(u64()).slice());
        break;
      case 0x97:
        fail("out-of-band buffers (NEXT_BUFFER) are not supported");
        break;
      case 0x98: // READONLY_BUFFER
        break;
      case 0x5d:
        stack.push([]);
        break;
      case 0x29:
        stack.push([]);
        break;
      case 0x7d:
        stack.push(new Map());
        break;
      case 0x8f:
        stack.push(new Set());
        break;
      case 0x6c: // LIST
      case 0x74: // TUPLE
        stack.push(popMark());
        break;
      case 0x85:
        stack.push([pop()]);
        break;
      case 0x86: {
        const b = pop();
        stack.push([pop(), b]);
        break;
      }
      case 0x87: {
        const c = pop();
        const b = pop();
        stack.push([pop(), b, c]);
        break;
      }
      case 0x64: { // DICT
        const items = popMark();
        const d = new Map();
        setItems(d, items);
        stack.push(d);
        break;
      }
      case 0x91: // FROZENSET
        stack.push(new Set(popMark()));
        break;
      case 0x61: { // APPEND
        const v = pop();
        appendItems(top(), [v]);
        break;
      }
      case 0x65: // APPENDS
      case 0x90: { // ADDITEMS
        const items = popMark();
        appendItems(top(), items);
        break;
      }
      case 0x73: { // SETITEM
        const v = pop();
        const k = pop();
        setItems(top(), [k, v]);
        break;
      }
      case 0x75: { // SETITEMS
        const items = popMark();
        setItems(top(), items);
        break;
      }
      case 0x67: { // GET
        const s = line();
        const k = Number(s);
        if (!memo.has(k)) fail(`memo key ${s} is not defined`);
        stack.push(memo.get(k));
        break;
      }
      case 0x68:
      case 0x6a: {
        const k = op === 0x68 ? u8() : u32();
        if (!memo.has(k)) fail(`memo key ${k} is not defined`);
        stack.push(memo.get(k));
        break;
      }
      case 0x70: { // PUT
        const s = line();
        const k = Number(s);
        if (!Number.isInteger(k) || k < 0) fail(`bad memo key ${JSON.stringify(s)}`);
        memo.set(k, top());
        break;
      }
      case 0x71:
        memo.set(u8(), top());
        break;
      case 0x72:
        memo.set(u32(), top());
        break;
      case 0x94:
        memo.set(memo.size, top());
        break;
      case 0x63: { // GLOBAL
        const module = line();
        const gname = line();
        stack.push(resolveGlobal(module, gname));
        break;
      }
      case 0x93: { // STACK_GLOBAL
        const gname = pop();
        const module = pop();
        if (typeof module !== "string" || typeof gname !== "string") {
          fail("STACK_GLOBAL needs two strings");
        }
        stack.push(resolveGlobal(module as string, gname as string));
        break;
      }
      case 0x82:
      case 0x83:
      case 0x84:
        fail("the copyreg extension registry (EXT1/2/4) is not supported");
        break;
      case 0x52: { // REDUCE
        const args = pop();
        const f = pop();
        stack.push(call(f, args));
        break;
      }
      case 0x81: { // NEWOBJ
        const args = pop();
        const cls = pop();
        stack.push(call(cls, args));
        break;
      }
      case 0x92: { // NEWOBJ_EX
        const kwargs = pop();
        const args = pop();
        const cls = pop();
        if (kwargs instanceof Map && kwargs.size > 0) fail("keyword arguments are not supported");
        stack.push(call(cls, args));
        break;
      }
      case 0x69: { // INST
        const module = line();
        const gname = line();
        const cls = resolveGlobal(module, gname);
        stack.push(call(cls, popMark()));
        break;
      }
      case 0x6f: { // OBJ
        const items = popMark();
        if (items.length === 0) fail("OBJ without a class");
        stack.push(call(items[0], items.slice(1)));
        break;
      }
      case 0x62: { // BUILD
        const state = pop();
        build(top(), state);
        break;
      }
      case 0x50: // PERSID
        stack.push(persistent(line()));
        break;
      case 0x51: // BINPERSID
        stack.push(persistent(pop()));
        break;
      default:
        fail(`unknown opcode 0x${op.toString(16).padStart(2, "0")}: not a pickle, or corrupt`);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Writer

/** A Python tuple, for {@link pickle} (plain arrays are written as lists). */
export class PickleTuple {
  /** Wraps the tuple's items. */
  constructor(readonly items: readonly unknown[]) {}
}

/** A Python float, for {@link pickle} (integral numbers are otherwise written as ints). */
export class PickleFloat {
  /** Wraps the value. */
  constructor(readonly value: number) {}
}

/**
 * A call `callable(*args)` for {@link pickle}, optionally followed by `obj[k] = v` for each
 * entry of `dictItems` (how Python pickles an OrderedDict).
 */
export class PickleReduce {
  /** Describes the call. */
  constructor(
    readonly callable: PickleGlobal,
    readonly args: readonly unknown[],
    readonly dictItems?: ReadonlyMap<unknown, unknown>,
  ) {}
}

/** A persistent id (BINPERSID) for {@link pickle}, e.g. a torch storage reference. */
export class PicklePersistentId {
  /** Wraps the id. */
  constructor(readonly pid: unknown) {}
}

/** Options of {@link pickle}. */
export interface PickleOptions {
  /** Protocol 2, 3 or 4 (default 4). With 2, bytes are written the way Python 3 does. */
  protocol?: 2 | 3 | 4;
}

class ByteWriter {
  chunks: Uint8Array[] = [];
  cur = new Uint8Array(1 << 16);
  n = 0;
  byte(b: number): void {
    if (this.n === this.cur.length) this.flush();
    this.cur[this.n++] = b;
  }
  bytes(b: Uint8Array): void {
    if (b.byteLength > 4096) {
      this.flush();
      this.chunks.push(b);
      return;
    }
    if (this.n + b.byteLength > this.cur.length) this.flush();
    this.cur.set(b, this.n);
    this.n += b.byteLength;
  }
  u32(v: number): void {
    this.byte(v & 0xff);
    this.byte((v >>> 8) & 0xff);
    this.byte((v >>> 16) & 0xff);
    this.byte((v >>> 24) & 0xff);
  }
  u64(v: number): void {
    const b = new Uint8Array(8);
    new DataView(b.buffer).setBigUint64(0, BigInt(v), true);
    this.bytes(b);
  }
  flush(): void {
    if (this.n) this.chunks.push(this.cur.slice(0, this.n));
    this.n = 0;
  }
  result(): Uint8Array {
    this.flush();
    const total = this.chunks.reduce((s, c) => s + c.byteLength, 0);
    const out = new Uint8Array(total);
    let p = 0;
    for (const c of this.chunks) {
      out.set(c, p);
      p += c.byteLength;
    }
    return out;
  }
}

function longBytes(v: bigint): Uint8Array {
  const out: number[] = [];
  let x = v;
  for (;;) {
    out.push(Number(x & 0xffn));
    x >>= 8n;
    const signBit = (out[out.length - 1] & 0x80) !== 0;
    if ((x === 0n && !signBit) || (x === -1n && signBit)) break;
  }
  return Uint8Array.from(out);
}

/**
 * Serialises plain data as a pickle that Python's `pickle.load` reads: null, booleans,
 * numbers (integral → int, else float; {@link PickleFloat} forces float), bigint, strings,
 * Uint8Array (bytes), arrays (lists), {@link PickleTuple}, Map or plain objects (dicts),
 * {@link PickleGlobal}, {@link PickleReduce} and {@link PicklePersistentId}.
 */
export function pickle(value: unknown, options: PickleOptions = {}): Uint8Array {
  const protocol = options.protocol ?? 4;
  const w = new ByteWriter();
  const enc = new TextEncoder();
  w.byte(0x80);
  w.byte(protocol);

  const writeGlobal = (g: PickleGlobal): void => {
    w.byte(0x63);
    w.bytes(enc.encode(`${g.module}\n${g.name}\n`));
  };
  const writeStr = (s: string): void => {
    const b = enc.encode(s);
    if (protocol >= 4 && b.byteLength < 256) {
      w.byte(0x8c);
      w.byte(b.byteLength);
    } else {
      w.byte(0x58);
      w.u32(b.byteLength);
    }
    w.bytes(b);
  };
  const writeItems = (items: readonly unknown[], close: number): void => {
    for (let i = 0; i < items.length; i += 1000) {
      w.byte(0x28);
      for (const x of items.slice(i, i + 1000)) save(x);
      w.byte(close);
    }
  };
  const writeDictItems = (entries: Iterable<[unknown, unknown]>): void => {
    let batch: unknown[] = [];
    const flushBatch = () => {
      if (batch.length === 0) return;
      w.byte(0x28);
      for (const x of batch) save(x);
      w.byte(0x75);
      batch = [];
    };
    for (const [k, v] of entries) {
      batch.push(k, v);
      if (batch.length >= 2000) flushBatch();
    }
    flushBatch();
  };
  const save = (v: unknown): void => {
    if (v === null || v === undefined) w.byte(0x4e);
    else if (v === true) w.byte(0x88);
    else if (v === false) w.byte(0x89);
    else if (typeof v === "number") {
      if (Number.isInteger(v) && !Object.is(v, -0)) {
        if (v >= 0 && v < 256) {
          w.byte(0x4b);
          w.byte(v);
        } else if (v >= 0 && v < 65536) {
          w.byte(0x4d);
          w.byte(v & 0xff);
          w.byte(v >> 8);
        } else if (v >= -(2 ** 31) && v < 2 ** 31) {
          w.byte(0x4a);
          w.u32(v >>> 0);
        } else save(BigInt(v));
      } else save(new PickleFloat(v));
    } else if (typeof v === "bigint") {
      const b = longBytes(v);
      w.byte(0x8a);
      w.byte(b.byteLength);
      w.bytes(b);
    } else if (v instanceof PickleFloat) {
      w.byte(0x47);
      const b = new Uint8Array(8);
      new DataView(b.buffer).setFloat64(0, v.value, false);
      w.bytes(b);
    } else if (typeof v === "string") writeStr(v);
    else if (v instanceof Uint8Array) {
      if (protocol >= 3) {
        if (v.byteLength < 256) {
          w.byte(0x43);
          w.byte(v.byteLength);
        } else if (v.byteLength < 2 ** 32) {
          w.byte(0x42);
          w.u32(v.byteLength);
        } else {
          w.byte(0x8e);
          w.u64(v.byteLength);
        }
        w.bytes(v);
      } else {
        // Python 3 at protocol 2: _codecs.encode(<bytes as latin1 str>, 'latin1').
        writeGlobal(new PickleGlobal("_codecs", "encode"));
        let s = "";
        for (let i = 0; i < v.length; i += 8192) {
          s += String.fromCharCode(...v.subarray(i, Math.min(v.length, i + 8192)));
        }
        writeStr(s);
        writeStr("latin1");
        w.byte(0x86);
        w.byte(0x52);
      }
    } else if (Array.isArray(v)) {
      w.byte(0x5d);
      if (v.length) writeItems(v, 0x65);
    } else if (v instanceof PickleTuple) {
      const it = v.items;
      if (it.length === 0) w.byte(0x29);
      else if (it.length <= 3) {
        for (const x of it) save(x);
        w.byte([0x85, 0x86, 0x87][it.length - 1]);
      } else {
        w.byte(0x28);
        for (const x of it) save(x);
        w.byte(0x74);
      }
    } else if (v instanceof Map) {
      w.byte(0x7d);
      writeDictItems(v);
    } else if (v instanceof PickleGlobal) writeGlobal(v);
    else if (v instanceof PickleReduce) {
      writeGlobal(v.callable);
      save(new PickleTuple(v.args));
      w.byte(0x52);
      if (v.dictItems && v.dictItems.size) writeDictItems(v.dictItems);
    } else if (v instanceof PicklePersistentId) {
      save(v.pid);
      w.byte(0x51);
    } else if (typeof v === "object") {
      w.byte(0x7d);
      writeDictItems(Object.entries(v as Record<string, unknown>));
    } else {
      throw new Error(`cannot pickle a value of type ${typeof v}`);
    }
  };
  save(value);
  w.byte(0x2e);
  return w.result();
}
