/**
 * Face image files for inference: read, then decode, RGB and resize to 112×112 through the
 * `FaceDecoder` that `.bin` evaluation uses, packed as one uint8 N×112×112×3 batch.
 *
 * @module
 */
import { FaceDecoder } from "./face_bytes.ts";

/** Reads and decodes image files into one N×size×size×3 RGB batch. */
export async function loadFaceImages(paths: readonly string[], size = 112): Promise<Uint8Array> {
  const decoder = await FaceDecoder.create(size);
  const per = size * size * 3;
  const out = new Uint8Array(paths.length * per);
  try {
    for (let i = 0; i < paths.length; i++) {
      let bytes: Uint8Array;
      try {
        bytes = await Deno.readFile(paths[i]);
      } catch (e) {
        throw new Error(`${paths[i]}: cannot read image (${(e as Error).message})`);
      }
      await decoder.decode([bytes], 0, 1, paths[i], out.subarray(i * per, (i + 1) * per));
    }
  } finally {
    decoder.close();
  }
  return out;
}
