/**
 * Verification `.bin` files (lfw, cfp_fp, agedb_30, calfw, cplfw…): a Python pickle of
 * `(bins, issame_list)` — 2·P encoded images (pairs consecutive) and P booleans — written by
 * Python 2 or 3. Read without running code; written as a pickle Python 3 loads.
 *
 * @module
 */

import { writeFileAtomically } from "../io/atomic.ts";
import { type NumpyArray, pickle, PickleTuple, unpickle } from "../io/pickle.ts";

/** The contents of a verification `.bin`. */
export interface VerificationBin {
  /** 2·P encoded images (JPEG/PNG bytes); images 2i and 2i+1 form pair i. */
  images: Uint8Array[];
  /** P flags: true when pair i shows one identity. */
  issame: boolean[];
}

function toBytes(v: unknown): Uint8Array | null {
  if (v instanceof Uint8Array) return v;
  if (typeof v === "string") {
    const out = new Uint8Array(v.length);
    for (let i = 0; i < v.length; i++) {
      const c = v.charCodeAt(i);
      if (c > 255) return null;
      out[i] = c;
    }
    return out;
  }
  if (typeof v === "object" && v !== null && (v as NumpyArray).kind === "numpy.ndarray") {
    const a = v as NumpyArray;
    return /^[|<>=]?u1$/.test(a.descr) && a.shape.length === 1 ? a.bytes : null;
  }
  return null;
}

function toFlags(v: unknown): boolean[] | null {
  if (Array.isArray(v)) {
    const out: boolean[] = [];
    for (const x of v) {
      if (typeof x === "boolean") out.push(x);
      else if (x === 0 || x === 1) out.push(x === 1);
      else return null;
    }
    return out;
  }
  if (typeof v === "object" && v !== null && (v as NumpyArray).kind === "numpy.ndarray") {
    const a = v as NumpyArray;
    if (a.shape.length !== 1 || !/^[|<>=]?(b1|\?|u1|i1)$/.test(a.descr)) return null;
    return Array.from(a.bytes, (b) => b !== 0);
  }
  return null;
}

/** Decodes the bytes of a verification `.bin`; `name` appears in error messages. */
export function parseVerificationBin(bytes: Uint8Array, name = "<bytes>"): VerificationBin {
  let value: unknown;
  try {
    value = unpickle(bytes, { name, strings: "bytes" }).value;
  } catch (e) {
    throw new Error(
      `${name}: not a verification .bin (a pickle of (images, issame_list)): ${
        (e as Error).message
      }`,
    );
  }
  if (!Array.isArray(value) || value.length !== 2) {
    throw new Error(`${name}: not a verification .bin: expected a pair (images, issame_list)`);
  }
  const [bins, flags] = value;
  if (!Array.isArray(bins)) {
    throw new Error(`${name}: not a verification .bin: the first element is not a list of images`);
  }
  const images: Uint8Array[] = [];
  for (let i = 0; i < bins.length; i++) {
    const b = toBytes(bins[i]);
    if (!b) throw new Error(`${name}: image ${i} of the .bin is not a byte string`);
    images.push(b);
  }
  const issame = toFlags(flags);
  if (!issame) {
    throw new Error(
      `${name}: not a verification .bin: the second element is not a list of booleans`,
    );
  }
  if (images.length !== 2 * issame.length) {
    throw new Error(
      `${name}: inconsistent .bin: ${images.length} images for ${issame.length} pairs (needs ${
        2 * issame.length
      })`,
    );
  }
  return { images, issame };
}

/** Reads a verification `.bin` file. */
export async function readVerificationBin(path: string): Promise<VerificationBin> {
  return parseVerificationBin(await Deno.readFile(path), path);
}

/** Options of {@link serializeVerificationBin}. */
export interface WriteBinOptions {
  /** Pickle protocol: 2 (readable by Python 2 and 3) or 4 (default). */
  protocol?: 2 | 4;
}

/** Encodes a verification `.bin` as pickle bytes. */
export function serializeVerificationBin(
  bin: VerificationBin,
  options: WriteBinOptions = {},
): Uint8Array {
  if (bin.images.length !== 2 * bin.issame.length) {
    throw new Error(
      `${bin.images.length} images for ${bin.issame.length} pairs (needs ${2 * bin.issame.length})`,
    );
  }
  return pickle(new PickleTuple([bin.images, bin.issame]), { protocol: options.protocol ?? 4 });
}

/** Writes a verification `.bin` file atomically. */
export function writeVerificationBin(
  path: string,
  bin: VerificationBin,
  options: WriteBinOptions = {},
): Promise<void> {
  return writeFileAtomically(path, serializeVerificationBin(bin, options));
}
