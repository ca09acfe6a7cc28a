/**
 * Tensors: a shape, a dtype and a contiguous range of a pooled GPU buffer. Views (row ranges,
 * reshapes) share their storage, which returns to the allocator when its last tensor is
 * disposed. `tidy(fn)` disposes every tensor made inside `fn` except what it returns and what
 * is `keep()`-ed; the autograd tape holds its own references to what backward needs.
 *
 * @module
 */
import { gpu } from "../gpu/device.ts";
import type { BufferRange } from "../gpu/kernel.ts";
import { BYTES, type DType, fromHalf, toHalf } from "./dtype.ts";

/** A pooled GPU buffer shared by a tensor and its views. */
class Storage {
  refs = 1;
  constructor(readonly buffer: GPUBuffer, readonly bytes: number) {}
  retain(): this {
    this.refs++;
    return this;
  }
  release(): void {
    if (--this.refs === 0) gpu().allocator.free(this.buffer);
  }
}

/** An autograd node: how to turn the gradient of an op's output into its inputs' gradients. */
export interface GradNode {
  /** Op name, for errors and debugging. */
  readonly op: string;
  /** The op's inputs (gradients are returned in this order). */
  readonly inputs: readonly Tensor[];
  /** The op's output. */
  readonly output: Tensor;
  /** Gradients of the inputs from the output's gradient (null where none flows). */
  readonly backward: (grad: Tensor) => (Tensor | null)[];
  /** Tensors the backward needs, released after it ran. */
  readonly saved: readonly Tensor[];
}

const scopes: Set<Tensor>[] = [];
let nextId = 1;

/** Number of elements of a shape. */
export function numel(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** Formats a shape as `[2, 3]`. */
export function fmtShape(shape: readonly number[]): string {
  return `[${shape.join(", ")}]`;
}

/** An n-dimensional array on the GPU. */
export class Tensor implements BufferRange {
  /** Unique id (debugging). */
  readonly id = nextId++;
  /** Dimensions, outermost first. */
  readonly shape: readonly number[];
  /** Element type. */
  readonly dtype: DType;
  /** Elements. */
  readonly size: number;
  /** First element within the storage buffer. */
  readonly offset: number;
  /** Whether gradients flow to this tensor. */
  requiresGrad = false;
  /** Accumulated gradient of a leaf tensor (parameters), after `backward()`. */
  grad: Tensor | null = null;
  /** The op that made this tensor, when recorded on the tape. */
  node: GradNode | null = null;
  /** Optional name (parameters). */
  name?: string;
  #storage: Storage | null;

  private constructor(storage: Storage, shape: readonly number[], dtype: DType, offset: number) {
    this.#storage = storage;
    this.shape = Object.freeze([...shape]);
    this.dtype = dtype;
    this.size = numel(shape);
    this.offset = offset;
    for (const d of shape) {
      if (!Number.isInteger(d) || d < 0) throw new Error(`invalid shape ${fmtShape(shape)}`);
    }
    scopes.at(-1)?.add(this);
  }

  /**
   * A new tensor with undefined contents.
   * @param what the op and shapes asking, named in allocation errors
   */
  static empty(shape: readonly number[], dtype: DType = "f32", what = "tensor"): Tensor {
    const bytes = Math.ceil(numel(shape) * BYTES[dtype] / 4) * 4;
    const buffer = gpu().allocator.alloc(bytes, `${what} ${fmtShape(shape)} ${dtype}`);
    return new Tensor(new Storage(buffer, bytes), shape, dtype, 0);
  }

  /** Uploads host data (f16 tensors take float input and are rounded). */
  static fromArray(
    data: ArrayLike<number>,
    shape: readonly number[] = [data.length],
    dtype: DType = "f32",
  ): Tensor {
    const n = numel(shape);
    if (data.length !== n) {
      throw new Error(`fromArray: ${data.length} values for shape ${fmtShape(shape)} (${n})`);
    }
    const t = Tensor.empty(shape, dtype, "fromArray");
    let bytes: ArrayBufferView;
    if (dtype === "f32") bytes = data instanceof Float32Array ? data : Float32Array.from(data);
    else if (dtype === "i32") bytes = data instanceof Int32Array ? data : Int32Array.from(data);
    else if (dtype === "u8") bytes = data instanceof Uint8Array ? data : Uint8Array.from(data);
    else {
      const h = new Uint16Array(n);
      for (let i = 0; i < n; i++) h[i] = toHalf(data[i]);
      bytes = h;
    }
    gpu().upload(t.buffer, 0, bytes);
    return t;
  }

  /** A tensor of `shape` filled with `value`. */
  static full(shape: readonly number[], value: number, dtype: DType = "f32"): Tensor {
    return Tensor.fromArray(new Array(numel(shape)).fill(value), shape, dtype);
  }

  /** The underlying buffer (BufferRange). */
  get buffer(): GPUBuffer {
    if (!this.#storage) throw new Error(`tensor ${this.id} ${fmtShape(this.shape)} was disposed`);
    return this.#storage.buffer;
  }
  /** Byte offset of the first element (BufferRange). */
  get byteOffset(): number {
    return this.offset * BYTES[this.dtype];
  }
  /** Bytes of the elements (BufferRange). */
  get byteLength(): number {
    return this.size * BYTES[this.dtype];
  }
  /** Element size a kernel sees (BufferRange). */
  get elementBytes(): number {
    return this.dtype === "u8" ? 1 : BYTES[this.dtype];
  }
  /** Whether `dispose()` was called. */
  get disposed(): boolean {
    return this.#storage === null;
  }
  /** Number of dimensions. */
  get rank(): number {
    return this.shape.length;
  }

  /** A view of the same elements with another shape (no copy, no autograd). */
  view(shape: readonly number[]): Tensor {
    if (numel(shape) !== this.size) {
      throw new Error(`view: cannot view ${fmtShape(this.shape)} as ${fmtShape(shape)}`);
    }
    return new Tensor(this.#live().retain(), shape, this.dtype, this.offset);
  }

  /** A view of rows `start..end` of the first dimension (no copy, no autograd). */
  rows(start: number, end: number): Tensor {
    const n = this.shape[0];
    if (!(0 <= start && start <= end && end <= n)) {
      throw new Error(`rows: range ${start}..${end} outside 0..${n} of ${fmtShape(this.shape)}`);
    }
    const inner = this.size / (n || 1);
    return new Tensor(
      this.#live().retain(),
      [end - start, ...this.shape.slice(1)],
      this.dtype,
      this.offset + start * inner,
    );
  }

  /** Another handle on the same storage, outside any tidy scope (for the tape). */
  share(): Tensor {
    const t = new Tensor(this.#live().retain(), this.shape, this.dtype, this.offset);
    scopes.at(-1)?.delete(t);
    return t;
  }

  #live(): Storage {
    if (!this.#storage) throw new Error(`tensor ${this.id} ${fmtShape(this.shape)} was disposed`);
    return this.#storage;
  }

  /** Reads the elements back (f16 as Float32Array, u8 as Uint8Array). */
  async read(): Promise<Float32Array | Int32Array | Uint8Array> {
    const raw = await gpu().read(this.buffer, this.byteOffset, this.byteLength);
    switch (this.dtype) {
      case "f32":
        return new Float32Array(raw);
      case "i32":
        return new Int32Array(raw);
      case "u8":
        return new Uint8Array(raw);
      case "f16": {
        const h = new Uint16Array(raw);
        const f = new Float32Array(h.length);
        for (let i = 0; i < h.length; i++) f[i] = fromHalf(h[i]);
        return f;
      }
    }
  }

  /** Reads a float tensor back as Float32Array. */
  async readFloat(): Promise<Float32Array> {
    const a = await this.read();
    return a instanceof Float32Array ? a : Float32Array.from(a);
  }

  /** Releases this handle; the storage is freed with its last handle. Idempotent. */
  dispose(): void {
    if (!this.#storage) return;
    this.#storage.release();
    this.#storage = null;
    scopes.at(-1)?.delete(this);
  }

  /** Removes this tensor from the enclosing `tidy` scopes so it survives them. */
  keep(): this {
    for (const s of scopes) s.delete(this);
    return this;
  }
}

/** A value `tidy` keeps: tensors, and arrays or records of them. */
export type Kept = Tensor | void | undefined | null | number | readonly Kept[] | {
  [k: string]: Kept;
};

function collect(v: unknown, out: Set<Tensor>) {
  if (v instanceof Tensor) out.add(v);
  else if (Array.isArray(v)) { for (const x of v) collect(x, out); }
  else if (v && typeof v === "object") { for (const x of Object.values(v)) collect(x, out); }
}

/**
 * Runs `fn` and disposes every tensor created inside it, except the tensors in its result
 * (which move to the enclosing scope) and those `keep()`-ed.
 */
export function tidy<R>(fn: () => R): R {
  const scope = new Set<Tensor>();
  scopes.push(scope);
  let result: R;
  try {
    result = fn();
  } finally {
    scopes.pop();
  }
  const keep = new Set<Tensor>();
  collect(result, keep);
  for (const t of scope) if (!keep.has(t)) t.dispose();
  const parent = scopes.at(-1);
  if (parent) { for (const t of keep) if (scope.has(t)) parent.add(t); }
  return result;
}
