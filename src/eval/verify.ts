/**
 * Verification of a `.bin` set through any {@link Engine}: decode the images in chunks, embed
 * each chunk and its mirror images, then run the reference protocol (`evaluateVerification`).
 * `eval verification` and the trainer's validation callback both call {@link verifyBin} (the
 * trainer with `WebGpuEngine.fromModel(backbone, E)`), so they cannot drift apart.
 *
 * @module
 */
import type { VerificationBin } from "./bin.ts";
import type { Engine } from "./engine.ts";
import { FaceDecoder } from "./face_bytes.ts";
import {
  evaluateVerification,
  type VerificationOptions,
  type VerificationResult,
} from "./verification.ts";

/** Progress of an embedding run. */
export interface EmbedProgress {
  /** Forward images done (each image counts twice: as is and mirrored). */
  done: number;
  /** Forward images in all. */
  total: number;
  /** Seconds since the start. */
  seconds: number;
}

/** Options of {@link embedBin} and {@link verifyBin}. */
export interface VerifyOptions {
  /** Images decoded and embedded per chunk (default: the batch rounded up to ≥ 256). */
  chunk?: number;
  /** Called after each chunk. */
  onProgress?: (p: EmbedProgress) => void;
  /** The file the images came from, for error messages (default `<bin>`). */
  source?: string;
  /** Protocol options (folds, FAR target). */
  protocol?: VerificationOptions;
}

/** Embeddings of the images of a `.bin` and of their mirror images. */
export interface BinEmbeddings {
  /** 2P×E embeddings of the images. */
  emb: Float32Array;
  /** 2P×E embeddings of the mirrored images. */
  flip: Float32Array;
  /** Embedding size. */
  dim: number;
  /** Seconds spent decoding and embedding. */
  seconds: number;
}

/** The result of {@link verifyBin}: the protocol's figures plus throughput. */
export interface VerifyResult extends VerificationResult {
  /** Images in the set (2 per pair). */
  images: number;
  /** Seconds spent decoding and embedding. */
  seconds: number;
  /** Forward images (2 per image: as is and mirrored) per second, decode included. */
  imagesPerSecond: number;
}

/** Decodes and embeds every image of `bin` and its mirror image. */
export async function embedBin(
  engine: Engine,
  bin: VerificationBin,
  opts: VerifyOptions = {},
): Promise<BinEmbeddings> {
  const n = bin.images.length;
  const E = engine.embeddingSize;
  const B = Math.max(1, engine.batch);
  const chunk = opts.chunk ?? Math.ceil(Math.max(256, B) / B) * B;
  const source = opts.source ?? "<bin>";
  const emb = new Float32Array(n * E);
  const flip = new Float32Array(n * E);
  const decoder = await FaceDecoder.create(112);
  const t0 = performance.now();
  try {
    const buf = new Uint8Array(Math.min(chunk, n) * 112 * 112 * 3);
    for (let s = 0; s < n; s += chunk) {
      const m = Math.min(chunk, n - s);
      const images = await decoder.decode(bin.images, s, m, source, buf);
      emb.set(await engine.embed(images, m), s * E);
      flip.set(await engine.embed(images, m, { flip: true }), s * E);
      opts.onProgress?.({
        done: 2 * (s + m),
        total: 2 * n,
        seconds: (performance.now() - t0) / 1e3,
      });
    }
  } finally {
    decoder.close();
  }
  return { emb, flip, dim: E, seconds: (performance.now() - t0) / 1e3 };
}

/** Embeds `bin` through `engine` and runs the reference verification protocol. */
export async function verifyBin(
  engine: Engine,
  bin: VerificationBin,
  opts: VerifyOptions = {},
): Promise<VerifyResult> {
  const e = await embedBin(engine, bin, opts);
  const r = evaluateVerification(e.emb, e.flip, e.dim, bin.issame, opts.protocol);
  const images = bin.images.length;
  return { ...r, images, seconds: e.seconds, imagesPerSecond: (2 * images) / e.seconds };
}
