/**
 * The fallback JPEG decoder for machines without libjpeg-turbo: mozjpeg compiled to WASM
 * (npm `@jsquash/jpeg`). Imported lazily by `decode.ts` only when TurboJPEG is absent, so the
 * training import graph needs no npm package on machines that have the system library.
 *
 * @module
 */

type JsquashDecode = (buffer: ArrayBuffer) => Promise<{
  width: number;
  height: number;
  data: Uint8ClampedArray;
}>;

let decodeJpegWasm: JsquashDecode | null = null;

async function load(): Promise<JsquashDecode> {
  if (!decodeJpegWasm) {
    // inline npm: so the module also works when run from a URL (no import map there)
    // deno-lint-ignore no-import-prefix
    const mod = await import("npm:@jsquash/jpeg@1.6.0/decode.js");
    decodeJpegWasm = mod.default as JsquashDecode;
  }
  return decodeJpegWasm;
}

/**
 * Decodes a JPEG to RGB8 HWC into `out`, checking the size against `expect` when given.
 */
export async function wasmDecodeJpegInto(
  jpeg: Uint8Array,
  out: Uint8Array,
  expect?: { width: number; height: number },
): Promise<{ width: number; height: number }> {
  const copy = jpeg.slice().buffer as ArrayBuffer;
  const img = await (decodeJpegWasm ?? await load())(copy);
  const { width, height, data } = img;
  if (expect && (width !== expect.width || height !== expect.height)) {
    throw new Error(`image is ${width}x${height}, expected ${expect.width}x${expect.height}`);
  }
  if (out.length < width * height * 3) {
    throw new Error(`output buffer of ${out.length} bytes < ${width * height * 3}`);
  }
  for (let i = 0, o = 0, n = width * height * 4; i < n; i += 4, o += 3) {
    out[o] = data[i];
    out[o + 1] = data[i + 1];
    out[o + 2] = data[i + 2];
  }
  return { width, height };
}
