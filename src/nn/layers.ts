/**
 * The layers of the backbones, with PyTorch's parameter names and initialisations:
 * Conv2d, BatchNorm (1-D and 2-D), PReLU, Linear, Dropout, Flatten and Sequential.
 *
 * @module
 */
import type { Rng } from "../data/rng.ts";
import { batchNorm } from "../tensor/ops/batchnorm.ts";
import { conv2d } from "../tensor/ops/conv2d.ts";
import { dropout } from "../tensor/ops/dropout.ts";
import { cast } from "../tensor/ops/elementwise.ts";
import { linear } from "../tensor/ops/matmul.ts";
import { prelu } from "../tensor/ops/prelu.ts";
import { flatten } from "../tensor/ops/shape.ts";
import { Tensor } from "../tensor/tensor.ts";
import { Module, statsFrozen } from "./module.ts";

/** How a weight is initialised. */
export type Init =
  | { kind: "normal"; std: number }
  | { kind: "kaimingNormalFanOut" }
  | { kind: "torchDefault" };

function fill(n: number, f: () => number): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = f();
  return a;
}

/** A 2-D convolution (weight OIHW `[out, in/groups, k, k]`, no bias unless asked). */
export class Conv2d extends Module {
  /** The weight. */
  readonly weight: Tensor;
  /** The bias, when present. */
  readonly bias?: Tensor;

  /** Creates the layer and initialises its weight from `rng`. */
  constructor(
    readonly inChannels: number,
    readonly outChannels: number,
    readonly kernel: number,
    readonly stride: number,
    readonly padding: number,
    readonly groups: number,
    init: Init,
    rng: Rng,
    bias = false,
  ) {
    super();
    const fanIn = (inChannels / groups) * kernel * kernel;
    const n = outChannels * fanIn;
    const std = init.kind === "normal"
      ? init.std
      : init.kind === "kaimingNormalFanOut"
      ? Math.sqrt(2 / (outChannels * kernel * kernel))
      : 0;
    const data = init.kind === "torchDefault"
      ? fill(n, () => rng.uniform(-1, 1) / Math.sqrt(fanIn))
      : fill(n, () => std * rng.normal());
    this.weight = this.param(
      "weight",
      Tensor.fromArray(data, [outChannels, inChannels / groups, kernel, kernel]),
    );
    if (bias) {
      this.bias = this.param(
        "bias",
        Tensor.fromArray(fill(outChannels, () => rng.uniform(-1, 1) / Math.sqrt(fanIn)), [
          outChannels,
        ]),
      );
    }
  }

  /**
   * conv2d over an NCHW input. A half-precision input (the fp16 trunk) is convolved with a
   * half copy of the f32 master weight; the cast is on the tape, so gradients reach the master.
   */
  forward(x: Tensor): Tensor {
    const half = x.dtype === "f16";
    return conv2d(x, half ? cast(this.weight, "f16") : this.weight, {
      stride: this.stride,
      padding: this.padding,
      groups: this.groups,
      bias: this.bias && half ? cast(this.bias, "f16") : this.bias,
    });
  }
}

/** Batch normalisation over channels of NCHW (2-D) or NC (1-D) input, PyTorch semantics. */
export class BatchNorm extends Module {
  /** Scale (γ). */
  readonly weight: Tensor;
  /** Shift (β). */
  readonly bias: Tensor;
  /** Running mean. */
  readonly runningMean: Tensor;
  /** Running (unbiased) variance. */
  readonly runningVar: Tensor;
  readonly #tracked: { value: number };

  /**
   * A BatchNorm over `channels` features, running statistics at mean 0 and variance 1.
   * @param channels number of features
   * @param trainWeight false freezes γ at 1 (the embedding BatchNorm1d of IResNet)
   */
  constructor(
    readonly channels: number,
    readonly eps = 1e-5,
    readonly momentum = 0.1,
    trainWeight = true,
  ) {
    super();
    this.weight = this.param("weight", Tensor.full([channels], 1), trainWeight);
    this.bias = this.param("bias", Tensor.full([channels], 0));
    this.runningMean = this.buffer("running_mean", Tensor.full([channels], 0));
    this.runningVar = this.buffer("running_var", Tensor.full([channels], 1));
    this.#tracked = this.counter("num_batches_tracked");
  }

  /** Normalises with batch statistics (training) or running statistics (eval). */
  forward(x: Tensor): Tensor {
    // a checkpoint recomputation uses batch statistics without updating the running ones
    const keep = this.training && statsFrozen();
    if (this.training && !keep) this.#tracked.value++;
    return batchNorm(
      x,
      this.weight,
      this.bias,
      keep ? null : this.runningMean,
      keep ? null : this.runningVar,
      { training: this.training, momentum: this.momentum, eps: this.eps },
    );
  }
}

/** PReLU with one slope per channel (initialised to 0.25). */
export class PReLU extends Module {
  /** Slopes. */
  readonly weight: Tensor;
  /** Creates the layer. */
  constructor(channels: number) {
    super();
    this.weight = this.param("weight", Tensor.full([channels], 0.25));
  }
  /** max(0, x) + slope·min(0, x), per channel. */
  forward(x: Tensor): Tensor {
    return prelu(x, this.weight);
  }
}

/** A fully connected layer y = x·Wᵀ + b, W `[out, in]`. */
export class Linear extends Module {
  /** The weight. */
  readonly weight: Tensor;
  /** The bias, when present. */
  readonly bias?: Tensor;
  /** Creates the layer with PyTorch's default or kaiming-normal (fan-out) init. */
  constructor(inFeatures: number, outFeatures: number, bias: boolean, init: Init, rng: Rng) {
    super();
    const bound = 1 / Math.sqrt(inFeatures);
    const std = init.kind === "normal" ? init.std : Math.sqrt(2 / outFeatures);
    const data = init.kind === "torchDefault"
      ? fill(inFeatures * outFeatures, () => rng.uniform(-bound, bound))
      : fill(inFeatures * outFeatures, () => std * rng.normal());
    this.weight = this.param("weight", Tensor.fromArray(data, [outFeatures, inFeatures]));
    if (bias) {
      const b = init.kind === "torchDefault"
        ? fill(outFeatures, () => rng.uniform(-bound, bound))
        : new Float32Array(outFeatures);
      this.bias = this.param("bias", Tensor.fromArray(b, [outFeatures]));
    }
  }
  /** x·Wᵀ + b. */
  forward(x: Tensor): Tensor {
    return linear(x, this.weight, this.bias);
  }
}

let dropoutSeed = 0x5eed;
/**
 * Sets the seed of the next dropout masks (the trainer derives it from the run's seed and the
 * step, so a resumed run draws the same masks).
 */
export function setDropoutSeed(seed: number): void {
  dropoutSeed = seed >>> 0;
}

/** Inverted dropout with probability p (no parameters). */
export class Dropout extends Module {
  /** Creates the layer. */
  constructor(readonly p: number) {
    super();
  }
  /** Dropout in training mode, identity in eval mode. */
  forward(x: Tensor): Tensor {
    if (!this.training || this.p === 0) return x;
    dropoutSeed = (dropoutSeed * 1103515245 + 12345) >>> 0;
    return dropout(x, this.p, dropoutSeed, true);
  }
}

/** Casts to f32 (where the fp16 trunk hands over to the f32 head); identity on f32. */
export class ToFloat32 extends Module {
  /** x as f32. */
  forward(x: Tensor): Tensor {
    return x.dtype === "f32" ? x : cast(x, "f32");
  }
}

/** Flattens all dimensions after the batch. */
export class Flatten extends Module {
  /** [N, …] → [N, prod(…)]. */
  forward(x: Tensor): Tensor {
    return flatten(x, 1);
  }
}

/** Children applied in order, named "0", "1", … as PyTorch's nn.Sequential. */
export class Sequential extends Module {
  readonly #mods: Module[];
  /** Creates the container. */
  constructor(...mods: Module[]) {
    super();
    this.#mods = mods;
    mods.forEach((m, i) => this.child(String(i), m));
  }
  /** The children in order. */
  get modules(): readonly Module[] {
    return this.#mods;
  }
  /** Applies each child in turn. */
  forward(x: Tensor): Tensor {
    let y = x;
    for (const m of this.#mods) y = m.call(y);
    return y;
  }
}
