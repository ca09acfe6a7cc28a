/**
 * MobileFaceNet (`mbf`, scale 2) as REFERENCE.md and the reference's module names:
 * `layers.N…` (stem, depthwise stages, residual stacks), `conv_sep`, and `features` (GDC: 7×7
 * depthwise LinearBlock → flatten → Linear(512 → E, no bias) → BatchNorm1d). Kaiming-normal
 * (fan-out) init for conv and Linear, BN 1/0, PReLU 0.25.
 *
 * @module
 */
import type { Rng } from "../../data/rng.ts";
import { add, cast } from "../../tensor/ops/elementwise.ts";
import type { Tensor } from "../../tensor/tensor.ts";
import { BatchNorm, Conv2d, Flatten, Linear, PReLU, Sequential } from "../layers.ts";
import { Module } from "../module.ts";

const INIT = { kind: "kaimingNormalFanOut" } as const;

/** conv → BN (→ PReLU when `act`), as `layers.0/1/2`. */
function convBlock(
  rng: Rng,
  inC: number,
  outC: number,
  k = 1,
  s = 1,
  p = 0,
  g = 1,
  act = true,
): Sequential {
  const mods: Module[] = [new Conv2d(inC, outC, k, s, p, g, INIT, rng), new BatchNorm(outC)];
  if (act) mods.push(new PReLU(outC));
  return new Sequential(...mods);
}

/** A module holding one Sequential named `layers`, as the reference's blocks. */
class Wrapped extends Module {
  readonly #layers: Sequential;
  constructor(layers: Sequential, readonly residual = false) {
    super();
    this.#layers = this.child("layers", layers);
  }
  forward(x: Tensor): Tensor {
    const y = this.#layers.call(x);
    return this.residual ? add(x, y) : y;
  }
}

/** 1×1 expand to g → 3×3 depthwise (stride s) → 1×1 linear projection, optional residual. */
function depthWise(rng: Rng, inC: number, outC: number, residual: boolean, s: number, g: number) {
  return new Wrapped(
    new Sequential(
      new Wrapped(convBlock(rng, inC, g)),
      new Wrapped(convBlock(rng, g, g, 3, s, 1, g)),
      new Wrapped(convBlock(rng, g, outC, 1, 1, 0, 1, false)),
    ),
    residual,
  );
}

function residual(rng: Rng, c: number, n: number, g: number) {
  const blocks = [];
  for (let i = 0; i < n; i++) blocks.push(depthWise(rng, c, c, true, 1, g));
  return new Wrapped(new Sequential(...blocks));
}

/** The MobileFaceNet backbone. */
export class MobileFaceNet extends Module {
  readonly #layers: Module[];
  readonly #convSep: Module;
  readonly #features: Module;
  /** Run `layers` in half precision; conv_sep and the GDC head in f32 (as the reference). */
  fp16 = false;

  /** Creates the network with embedding size E. */
  constructor(rng: Rng, embeddingSize = 512) {
    super();
    const stages = [
      new Wrapped(convBlock(rng, 3, 128, 3, 2, 1)),
      new Wrapped(convBlock(rng, 128, 128, 3, 1, 1, 64)),
      depthWise(rng, 128, 128, false, 2, 128),
      residual(rng, 128, 4, 128),
      depthWise(rng, 128, 256, false, 2, 256),
      residual(rng, 256, 6, 256),
      depthWise(rng, 256, 256, false, 2, 512),
      residual(rng, 256, 2, 256),
    ];
    this.#layers = stages;
    this.child("layers", new Sequential(...stages));
    this.#convSep = this.child("conv_sep", new Wrapped(convBlock(rng, 256, 512)));
    this.#features = this.child(
      "features",
      new Wrapped(
        new Sequential(
          new Wrapped(convBlock(rng, 512, 512, 7, 1, 0, 512, false)),
          new Flatten(),
          new Linear(512, embeddingSize, false, INIT, rng),
          new BatchNorm(embeddingSize),
        ),
      ),
    );
  }

  /** The stages (for checkpointing). */
  get stages(): readonly Module[] {
    return this.#layers;
  }

  /** [N, 3, 112, 112] → [N, E]. */
  forward(x: Tensor): Tensor {
    let y = this.fp16 && x.dtype === "f32" ? cast(x, "f16") : x;
    for (const m of this.#layers) y = m.call(y);
    if (y.dtype === "f16") y = cast(y, "f32");
    return this.#features.call(this.#convSep.call(y));
  }
}
