/**
 * Image decoding for the data pipeline: JPEG through libjpeg-turbo (FFI) when the system has
 * it, else a WASM decoder loaded on first use; PNG in TypeScript. Output is RGB8 HWC written
 * into the caller's buffer (a slot of a shared batch).
 *
 * @module
 */
import { openTurboJpeg, type TurboJpeg } from "./decode_turbojpeg.ts";
import { decodePng, isPng, pngSize } from "./png.ts";

/** Width and height of an image. */
export interface ImageSize {
  /** Width in pixels. */
  width: number;
  /** Height in pixels. */
  height: number;
}

/** Which JPEG decoder to use: the native library, the WASM one, or native when present. */
export type JpegBackend = "turbojpeg" | "wasm" | "auto";

/** The encoded format of some bytes, from their signature. */
export function imageFormat(bytes: Uint8Array): "jpeg" | "png" | "unknown" {
  if (bytes.length >= 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) {
    return "jpeg";
  }
  return isPng(bytes) ? "png" : "unknown";
}

/** Decodes JPEG and PNG bytes into RGB8 HWC buffers. One per worker thread. */
export interface ImageDecoder {
  /** The JPEG backend in use. */
  readonly jpeg: "turbojpeg" | "wasm";
  /**
   * Decodes `bytes` into `out`; with `expect`, an image of another size is an error
   * (nothing is resized). Resolves synchronously for the native and PNG paths.
   */
  decodeInto(
    bytes: Uint8Array,
    out: Uint8Array,
    expect?: ImageSize,
  ): ImageSize | Promise<ImageSize>;
  /** Frees native handles. */
  close(): void;
}

function unknownFormat(bytes: Uint8Array): Error {
  const head = Array.from(bytes.subarray(0, 4), (b) => b.toString(16).padStart(2, "0"));
  return new Error(
    `not a JPEG or PNG image (${bytes.length} bytes, starting ${head.join(" ") || "<empty>"})`,
  );
}

function decodePngChecked(bytes: Uint8Array, out: Uint8Array, expect?: ImageSize): ImageSize {
  if (expect) {
    const s = pngSize(bytes);
    if (s.width !== expect.width || s.height !== expect.height) {
      throw new Error(`image is ${s.width}x${s.height}, expected ${expect.width}x${expect.height}`);
    }
  }
  const { width, height } = decodePng(bytes, out);
  return { width, height };
}

class NativeDecoder implements ImageDecoder {
  readonly jpeg = "turbojpeg" as const;
  #tj: TurboJpeg;
  constructor(tj: TurboJpeg) {
    this.#tj = tj;
  }
  decodeInto(bytes: Uint8Array, out: Uint8Array, expect?: ImageSize): ImageSize {
    const f = imageFormat(bytes);
    if (f === "jpeg") return this.#tj.decodeInto(bytes, out, expect);
    if (f === "png") return decodePngChecked(bytes, out, expect);
    throw unknownFormat(bytes);
  }
  close() {
    this.#tj.close();
  }
}

class WasmDecoder implements ImageDecoder {
  readonly jpeg = "wasm" as const;
  #decode: typeof import("./decode_wasm.ts").wasmDecodeJpegInto;
  constructor(decode: typeof import("./decode_wasm.ts").wasmDecodeJpegInto) {
    this.#decode = decode;
  }
  decodeInto(
    bytes: Uint8Array,
    out: Uint8Array,
    expect?: ImageSize,
  ): ImageSize | Promise<ImageSize> {
    const f = imageFormat(bytes);
    if (f === "jpeg") return this.#decode(bytes, out, expect);
    if (f === "png") return decodePngChecked(bytes, out, expect);
    throw unknownFormat(bytes);
  }
  close() {}
}

/**
 * Creates a decoder: `auto` uses libjpeg-turbo when it loads and the WASM decoder otherwise;
 * `turbojpeg` fails when the library is missing; `wasm` always uses WASM.
 */
export async function createDecoder(backend: JpegBackend = "auto"): Promise<ImageDecoder> {
  if (backend !== "wasm") {
    const tj = openTurboJpeg();
    if (tj) return new NativeDecoder(tj);
    if (backend === "turbojpeg") {
      throw new Error(
        "libturbojpeg not found (install Debian's libturbojpeg0 or set TURBOJPEG_LIB)",
      );
    }
  }
  const wasmModule = "./decode_wasm.ts";
  const { wasmDecodeJpegInto } = await import(wasmModule) as typeof import("./decode_wasm.ts");
  return new WasmDecoder(wasmDecodeJpegInto);
}

/** Parses a JPEG's frame header (SOFn) for its size without decoding; throws when absent. */
export function jpegSize(b: Uint8Array): ImageSize {
  let p = 2;
  while (p + 4 <= b.length) {
    if (b[p] !== 0xff) throw new Error(`corrupt JPEG: expected a marker at byte ${p}`);
    const m = b[p + 1];
    if (m === 0xff) {
      p++;
      continue;
    }
    if (m === 0xd8 || (m >= 0xd0 && m <= 0xd7) || m === 0x01) {
      p += 2;
      continue;
    }
    const len = (b[p + 2] << 8) | b[p + 3];
    const isSof = m >= 0xc0 && m <= 0xcf && m !== 0xc4 && m !== 0xc8 && m !== 0xcc;
    if (isSof) {
      if (p + 9 > b.length) break;
      return { height: (b[p + 5] << 8) | b[p + 6], width: (b[p + 7] << 8) | b[p + 8] };
    }
    if (m === 0xda || m === 0xd9) break;
    p += 2 + len;
  }
  throw new Error("corrupt JPEG: no frame header (SOF) found");
}

/** Format and size of encoded bytes from their headers only; throws for other formats. */
export function probeImage(bytes: Uint8Array): ImageSize & { format: "jpeg" | "png" } {
  const f = imageFormat(bytes);
  if (f === "jpeg") return { format: f, ...jpegSize(bytes) };
  if (f === "png") return { format: f, ...pngSize(bytes) };
  throw unknownFormat(bytes);
}
