/**
 * Writes the toy faces' held-out pairs as a verification `.bin` (REFERENCE.md's pickle of
 * `(encoded_images, issame)`), images encoded as PNG (pure TypeScript) or JPEG (libjpeg-turbo),
 * so the reference's loader and Python's pickle read it.
 *
 * @module
 */
import { openTurboJpeg } from "./decode_turbojpeg.ts";
import { verificationBinBytes } from "./pickle_write.ts";
import { encodePng } from "./png.ts";
import { TOY_SIZE, type ToyPairs } from "./toy_faces.ts";

/** Encodes RGB8 112×112 images as PNG or JPEG (quality 95). */
export function encodeImages(images: Uint8Array[], format: "png" | "jpeg" = "png"): Uint8Array[] {
  if (format === "png") return images.map((im) => encodePng(im, TOY_SIZE, TOY_SIZE));
  const tj = openTurboJpeg();
  if (!tj) throw new Error("JPEG encoding needs libturbojpeg; use format png");
  try {
    return images.map((im) => tj.encode(im, TOY_SIZE, TOY_SIZE, 95));
  } finally {
    tj.close();
  }
}

/** The bytes of a `.bin` holding `pairs`. */
export function toyBinBytes(pairs: ToyPairs, format: "png" | "jpeg" = "png"): Uint8Array {
  return verificationBinBytes(encodeImages(pairs.images, format), pairs.issame);
}

/** Writes `pairs` as a verification `.bin` at `path` (via a temporary name). */
export async function writeToyBin(
  path: string,
  pairs: ToyPairs,
  format: "png" | "jpeg" = "png",
): Promise<void> {
  const tmp = `${path}.tmp`;
  await Deno.writeFile(tmp, toyBinBytes(pairs, format));
  await Deno.rename(tmp, path);
}
