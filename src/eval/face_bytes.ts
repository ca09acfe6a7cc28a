/**
 * Encoded face images (JPEG/PNG bytes, as a verification `.bin` holds them) → one uint8
 * N×112×112×3 RGB batch: decode, resize when not 112×112 (bilinear). A failing image is one
 * error naming the source file and the image's index.
 *
 * @module
 */
import { createDecoder, type ImageDecoder, probeImage } from "../data/decode.ts";
import { resizeBilinear } from "../data/resize.ts";

/** Decodes face images into packed RGB batches, reusing one decoder. */
export class FaceDecoder {
  readonly #decoder: ImageDecoder;
  readonly #size: number;

  private constructor(decoder: ImageDecoder, size: number) {
    this.#decoder = decoder;
    this.#size = size;
  }

  /** Creates a decoder (libjpeg-turbo when present, WASM otherwise) for `size`² outputs. */
  static async create(size = 112): Promise<FaceDecoder> {
    return new FaceDecoder(await createDecoder("auto"), size);
  }

  /**
   * Decodes `images[start … start+count)` into `out` (count×size×size×3, new when absent).
   * `source` names the file in errors.
   */
  async decode(
    images: readonly Uint8Array[],
    start: number,
    count: number,
    source: string,
    out?: Uint8Array,
  ): Promise<Uint8Array> {
    const s = this.#size;
    const per = s * s * 3;
    const dst = out ?? new Uint8Array(count * per);
    for (let i = 0; i < count; i++) {
      const k = start + i;
      try {
        const { width, height } = probeImage(images[k]);
        if (width === s && height === s) {
          await this.#decoder.decodeInto(images[k], dst.subarray(i * per, (i + 1) * per));
        } else {
          const rgb = new Uint8Array(width * height * 3);
          await this.#decoder.decodeInto(images[k], rgb);
          dst.set(resizeBilinear(rgb, width, height, s, s), i * per);
        }
      } catch (e) {
        throw new Error(`${source}: image ${k} cannot be decoded (${(e as Error).message})`);
      }
    }
    return dst;
  }

  /** Frees the decoder. */
  close(): void {
    this.#decoder.close();
  }
}
