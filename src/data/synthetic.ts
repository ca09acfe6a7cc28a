/**
 * The reference's synthetic dataset, for speed tests: every sample is the same uniformly
 * random 112×112×3 image with the same label (1 by default).
 *
 * @module
 */
import { checkLabel, type Dataset, IMAGE_BYTES, type SyntheticSpec } from "./dataset.ts";
import type { DataLocation } from "./errors.ts";
import { Rng } from "./rng.ts";

/** Options of the synthetic dataset. */
export interface SyntheticOptions {
  /** Samples per epoch (default 1,000,000 as the reference). */
  numImages?: number;
  /** Classes the config declares (default 1000). */
  numClasses?: number;
  /** The constant label (default 1). */
  label?: number;
  /** Seed of the image (default 0). */
  seed?: number;
}

/** The constant random image and label as a {@link Dataset}. */
export class SyntheticDataset implements Dataset {
  /** Kind tag. */
  readonly kind = "synthetic" as const;
  /** Nothing to decode. */
  readonly needsDecoder = false;
  /** Number of samples. */
  readonly length: number;
  /** Declared classes. */
  readonly numClasses: number;
  /** The label of every sample. */
  readonly label: number;
  /** The image (uint8 values 0..254 as the reference's randint(0, 255)). */
  readonly image: Uint8Array;
  readonly #seed: number;

  /** Creates the dataset and draws its image. */
  constructor(opts: SyntheticOptions = {}) {
    this.length = opts.numImages ?? 1_000_000;
    this.numClasses = opts.numClasses ?? 1000;
    this.label = checkLabel(opts.label ?? 1, this.numClasses, { file: "<synthetic>" });
    this.#seed = opts.seed ?? 0;
    const r = new Rng(this.#seed);
    this.image = new Uint8Array(IMAGE_BYTES);
    for (let i = 0; i < IMAGE_BYTES; i++) this.image[i] = r.int(255);
  }

  /** Reopens from a spec. */
  static fromSpec(s: SyntheticSpec): SyntheticDataset {
    return new SyntheticDataset(s);
  }

  /** The spec. */
  spec(): SyntheticSpec {
    return {
      kind: "synthetic",
      numImages: this.length,
      numClasses: this.numClasses,
      label: this.label,
      seed: this.#seed,
    };
  }

  /** A pseudo-location. */
  locate(i: number): DataLocation {
    return { file: "<synthetic>", key: i };
  }

  /** The constant label. */
  labelOf(_i: number): number {
    return this.label;
  }

  /** Copies the constant image. */
  load(_i: number, out: Uint8Array, offset: number): number {
    out.set(this.image, offset);
    return this.label;
  }

  /** Nothing to release. */
  close(): void {}
}
