/**
 * The validation callback: the reference's verification protocol (flip-summed embeddings,
 * 10 folds, thresholds 0–4 by 0.01, accuracy ± std, XNorm, highest so far) on `.bin` sets found
 * beside the data and on the toy set's held-out pairs, computed with the training backbone on
 * the GPU in eval mode. `.bin` sets go through `verifyBin`, the implementation `deno task eval
 * verification` uses; both end in `evaluateVerification`.
 *
 * @module
 */
import { pixelBaseline } from "../data/pixel_baseline.ts";
import { toyPairs } from "../data/toy_faces.ts";
import { readVerificationBin, type VerificationBin } from "../eval/bin.ts";
import { evaluateVerification, type VerificationResult } from "../eval/verification.ts";
import { verifyBin } from "../eval/verify.ts";
import { WebGpuEngine } from "../eval/webgpu_engine.ts";
import type { Module } from "../nn/module.ts";

/** A validation set: a `.bin` (encoded images) or rendered toy pairs (RGB 112×112). */
export type ValidationSet =
  | { kind: "bin"; name: string; bin: VerificationBin; path: string }
  | { kind: "toy"; name: string; images: Uint8Array; issame: boolean[]; pixelBaseline: number };

const PER = 112 * 112 * 3;

/** Reads a `.bin` verification set. */
export async function loadBinSet(path: string, name: string): Promise<ValidationSet> {
  return { kind: "bin", name, bin: await readVerificationBin(path), path };
}

/** The toy dataset's held-out pairs (identities never seen in training), with the baseline. */
export function toySet(seed: number, numPairs = 600, variation?: number): ValidationSet {
  const pairs = toyPairs({ seed, numPairs, numIdentities: 200, variation });
  const images = new Uint8Array(pairs.images.length * PER);
  pairs.images.forEach((im, i) => images.set(im, i * PER));
  return {
    kind: "toy",
    name: "toy",
    images,
    issame: pairs.issame,
    pixelBaseline: pixelBaseline(pairs.images, pairs.issame).accuracy,
  };
}

/** Runs the protocol on `set` with `model` (eval mode for the call, then restored). */
export async function validate(
  model: Module,
  embeddingSize: number,
  set: ValidationSet,
  batch = 64,
): Promise<VerificationResult> {
  const engine = WebGpuEngine.fromModel(model, embeddingSize);
  engine.batch = batch;
  if (set.kind === "bin") return await verifyBin(engine, set.bin, { source: set.path });
  const n = set.issame.length * 2;
  const emb = await engine.embedImages(set.images, n, { batch });
  const flip = await engine.embedImages(set.images, n, { batch, flip: true });
  return evaluateVerification(emb, flip, embeddingSize, set.issame);
}
