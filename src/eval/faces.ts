/**
 * Face images for inference: decode (JPEG/PNG), RGB, resize to 112×112 when needed (bilinear,
 * as the reference's `cv2.resize`), packed as one uint8 N×112×112×3 batch.
 *
 * @module
 */
import { createDecoder, probeImage } from "../data/decode.ts";
import { resizeBilinear } from "../data/resize.ts";

/** Reads and decodes image files into one N×size×size×3 RGB batch. */
export async function loadFaceImages(paths: readonly string[], size = 112): Promise<Uint8Array> {
  const decoder = await createDecoder("auto");
  const out = new Uint8Array(paths.length * size * size * 3);
  try {
    for (let i = 0; i < paths.length; i++) {
      let bytes: Uint8Array;
      try {
        bytes = await Deno.readFile(paths[i]);
      } catch (e) {
        throw new Error(`${paths[i]}: cannot read image (${(e as Error).message})`);
      }
      try {
        const { width, height } = probeImage(bytes);
        const rgb = new Uint8Array(width * height * 3);
        await decoder.decodeInto(bytes, rgb);
        out.set(resizeBilinear(rgb, width, height, size, size), i * size * size * 3);
      } catch (e) {
        throw new Error(`${paths[i]}: cannot decode image (${(e as Error).message})`);
      }
    }
  } finally {
    decoder.close();
  }
  return out;
}
