/**
 * MS1MV3 (ms1m-retinaface-t1), IResNet-2060, ArcFace, batch 64 per GPU:
 * the seed's `configs/ms1mv3_r2060.py` (2021 values; its `warmup_epoch = -1` is our 0).
 *
 * @module
 */
import type { ConfigFile } from "./base.ts";

/** The experiment's settings, merged over `BASE`. */
export const config: ConfigFile = {
  loss: "arcface",
  network: "r2060",
  embedding_size: 512,
  sample_rate: 1.0,
  fp16: true,
  momentum: 0.9,
  weight_decay: 5e-4,
  batch_size: 64,
  lr: 0.1,
  scheduler: "step",

  rec: "/train_tmp/ms1m-retinaface-t1",
  num_classes: 93_431,
  num_image: 5_179_510,
  num_epoch: 25,
  warmup_epoch: 0,
  decay_epoch: [10, 16, 22],
  val_targets: ["lfw", "cfp_fp", "agedb_30"],
};
