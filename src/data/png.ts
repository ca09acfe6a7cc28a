/**
 * PNG decode (to RGB8) and encode (RGB8, for the toy dataset's verification `.bin`), with
 * `node:zlib` for the deflate streams. Decodes 8- and 16-bit grey, grey+alpha, RGB, RGBA and
 * palette images (bit depths 1–8 for grey and palette), non-interlaced; alpha is dropped.
 *
 * @module
 */
import { deflateSync, inflateSync } from "node:zlib";

const SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

/** True when `bytes` starts with the PNG signature. */
export function isPng(bytes: Uint8Array): boolean {
  if (bytes.length < 8) return false;
  for (let i = 0; i < 8; i++) if (bytes[i] !== SIGNATURE[i]) return false;
  return true;
}

/** Width and height from a PNG's IHDR, without decoding. */
export function pngSize(bytes: Uint8Array): { width: number; height: number } {
  if (!isPng(bytes) || bytes.length < 24) throw new Error("not a PNG");
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return { width: dv.getUint32(16), height: dv.getUint32(20) };
}

/**
 * Decodes a PNG into RGB8 HWC. When `out` is given the pixels are written there (it must hold
 * width·height·3 bytes) and it is returned as `data`.
 */
export function decodePng(
  bytes: Uint8Array,
  out?: Uint8Array,
): { width: number; height: number; data: Uint8Array } {
  if (!isPng(bytes)) throw new Error("not a PNG (bad signature)");
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let pos = 8;
  let width = 0, height = 0, depth = 0, ctype = 0, interlace = 0;
  let palette: Uint8Array | null = null;
  const idat: Uint8Array[] = [];
  while (pos + 8 <= bytes.length) {
    const len = dv.getUint32(pos);
    const type = String.fromCharCode(
      bytes[pos + 4],
      bytes[pos + 5],
      bytes[pos + 6],
      bytes[pos + 7],
    );
    const body = pos + 8;
    if (body + len + 4 > bytes.length) throw new Error(`PNG chunk ${type} is truncated`);
    if (type === "IHDR") {
      width = dv.getUint32(body);
      height = dv.getUint32(body + 4);
      depth = bytes[body + 8];
      ctype = bytes[body + 9];
      interlace = bytes[body + 12];
    } else if (type === "PLTE") palette = bytes.subarray(body, body + len);
    else if (type === "IDAT") idat.push(bytes.subarray(body, body + len));
    else if (type === "IEND") break;
    pos = body + len + 4;
  }
  if (!width || !height) throw new Error("PNG has no IHDR");
  if (!idat.length) throw new Error("PNG has no image data");
  if (interlace !== 0) throw new Error("interlaced (Adam7) PNG is not supported");
  const channels = ({ 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 } as Record<number, number>)[ctype];
  if (!channels) throw new Error(`PNG colour type ${ctype} is invalid`);
  if (ctype === 3 && !palette) throw new Error("palette PNG without PLTE");
  const bitsPP = channels * depth;
  const stride = Math.ceil((width * bitsPP) / 8);
  const bpp = Math.max(1, bitsPP >> 3);
  let total = 0;
  for (const c of idat) total += c.length;
  const z = new Uint8Array(total);
  let w = 0;
  for (const c of idat) {
    z.set(c, w);
    w += c.length;
  }
  let raw: Uint8Array;
  try {
    raw = new Uint8Array(inflateSync(z));
  } catch (e) {
    throw new Error(`PNG image data does not inflate: ${(e as Error).message}`);
  }
  if (raw.length < (stride + 1) * height) {
    throw new Error(`PNG image data is short: ${raw.length} < ${(stride + 1) * height} bytes`);
  }
  const need = width * height * 3;
  const data = out ?? new Uint8Array(need);
  if (data.length < need) throw new Error(`output buffer of ${data.length} < ${need} bytes`);
  let prev = new Uint8Array(stride);
  let cur = new Uint8Array(stride);
  for (let y = 0; y < height; y++) {
    const f = raw[y * (stride + 1)];
    const line = raw.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1));
    unfilter(f, line, prev, cur, bpp);
    toRgb(cur, data, y * width * 3, width, ctype, depth, palette);
    const t = prev;
    prev = cur;
    cur = t;
  }
  return { width, height, data };
}

function unfilter(f: number, line: Uint8Array, prev: Uint8Array, cur: Uint8Array, bpp: number) {
  const n = line.length;
  switch (f) {
    case 0:
      cur.set(line);
      break;
    case 1:
      for (let i = 0; i < n; i++) cur[i] = line[i] + (i >= bpp ? cur[i - bpp] : 0);
      break;
    case 2:
      for (let i = 0; i < n; i++) cur[i] = line[i] + prev[i];
      break;
    case 3:
      for (let i = 0; i < n; i++) {
        cur[i] = line[i] + (((i >= bpp ? cur[i - bpp] : 0) + prev[i]) >> 1);
      }
      break;
    case 4:
      for (let i = 0; i < n; i++) {
        const a = i >= bpp ? cur[i - bpp] : 0, b = prev[i], c = i >= bpp ? prev[i - bpp] : 0;
        const p = a + b - c;
        const pa = Math.abs(p - a), pb = Math.abs(p - b), pc = Math.abs(p - c);
        cur[i] = line[i] + (pa <= pb && pa <= pc ? a : pb <= pc ? b : c);
      }
      break;
    default:
      throw new Error(`PNG filter type ${f} is invalid`);
  }
}

function toRgb(
  s: Uint8Array,
  d: Uint8Array,
  o: number,
  width: number,
  ctype: number,
  depth: number,
  palette: Uint8Array | null,
) {
  if (depth === 8) {
    if (ctype === 2) d.set(s.subarray(0, width * 3), o);
    else {
      for (let x = 0; x < width; x++, o += 3) {
        if (ctype === 6) {
          d[o] = s[4 * x], d[o + 1] = s[4 * x + 1], d[o + 2] = s[4 * x + 2];
        } else if (ctype === 0 || ctype === 4) {
          const g = s[ctype === 0 ? x : 2 * x];
          d[o] = d[o + 1] = d[o + 2] = g;
        } else {
          const p = 3 * s[x];
          d[o] = palette![p], d[o + 1] = palette![p + 1], d[o + 2] = palette![p + 2];
        }
      }
    }
    return;
  }
  if (depth === 16) {
    const ch = ({ 0: 1, 2: 3, 4: 2, 6: 4 } as Record<number, number>)[ctype];
    if (!ch) throw new Error(`PNG colour type ${ctype} cannot have depth 16`);
    for (let x = 0; x < width; x++, o += 3) {
      const b = 2 * ch * x;
      if (ch >= 3) d[o] = s[b], d[o + 1] = s[b + 2], d[o + 2] = s[b + 4];
      else d[o] = d[o + 1] = d[o + 2] = s[b];
    }
    return;
  }
  if (ctype !== 0 && ctype !== 3) throw new Error(`PNG colour type ${ctype} with depth ${depth}`);
  const perByte = 8 / depth;
  const mask = (1 << depth) - 1;
  for (let x = 0; x < width; x++, o += 3) {
    const v = (s[Math.floor(x / perByte)] >> (8 - depth * (1 + (x % perByte)))) & mask;
    if (ctype === 3) {
      d[o] = palette![3 * v], d[o + 1] = palette![3 * v + 1], d[o + 2] = palette![3 * v + 2];
    } else {
      const g = Math.round((v * 255) / mask);
      d[o] = d[o + 1] = d[o + 2] = g;
    }
  }
}

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) c = CRC_TABLE[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** Encodes RGB8 HWC pixels as a PNG (filter "up" on every row, zlib level `level`). */
export function encodePng(rgb: Uint8Array, width: number, height: number, level = 6): Uint8Array {
  if (rgb.length < width * height * 3) throw new Error("pixel buffer too small");
  const stride = width * 3;
  const raw = new Uint8Array((stride + 1) * height);
  for (let y = 0; y < height; y++) {
    const o = y * (stride + 1);
    raw[o] = y === 0 ? 0 : 2;
    const row = rgb.subarray(y * stride, (y + 1) * stride);
    if (y === 0) raw.set(row, o + 1);
    else {
      const up = y * stride - stride;
      for (let i = 0; i < stride; i++) raw[o + 1 + i] = row[i] - rgb[up + i];
    }
  }
  const idat = new Uint8Array(deflateSync(raw, { level }));
  const ihdr = new Uint8Array(13);
  const hv = new DataView(ihdr.buffer);
  hv.setUint32(0, width);
  hv.setUint32(4, height);
  ihdr[8] = 8;
  ihdr[9] = 2;
  const chunks: [string, Uint8Array][] = [["IHDR", ihdr], ["IDAT", idat], [
    "IEND",
    new Uint8Array(0),
  ]];
  let total = 8;
  for (const [, b] of chunks) total += 12 + b.length;
  const out = new Uint8Array(total);
  const dv = new DataView(out.buffer);
  out.set(SIGNATURE, 0);
  let p = 8;
  for (const [type, body] of chunks) {
    dv.setUint32(p, body.length);
    for (let i = 0; i < 4; i++) out[p + 4 + i] = type.charCodeAt(i);
    out.set(body, p + 8);
    dv.setUint32(p + 8 + body.length, crc32(out.subarray(p + 4, p + 8 + body.length)));
    p += 12 + body.length;
  }
  return out;
}
