/**
 * The embedded default: the generated toy-faces dataset (no files needed) and the tiny `toy`
 * CNN, sized for a run of about three minutes on a 2-core CPU through lavapipe. `deno task
 * train` with no config trains this and ends with the held-out verification accuracy beside
 * the raw-pixel baseline. Validation uses the toy set's own held-out identities, so
 * `val_targets` is empty.
 *
 * Tuned on this machine: 60 identities × 30 images, batch 32, CosFace, 5 epochs (280 steps at
 * ~58 samples/s): held-out 77.0 % against a 56.2 % raw-pixel baseline. With 300 identities the
 * same time budget stays at chance-level loss (CosFace from scratch has a long plateau).
 *
 * @module
 */
import type { ConfigFile } from "./base.ts";

/** The toy run's settings, merged over `BASE`. */
export const config: ConfigFile = {
  loss: "cosface",
  network: "toy",
  embedding_size: 128,
  sample_rate: 1.0,
  fp16: false,
  momentum: 0.9,
  weight_decay: 5e-4,
  batch_size: 32,
  // for a global batch of 512 as the reference's configs: 0.8 / 512 · 32 = 0.05
  lr: 0.8,
  scheduler: "step",

  rec: "toy:ids=60,per=30,seed=0",
  num_classes: 60,
  num_image: 1800,
  num_epoch: 5,
  warmup_epoch: 0,
  decay_epoch: [4],
  val_targets: [],
  verbose: 140,
  frequent: 20,
  num_workers: 2,
  seed: 2048,
};
