/**
 * The typed training configuration and its defaults. An experiment is one small file beside
 * this one that exports `config`, a {@link ConfigFile} merged over {@link BASE} by
 * `loadConfig` (src/train/config.ts); any key can then be overridden on the command line as
 * `--key value`. Key names are the reference's (arcface_torch `configs/*.py`), snake_case.
 *
 * Both generations of the reference are covered: the 2021 files say `loss` and use the step
 * schedule (`warmup_epoch`, `decay_epoch`); the later ones say `margin_list` and use the
 * polynomial schedule (`scheduler: "poly"`). After loading, `margin_list` is authoritative
 * and `loss` names its preset ("combined" when it matches neither).
 *
 * @module
 */

/** A margin preset name: ArcFace (1, 0.5, 0), CosFace (1, 0, 0.4), or "combined" (any other). */
export type LossName = "arcface" | "cosface" | "combined";

/** The optimiser: SGD with momentum (2021) or AdamW (later option). */
export type OptimizerName = "sgd" | "adamw";

/** The learning-rate schedule: 2021 linear warmup + ×0.1 steps, or later warmup + polynomial. */
export type SchedulerName = "step" | "poly";

/** Every training setting. */
export interface Config {
  /** Backbone name: r18 r34 r50 r100 r200 r2060 mbf toy. */
  network: string;
  /** 2021 spelling of the margin; kept consistent with `margin_list` by `loadConfig`. */
  loss: LossName;
  /** Combined margin (m1, m2, m3): target logit s·(cos(m1·θ + m2) − m3). */
  margin_list: [number, number, number];
  /** Embedding size E. */
  embedding_size: number;
  /** Partial FC sampling rate in (0, 1]; 1 = plain model parallelism. */
  sample_rate: number;
  /**
   * Keep the Partial FC class centres and their optimiser state in host memory and move only
   * each step's sampled rows to the GPU and back (identical results; GPU memory then scales
   * with sample_rate · classes instead of classes, for 2 · sampled rows · E · 4 B · 2 (SGD
   * momentum; 3 for AdamW) of host↔device traffic per step). Off by default: WebGPU does not
   * report the device's memory, so it cannot be switched on automatically when the table
   * would not fit, and a table that fits is faster resident. Useful with sample_rate < 1 and
   * millions of classes per rank. Checkpoints are the same in both modes.
   */
  pfc_offload: boolean;
  /** Inter-class filtering threshold in [0, 1); 0 disables it. */
  interclass_filtering_threshold: number;
  /** Half-precision trunk with dynamic loss scaling (when the adapter has `shader-f16`). */
  fp16: boolean;
  /** Batch size per process (rank). */
  batch_size: number;
  /** Optimiser. */
  optimizer: OptimizerName;
  /** Base learning rate (SGD: for a global batch of 512, scaled linearly by the trainer). */
  lr: number;
  /** SGD momentum. */
  momentum: number;
  /** Weight decay (SGD: L2; AdamW: decoupled). */
  weight_decay: number;
  /** Learning-rate schedule. */
  scheduler: SchedulerName;
  /** Warmup epochs (≤ 0: none; the 2021 files' −1 means the same as 0). */
  warmup_epoch: number;
  /** Epochs at which the step schedule multiplies the rate by 0.1 (ignored by "poly"). */
  decay_epoch: number[];
  /** Number of epochs. */
  num_epoch: number;
  /** Stop after this many optimiser steps (0: no cap; the schedule still spans num_epoch). */
  max_steps: number;
  /**
   * Micro-batches whose gradients are summed per optimiser step (the reference's
   * `gradient_acc`). Only the backbone accumulates: it is clipped and stepped every
   * `gradient_acc` micro-batches, while the Partial FC class centres take their sparse update
   * every micro-batch (as the 2021 reference's `opt_pfc` does every step; the later reference
   * puts the centres in the backbone's optimiser, so they accumulate and step with it). The
   * schedule and the step counter advance per micro-batch.
   */
  gradient_acc: number;
  /** Training data: RecordIO folder or `.rec`, image folder, `synthetic[:…]` or `toy[:…]`. */
  rec: string;
  /** Number of identities (0: take it from the data). */
  num_classes: number;
  /** Number of training images (0: take it from the data). */
  num_image: number;
  /** Verification sets `<name>.bin` looked up beside `rec`. */
  val_targets: string[];
  /** Validate every this many steps. */
  verbose: number;
  /** Write a log line every this many steps. */
  frequent: number;
  /** Save a checkpoint every this many steps (0: only at the end of each epoch). */
  save_every: number;
  /** Output folder ("" → `work_dirs/<config name>`). */
  output: string;
  /** Continue from the checkpoint in `output`. */
  resume: boolean;
  /** Seed of initialisation, sampling and augmentation. */
  seed: number;
  /** Dropout before the IResNet head's Linear. */
  dropout: number;
  /** Image-decoding workers per process. */
  num_workers: number;
  /** NVIDIA DALI loader in the reference; accepted for compatibility, must stay false. */
  dali: boolean;
}

/** What an experiment file exports as `config`: any subset of the keys. */
export type ConfigFile = Partial<Config>;

/** The defaults every experiment starts from (the 2021 seed's, MS1MV3-sized schedule). */
export const BASE: Readonly<Config> = Object.freeze(
  {
    network: "r50",
    loss: "arcface",
    margin_list: [1.0, 0.5, 0.0],
    embedding_size: 512,
    sample_rate: 1.0,
    pfc_offload: false,
    interclass_filtering_threshold: 0,
    fp16: false,
    batch_size: 128,
    optimizer: "sgd",
    lr: 0.1,
    momentum: 0.9,
    weight_decay: 5e-4,
    scheduler: "step",
    warmup_epoch: 0,
    decay_epoch: [10, 16, 22],
    num_epoch: 25,
    max_steps: 0,
    gradient_acc: 1,
    rec: "",
    num_classes: 0,
    num_image: 0,
    val_targets: ["lfw", "cfp_fp", "agedb_30"],
    verbose: 2000,
    frequent: 50,
    save_every: 0,
    output: "",
    resume: false,
    seed: 2048,
    dropout: 0.0,
    num_workers: 2,
    dali: false,
  } satisfies Config,
) as Readonly<Config>;
