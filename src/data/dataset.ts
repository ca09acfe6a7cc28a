/**
 * The dataset interface every training source implements (RecordIO, image folder, synthetic,
 * toy faces), the serialisable specs worker threads reopen them from, and the checks shared by
 * all of them: image size, label range, num_classes against a config.
 *
 * @module
 */
import type { ImageDecoder } from "./decode.ts";
import { DataError, type DataLocation } from "./errors.ts";

/** Side of a training image. */
export const IMAGE_SIZE = 112;
/** Bytes of one training image (112·112·3, RGB8 HWC). */
export const IMAGE_BYTES = IMAGE_SIZE * IMAGE_SIZE * 3;

/** A RecordIO pack, with its index in shared memory so workers need not re-read the `.idx`. */
export interface RecordIOSpec {
  /** Kind tag. */
  kind: "recordio";
  /** The `.rec` path. */
  rec: string;
  /** The `.idx` path, or null when the index came from a scan. */
  idx: string | null;
  /** Record keys (in `.idx` order), usually over a SharedArrayBuffer. */
  keys: Float64Array;
  /** Record offsets, parallel to `keys`. */
  offsets: Float64Array;
  /** True when record 0 is InsightFace's header: image i is key i + 1. */
  hasHeader: boolean;
  /** Number of images. */
  numImages: number;
  /** Classes from the identity records, or null. */
  numClasses: number | null;
}

/** An image folder: one sub-folder per identity. */
export interface FolderSpec {
  /** Kind tag. */
  kind: "folder";
  /** The folder. */
  root: string;
  /** Image paths relative to `root`, in class order then file-name order. */
  files: string[];
  /** Label of each file. */
  labels: Int32Array;
  /** Class (sub-folder) names in label order. */
  classes: string[];
}

/** The reference's synthetic dataset: one constant random image, one constant label. */
export interface SyntheticSpec {
  /** Kind tag. */
  kind: "synthetic";
  /** Number of samples (the reference uses 1,000,000). */
  numImages: number;
  /** Number of classes the training config declares. */
  numClasses: number;
  /** The label of every sample (the reference uses 1). */
  label: number;
  /** Seed of the image. */
  seed: number;
}

/** The generated toy faces (see `toy_faces.ts`). */
export interface ToySpec {
  /** Kind tag. */
  kind: "toy";
  /** Seed. */
  seed: number;
  /** Number of identities = classes. */
  numIdentities: number;
  /** Images per identity. */
  imagesPerIdentity: number;
  /** Nuisance strength (default 1). */
  variation?: number;
}

/** A serialisable description of a dataset; `openDatasetSpec` reopens it in any thread. */
export type DatasetSpec = RecordIOSpec | FolderSpec | SyntheticSpec | ToySpec;

/** A source of 112×112 RGB8 training images with integer labels. */
export interface Dataset {
  /** What kind of source this is. */
  readonly kind: DatasetSpec["kind"];
  /** Number of samples. */
  readonly length: number;
  /** Number of classes when the data says so without a scan, else null. */
  readonly numClasses: number | null;
  /** True when samples are encoded images that need a decoder. */
  readonly needsDecoder: boolean;
  /** The spec worker threads reopen this dataset from. */
  spec(): DatasetSpec;
  /**
   * Writes sample `i` (RGB8 HWC, 112×112) into `out` at byte `offset` and returns its raw
   * label. Throws a DataError naming file, key and offset on bad input.
   */
  load(
    i: number,
    out: Uint8Array,
    offset: number,
    decoder: ImageDecoder | null,
  ): number | Promise<number>;
  /** The label of sample `i` without decoding its image. */
  labelOf(i: number): number;
  /** Where sample `i` lives, for error messages. */
  locate(i: number): DataLocation;
  /** Releases files. */
  close(): void;
}

/**
 * Checks a raw label: an integer in [0, numClasses) (when numClasses is known); otherwise a
 * DataError at `where`. Returns the label.
 */
export function checkLabel(label: number, numClasses: number | null, where: DataLocation): number {
  if (!Number.isInteger(label) || label < 0) {
    throw new DataError(`label ${label} is not a non-negative integer`, where);
  }
  if (numClasses !== null && label >= numClasses) {
    throw new DataError(`label ${label} is outside the class range [0, ${numClasses})`, where);
  }
  return label;
}

/**
 * Compares a config's num_classes (and optionally num_image) with the data's; a mismatch is
 * an error that says which values to put in the config.
 */
export function checkConfigAgainstData(
  config: { numClasses?: number; numImages?: number },
  data: { numClasses: number | null; numImages: number; name?: string },
): void {
  const name = data.name ?? "the dataset";
  if (
    config.numClasses !== undefined && data.numClasses !== null &&
    config.numClasses !== data.numClasses
  ) {
    throw new Error(
      `config num_classes = ${config.numClasses} but ${name} has ${data.numClasses} classes ` +
        `(set num_classes = ${data.numClasses}; \`deno task inspect\` shows what a dataset holds)`,
    );
  }
  if (config.numImages !== undefined && config.numImages !== data.numImages) {
    throw new Error(
      `config num_image = ${config.numImages} but ${name} has ${data.numImages} images ` +
        `(set num_image = ${data.numImages})`,
    );
  }
}

/** Copies a typed array into a SharedArrayBuffer (so workers share it without copies). */
export function toShared<T extends Float64Array | Int32Array>(a: T): T {
  if (a.buffer instanceof SharedArrayBuffer) return a;
  const Ctor = a.constructor as { new (b: SharedArrayBuffer): T };
  const out = new Ctor(new SharedArrayBuffer(a.byteLength));
  (out as Float64Array).set(a as Float64Array);
  return out;
}
