/**
 * The toy faces as a training {@link Dataset}: images are rendered straight into the batch
 * (no encode/decode), label = identity.
 *
 * @module
 */
import type { Dataset, ToySpec } from "./dataset.ts";
import type { DataLocation } from "./errors.ts";
import { ToyFaces, type ToyFacesOptions } from "./toy_faces.ts";

/** The toy faces as a {@link Dataset}. */
export class ToyFacesDataset implements Dataset {
  /** Kind tag. */
  readonly kind = "toy" as const;
  /** Rendered, not decoded. */
  readonly needsDecoder = false;
  /** The generator. */
  readonly faces: ToyFaces;

  /** Creates the dataset (see {@link ToyFacesOptions}). */
  constructor(opts: ToyFacesOptions) {
    this.faces = new ToyFaces(opts);
  }

  /** Reopens from a spec. */
  static fromSpec(s: ToySpec): ToyFacesDataset {
    return new ToyFacesDataset(s);
  }

  /** Number of images. */
  get length(): number {
    return this.faces.length;
  }

  /** Number of identities. */
  get numClasses(): number {
    return this.faces.numIdentities;
  }

  /** The spec. */
  spec(): ToySpec {
    const f = this.faces;
    return {
      kind: "toy",
      seed: f.seed,
      numIdentities: f.numIdentities,
      imagesPerIdentity: f.imagesPerIdentity,
      variation: f.variation,
    };
  }

  /** A pseudo-location. */
  locate(i: number): DataLocation {
    return { file: `<toy seed ${this.faces.seed}>`, key: i };
  }

  /** The identity of image i. */
  labelOf(i: number): number {
    return this.faces.labelOf(i);
  }

  /** Renders image i into `out` at `offset`. */
  load(i: number, out: Uint8Array, offset: number): number {
    return this.faces.renderInto(i, out, offset);
  }

  /** Nothing to release. */
  close(): void {}
}
