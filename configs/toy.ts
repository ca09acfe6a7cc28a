/**
 * The embedded default: the generated toy-faces dataset (no files needed) and the tiny `toy`
 * CNN, sized for a run of a few minutes on a 2-core CPU through lavapipe. `deno task train`
 * with no config trains this. Validation uses the toy set's own held-out pairs, so
 * `val_targets` is empty.
 *
 * @module
 */
import type { ConfigFile } from "./base.ts";

/** The toy run's settings, merged over `BASE`. */
export const config: ConfigFile = {
  loss: "arcface",
  network: "toy",
  embedding_size: 128,
  sample_rate: 1.0,
  fp16: false,
  momentum: 0.9,
  weight_decay: 5e-4,
  batch_size: 64,
  lr: 0.1,
  scheduler: "step",

  rec: "toy:ids=300,per=20,seed=0",
  num_classes: 300,
  num_image: 6000,
  num_epoch: 4,
  warmup_epoch: 0,
  decay_epoch: [3],
  val_targets: [],
  verbose: 100,
  frequent: 10,
  num_workers: 2,
  seed: 2048,
};
