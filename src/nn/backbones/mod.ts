/**
 * `createBackbone(name, options)`: the seed's networks by name.
 *
 * @module
 */
import { Rng } from "../../data/rng.ts";
import type { Module } from "../module.ts";
import { IResNet, IRESNET_LAYERS } from "./iresnet.ts";
import { MobileFaceNet } from "./mobilefacenet.ts";
import { ToyNet } from "./toy.ts";

export { IBasicBlock, IResNet, IRESNET_LAYERS } from "./iresnet.ts";
export { MobileFaceNet } from "./mobilefacenet.ts";
export { ToyNet } from "./toy.ts";

/** The valid network names. */
export const BACKBONES = ["r18", "r34", "r50", "r100", "r200", "r2060", "mbf", "toy"] as const;
/** A network name. */
export type BackboneName = typeof BACKBONES[number];

/** Options of `createBackbone`. */
export interface BackboneOptions {
  /** Embedding size E (default 512). */
  embeddingSize?: number;
  /** Dropout before the IResNet head's Linear (default 0). */
  dropout?: number;
  /** Run the convolutional trunk in half precision (the head stays f32). */
  fp16?: boolean;
  /** Seed of the weight initialisation (default 0). */
  seed?: number;
  /**
   * Stages (0-based) whose activations are recomputed in backward; default [1, 2] for r2060
   * (the reference's stages 2 and 3), none otherwise.
   */
  checkpointStages?: number[];
}

/** A backbone with its stages exposed (for checkpointing). */
export interface Backbone extends Module {
  /** The stages that `checkpointStages` indexes. */
  readonly stages: readonly Module[];
  /** Whether the convolutional trunk runs in half precision (the head stays f32). */
  fp16: boolean;
}

/**
 * Creates a backbone by name.
 * @throws for an unknown name, listing the valid ones
 */
export function createBackbone(name: string, opts: BackboneOptions = {}): Backbone {
  const rng = new Rng(opts.seed ?? 0);
  const emb = opts.embeddingSize ?? 512;
  if (!Number.isInteger(emb) || emb < 1) {
    throw new Error(`createBackbone: embeddingSize ${emb} must be a positive integer`);
  }
  let net: Backbone;
  if (name === "mbf") net = new MobileFaceNet(rng, emb);
  else if (name === "toy") net = new ToyNet(rng, opts.embeddingSize ?? 128);
  else if (name in IRESNET_LAYERS) {
    net = new IResNet(IRESNET_LAYERS[name], rng, { embeddingSize: emb, dropout: opts.dropout });
  } else {
    throw new Error(`unknown network "${name}"; valid networks: ${BACKBONES.join(", ")}`);
  }
  net.fp16 = opts.fp16 ?? false;
  const ck = opts.checkpointStages ?? (name === "r2060" ? [1, 2] : []);
  for (const i of ck) {
    const s = net.stages[i];
    if (!s) {
      throw new Error(`checkpointStages: ${name} has no stage ${i} (0..${net.stages.length - 1})`);
    }
    s.checkpoint = true;
  }
  return net;
}
