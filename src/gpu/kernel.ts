/**
 * Kernels: WGSL sources imported as text modules, named for profiling, specialised by a dtype
 * header (`alias T = f32;` or `enable f16; alias T = f16;`) and by `override` constants.
 *
 * @module
 */

/** A WGSL compute kernel. */
export interface Kernel {
  /** Name used in the pipeline cache, errors and the profiler. */
  readonly name: string;
  /** WGSL source; may use the type aliases set by a dtype header. */
  readonly code: string;
  /** Entry point, `main` unless given. */
  readonly entry: string;
}

/** Makes a kernel from its WGSL text. */
export function kernel(name: string, code: string, entry = "main"): Kernel {
  return { name, code, entry };
}

/** Storage element types a kernel can be specialised for. */
export type ScalarType = "f32" | "f16";

/**
 * The header that specialises a kernel's element types: each key becomes a type alias, and
 * `enable f16;` is added when any is f16. Example: `{ T: "f16", A: "f32" }`.
 */
export function typeHeader(types: Record<string, ScalarType> | undefined): string {
  if (!types) return "";
  const names = Object.keys(types).sort();
  const f16 = names.some((n) => types[n] === "f16");
  return (f16 ? "enable f16;\n" : "") +
    names.map((n) => `alias ${n} = ${types[n]};`).join("\n") + "\n";
}

/** A 32-bit float kernel parameter (plain numbers are written as 32-bit integers). */
export interface F32Param {
  /** The value. */
  readonly f32: number;
}

/** Wraps a number so that it is written to a kernel's parameters as f32. */
export function f32(value: number): F32Param {
  return { f32: value };
}

/** A kernel parameter: an integer (i32/u32) or an `f32(...)` float. */
export type Param = number | F32Param;

/** A byte range of a GPU buffer bound as a storage array. */
export interface BufferRange {
  /** The buffer. */
  readonly buffer: GPUBuffer;
  /** First byte of the range. */
  readonly byteOffset: number;
  /** Length in bytes. */
  readonly byteLength: number;
  /** Bytes per element of the array the kernel sees (4 for f32/i32/packed u8, 2 for f16). */
  readonly elementBytes: number;
}
