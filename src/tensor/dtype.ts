/**
 * Element types of tensors: f32, f16, i32 and u8 (u8 is packed four to a 32-bit word; kernels
 * read it as `array<u32>`).
 *
 * @module
 */

/** A tensor element type. */
export type DType = "f32" | "f16" | "i32" | "u8";

/** Bytes per element. */
export const BYTES: Record<DType, number> = { f32: 4, f16: 2, i32: 4, u8: 1 };

/** The element size a kernel's storage array has for this dtype (u8 packs into u32). */
export const KERNEL_BYTES: Record<DType, number> = { f32: 4, f16: 2, i32: 4, u8: 1 };

/** The host array type of each dtype (f16 is read back as f32). */
export type HostArray<D extends DType> = D extends "i32" ? Int32Array
  : D extends "u8" ? Uint8Array
  : Float32Array;

/** Converts a float to IEEE half bits (round to nearest even). */
export function toHalf(x: number): number {
  const f = new Float32Array([x]);
  const u = new Uint32Array(f.buffer)[0];
  const sign = (u >>> 16) & 0x8000;
  const exp = (u >>> 23) & 0xff;
  let mant = u & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  let e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    let h = mant >>> shift;
    const rem = mant & ((1 << shift) - 1);
    const half = 1 << (shift - 1);
    if (rem > half || (rem === half && (h & 1))) h++;
    return sign | h;
  }
  let h = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && (h & 1))) h++;
  if ((h & 0x7fff) >= 0x7c00) {
    e = 0x1f;
    return sign | 0x7c00;
  }
  return sign | h;
}

/** Converts IEEE half bits to a float. */
export function fromHalf(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >>> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 0x1f) return mant ? NaN : sign * Infinity;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}

/** Rounds a float to the nearest f16 value (as a float). */
export function roundHalf(x: number): number {
  return fromHalf(toHalf(x));
}
