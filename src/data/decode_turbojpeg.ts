/**
 * libjpeg-turbo's TurboJPEG API through `Deno.dlopen`: JPEG decode to RGB8 (into a caller's
 * buffer, which may live in a SharedArrayBuffer) and JPEG encode (for test and benchmark
 * files). Loaded lazily; {@link openTurboJpeg} returns null when the library is absent.
 *
 * @module
 */

/** Where the library is looked for, in order (env `TURBOJPEG_LIB` first). */
export const TURBOJPEG_PATHS = [
  "/usr/lib/x86_64-linux-gnu/libturbojpeg.so.0",
  "/usr/lib/aarch64-linux-gnu/libturbojpeg.so.0",
  "/usr/lib64/libturbojpeg.so.0",
  "/usr/lib/libturbojpeg.so.0",
  "/usr/local/lib/libturbojpeg.so.0",
  "/opt/homebrew/lib/libturbojpeg.dylib",
  "/usr/local/lib/libturbojpeg.dylib",
];

const SYMBOLS = {
  tjInitDecompress: { parameters: [], result: "pointer" },
  tjInitCompress: { parameters: [], result: "pointer" },
  tjDestroy: { parameters: ["pointer"], result: "i32" },
  tjDecompressHeader3: {
    parameters: ["pointer", "buffer", "u64", "buffer", "buffer", "buffer", "buffer"],
    result: "i32",
  },
  tjDecompress2: {
    parameters: ["pointer", "buffer", "u64", "buffer", "i32", "i32", "i32", "i32", "i32"],
    result: "i32",
  },
  tjCompress2: {
    parameters: [
      "pointer",
      "buffer",
      "i32",
      "i32",
      "i32",
      "i32",
      "buffer",
      "buffer",
      "i32",
      "i32",
      "i32",
    ],
    result: "i32",
  },
  tjFree: { parameters: ["pointer"], result: "void" },
  tjGetErrorStr2: { parameters: ["pointer"], result: "pointer" },
  tjGetErrorCode: { parameters: ["pointer"], result: "i32" },
} as const;

const TJPF_RGB = 0;
const TJSAMP_420 = 2;
const TJERR_WARNING = 0;

/** A TurboJPEG decoder/encoder bound to one thread (one per worker). */
export class TurboJpeg {
  /** The library path that was loaded. */
  readonly path: string;
  #lib: Deno.DynamicLibrary<typeof SYMBOLS>;
  #dec: Deno.PointerValue;
  #enc: Deno.PointerValue = null;
  #ints = new Int32Array(4);
  #ptr = new BigUint64Array(1);
  #size = new BigUint64Array(1);

  /** Wraps an opened library (use {@link openTurboJpeg}). */
  constructor(lib: Deno.DynamicLibrary<typeof SYMBOLS>, path: string) {
    this.#lib = lib;
    this.path = path;
    this.#dec = lib.symbols.tjInitDecompress();
    if (this.#dec === null) throw new Error("tjInitDecompress failed");
  }

  #error(handle: Deno.PointerValue): string {
    const p = this.#lib.symbols.tjGetErrorStr2(handle);
    return p === null ? "unknown TurboJPEG error" : new Deno.UnsafePointerView(p).getCString();
  }

  /** A handle that failed may keep a broken state (seen with 2.1): replace it. */
  #resetDecoder() {
    this.#lib.symbols.tjDestroy(this.#dec);
    this.#dec = this.#lib.symbols.tjInitDecompress();
    if (this.#dec === null) throw new Error("tjInitDecompress failed");
  }

  /** Reads width and height of a JPEG without decoding it. */
  size(jpeg: Uint8Array): { width: number; height: number } {
    const i = this.#ints;
    const r = this.#lib.symbols.tjDecompressHeader3(
      this.#dec,
      jpeg,
      BigInt(jpeg.length),
      i.subarray(0, 1),
      i.subarray(1, 2),
      i.subarray(2, 3),
      i.subarray(3, 4),
    );
    if (r !== 0 || i[0] <= 0 || i[1] <= 0) {
      const msg = r !== 0 ? this.#error(this.#dec) : "no image size in the header";
      this.#resetDecoder();
      throw new Error(`JPEG header: ${msg}`);
    }
    return { width: i[0], height: i[1] };
  }

  /**
   * Decodes a JPEG to RGB8 HWC into `out` (width·height·3 bytes), after checking the size
   * against `expect` when given. Corrupt data that libjpeg only warns about is an error too
   * when it is a premature end of data (a truncated file).
   */
  decodeInto(
    jpeg: Uint8Array,
    out: Uint8Array,
    expect?: { width: number; height: number },
  ): { width: number; height: number } {
    const { width, height } = this.size(jpeg);
    if (expect && (width !== expect.width || height !== expect.height)) {
      throw new Error(
        `image is ${width}x${height}, expected ${expect.width}x${expect.height}`,
      );
    }
    if (out.length < width * height * 3) {
      throw new Error(`output buffer of ${out.length} bytes < ${width * height * 3}`);
    }
    const r = this.#lib.symbols.tjDecompress2(
      this.#dec,
      jpeg,
      BigInt(jpeg.length),
      out,
      width,
      0,
      height,
      TJPF_RGB,
      0,
    );
    if (r !== 0) {
      const msg = this.#error(this.#dec);
      const code = this.#lib.symbols.tjGetErrorCode(this.#dec);
      if (code !== TJERR_WARNING || /premature end/i.test(msg)) {
        this.#resetDecoder();
        throw new Error(`JPEG: ${msg}`);
      }
    }
    return { width, height };
  }

  /** Encodes RGB8 HWC as a baseline JPEG (4:2:0) at `quality`. */
  encode(rgb: Uint8Array, width: number, height: number, quality = 95): Uint8Array {
    if (this.#enc === null) {
      this.#enc = this.#lib.symbols.tjInitCompress();
      if (this.#enc === null) throw new Error("tjInitCompress failed");
    }
    this.#ptr[0] = 0n;
    this.#size[0] = 0n;
    const r = this.#lib.symbols.tjCompress2(
      this.#enc,
      rgb,
      width,
      0,
      height,
      TJPF_RGB,
      new Uint8Array(this.#ptr.buffer),
      new Uint8Array(this.#size.buffer),
      TJSAMP_420,
      quality,
      0,
    );
    if (r !== 0) throw new Error(`JPEG encode: ${this.#error(this.#enc)}`);
    const p = Deno.UnsafePointer.create(this.#ptr[0]);
    const n = Number(this.#size[0]);
    const out = new Uint8Array(n);
    new Deno.UnsafePointerView(p!).copyInto(out);
    this.#lib.symbols.tjFree(p);
    return out;
  }

  /** Frees the handles and closes the library. */
  close(): void {
    this.#lib.symbols.tjDestroy(this.#dec);
    if (this.#enc !== null) this.#lib.symbols.tjDestroy(this.#enc);
    this.#lib.close();
  }
}

/**
 * Opens TurboJPEG from `TURBOJPEG_LIB` or the usual system paths; null when none loads
 * (or when FFI is not permitted).
 */
export function openTurboJpeg(): TurboJpeg | null {
  let env: string | undefined;
  try {
    env = Deno.env.get("TURBOJPEG_LIB");
  } catch {
    env = undefined;
  }
  if (env === "") return null; // explicitly disabled
  for (const path of env ? [env] : TURBOJPEG_PATHS) {
    try {
      const lib = Deno.dlopen(path, SYMBOLS);
      return new TurboJpeg(lib, path);
    } catch {
      // try the next path
    }
  }
  return null;
}
