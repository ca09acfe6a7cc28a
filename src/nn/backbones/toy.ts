/**
 * `toy`: a small CNN for the embedded toy-faces run on a CPU (lavapipe). Four stride-2
 * conv3×3 → BN → PReLU stages (112 → 7; 16, 32, 64, 64 channels), BN, flatten, Linear →
 * BatchNorm1d, the IResNet head in miniature: ~22 MFLOP per image forward, against r18's ~2.6
 * GFLOP, so a few minutes of training on two CPU cores sees tens of thousands of images.
 *
 * @module
 */
import type { Rng } from "../../data/rng.ts";
import type { Tensor } from "../../tensor/tensor.ts";
import { cast } from "../../tensor/ops/elementwise.ts";
import { BatchNorm, Conv2d, Flatten, Linear, PReLU, Sequential } from "../layers.ts";
import { Module } from "../module.ts";

const INIT = { kind: "kaimingNormalFanOut" } as const;

/** The toy backbone. */
export class ToyNet extends Module {
  /** The four conv stages. */
  readonly stages: Sequential[];
  readonly #head: Sequential;
  /** Run the conv stages in half precision; the head in f32. */
  fp16 = false;

  /** Creates the network with embedding size E. */
  constructor(rng: Rng, embeddingSize = 128, widths: readonly number[] = [16, 32, 64, 64]) {
    super();
    let inC = 3;
    this.stages = widths.map((w, i) => {
      const s = this.child(
        `layer${i + 1}`,
        new Sequential(new Conv2d(inC, w, 3, 2, 1, 1, INIT, rng), new BatchNorm(w), new PReLU(w)),
      );
      inC = w;
      return s;
    });
    this.#head = this.child(
      "head",
      new Sequential(
        new BatchNorm(inC),
        new Flatten(),
        new Linear(inC * 7 * 7, embeddingSize, true, { kind: "torchDefault" }, rng),
        new BatchNorm(embeddingSize, 1e-5, 0.1, false),
      ),
    );
  }

  /** [N, 3, 112, 112] → [N, E]. */
  forward(x: Tensor): Tensor {
    let y = this.fp16 && x.dtype === "f32" ? cast(x, "f16") : x;
    for (const s of this.stages) y = s.call(y);
    if (y.dtype === "f16") y = cast(y, "f32");
    return this.#head.call(y);
  }
}
