/**
 * IResNet (r18 … r200, r2060) as REFERENCE.md: a 3×3 stem, four stages of IBasicBlock that
 * each start with stride 2 (112 → 7), then BN → flatten → dropout → Linear(25088 → E) →
 * BatchNorm1d(E) whose weight is frozen at 1. Conv weights N(0, 0.1). Module names equal the
 * reference's state-dict keys (`layer1.0.bn1.weight`, `layer1.0.downsample.0.weight`, …).
 *
 * @module
 */
import type { Rng } from "../../data/rng.ts";
import { add, cast } from "../../tensor/ops/elementwise.ts";
import type { Tensor } from "../../tensor/tensor.ts";
import {
  BatchNorm,
  Conv2d,
  Dropout,
  Flatten,
  Linear,
  PReLU,
  Sequential,
  ToFloat32,
} from "../layers.ts";
import { Module } from "../module.ts";

/** Blocks per stage of each IResNet depth. */
export const IRESNET_LAYERS: Record<string, readonly [number, number, number, number]> = {
  r18: [2, 2, 2, 2],
  r34: [3, 4, 6, 3],
  r50: [3, 4, 14, 3],
  r100: [3, 13, 30, 3],
  r200: [6, 26, 60, 6],
  r2060: [3, 128, 896, 3],
};

const CONV_INIT = { kind: "normal", std: 0.1 } as const;

/** BN1 → conv3×3 → BN2 → PReLU → conv3×3 (stride s) → BN3, plus the (projected) identity. */
export class IBasicBlock extends Module {
  readonly #bn1: BatchNorm;
  readonly #conv1: Conv2d;
  readonly #bn2: BatchNorm;
  readonly #prelu: PReLU;
  readonly #conv2: Conv2d;
  readonly #bn3: BatchNorm;
  readonly #down?: Sequential;

  /** Creates the block. */
  constructor(inplanes: number, planes: number, stride: number, rng: Rng) {
    super();
    this.#bn1 = this.child("bn1", new BatchNorm(inplanes));
    this.#conv1 = this.child("conv1", new Conv2d(inplanes, planes, 3, 1, 1, 1, CONV_INIT, rng));
    this.#bn2 = this.child("bn2", new BatchNorm(planes));
    this.#prelu = this.child("prelu", new PReLU(planes));
    this.#conv2 = this.child(
      "conv2",
      new Conv2d(planes, planes, 3, stride, 1, 1, CONV_INIT, rng),
    );
    this.#bn3 = this.child("bn3", new BatchNorm(planes));
    if (stride !== 1 || inplanes !== planes) {
      this.#down = this.child(
        "downsample",
        new Sequential(
          new Conv2d(inplanes, planes, 1, stride, 0, 1, CONV_INIT, rng),
          new BatchNorm(planes),
        ),
      );
    }
  }

  /** The residual block. */
  forward(x: Tensor): Tensor {
    let y = this.#bn1.call(x);
    y = this.#conv1.call(y);
    y = this.#bn2.call(y);
    y = this.#prelu.call(y);
    y = this.#conv2.call(y);
    y = this.#bn3.call(y);
    return add(y, this.#down ? this.#down.call(x) : x);
  }
}

/** Options of the IResNet constructor. */
export interface IResNetOptions {
  /** Embedding size E (default 512). */
  embeddingSize?: number;
  /** Dropout before the final Linear (default 0). */
  dropout?: number;
}

/** The IResNet backbone. */
export class IResNet extends Module {
  /** The four stages (for checkpointing). */
  readonly stages: Sequential[];
  /** Run the trunk (stem … bn2, flatten, dropout) in half precision; fc and features in f32. */
  fp16 = false;
  readonly #stem: Module[];
  readonly #head: Module[];

  /** Creates an IResNet with the given blocks per stage. */
  constructor(layers: readonly number[], rng: Rng, opts: IResNetOptions = {}) {
    super();
    const emb = opts.embeddingSize ?? 512;
    this.#stem = [
      this.child("conv1", new Conv2d(3, 64, 3, 1, 1, 1, CONV_INIT, rng)),
      this.child("bn1", new BatchNorm(64)),
      this.child("prelu", new PReLU(64)),
    ];
    this.stages = [];
    let inplanes = 64;
    [64, 128, 256, 512].forEach((planes, i) => {
      const blocks = [new IBasicBlock(inplanes, planes, 2, rng)];
      for (let b = 1; b < layers[i]; b++) blocks.push(new IBasicBlock(planes, planes, 1, rng));
      this.stages.push(this.child(`layer${i + 1}`, new Sequential(...blocks)));
      inplanes = planes;
    });
    this.#head = [
      this.child("bn2", new BatchNorm(512)),
      new Flatten(),
      this.child("dropout", new Dropout(opts.dropout ?? 0)),
      new ToFloat32(),
      this.child("fc", new Linear(512 * 7 * 7, emb, true, { kind: "torchDefault" }, rng)),
      this.child("features", new BatchNorm(emb, 1e-5, 0.1, false)),
    ];
  }

  /** [N, 3, 112, 112] normalised images → [N, E] embeddings. */
  forward(x: Tensor): Tensor {
    let y = this.fp16 && x.dtype === "f32" ? cast(x, "f16") : x;
    for (const m of this.#stem) y = m.call(y);
    for (const s of this.stages) y = s.call(y);
    for (const m of this.#head) y = m.call(y);
    return y;
  }
}
