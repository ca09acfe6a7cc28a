/**
 * Glint360K, MobileFaceNet, CosFace, Partial FC 0.1:
 * the seed's `configs/glint360k_mbf.py` (2021 values; its `warmup_epoch = -1` is our 0).
 *
 * @module
 */
import type { ConfigFile } from "./base.ts";

/** The experiment's settings, merged over `BASE`. */
export const config: ConfigFile = {
  loss: "cosface",
  network: "mbf",
  embedding_size: 512,
  sample_rate: 0.1,
  fp16: true,
  momentum: 0.9,
  weight_decay: 2e-4,
  batch_size: 128,
  lr: 0.1,
  scheduler: "step",

  rec: "/train_tmp/glint360k",
  num_classes: 360_232,
  num_image: 17_091_657,
  num_epoch: 20,
  warmup_epoch: 0,
  decay_epoch: [8, 12, 15, 18],
  val_targets: ["lfw", "cfp_fp", "agedb_30"],
};
