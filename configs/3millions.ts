/**
 * Speed test: 3 million identities on synthetic data, IResNet-50, ArcFace, full softmax:
 * the seed's `configs/3millions.py` (2021 values; its `warmup_epoch = -1` is our 0).
 *
 * @module
 */
import type { ConfigFile } from "./base.ts";

/** The experiment's settings, merged over `BASE`. */
export const config: ConfigFile = {
  loss: "arcface",
  network: "r50",
  embedding_size: 512,
  sample_rate: 1.0,
  fp16: true,
  momentum: 0.9,
  weight_decay: 5e-4,
  batch_size: 128,
  lr: 0.1,
  scheduler: "step",

  rec: "synthetic",
  num_classes: 3_000_000,
  num_epoch: 30,
  warmup_epoch: 0,
  decay_epoch: [10, 16, 22],
  val_targets: [],
};
