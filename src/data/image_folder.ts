/**
 * An image folder as a training dataset: one sub-folder per identity (classes numbered in
 * sorted folder-name order), JPEG/PNG images inside (sorted by name), each already 112×112.
 *
 * @module
 */
import type { ImageDecoder } from "./decode.ts";
import { checkLabel, type Dataset, type FolderSpec, IMAGE_SIZE } from "./dataset.ts";
import { asDataError, type DataLocation } from "./errors.ts";

const EXPECT = { width: IMAGE_SIZE, height: IMAGE_SIZE };
const IMAGE_EXT = /\.(jpe?g|png)$/i;

/** Code-point order (stable across locales), the order classes are numbered in. */
export function byName(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** The result of scanning a folder: classes, files, labels, and what was ignored. */
export interface FolderScan {
  /** Class (sub-folder) names in label order. */
  classes: string[];
  /** Image paths relative to the root. */
  files: string[];
  /** Label of each file. */
  labels: Int32Array;
  /** Entries that were skipped (loose files at the top, non-image files). */
  ignored: string[];
}

/** Lists an image folder: sorted sub-folders are classes 0, 1, …; images sorted inside. */
export function scanImageFolder(root: string): FolderScan {
  const classes: string[] = [];
  const ignored: string[] = [];
  for (const e of Deno.readDirSync(root)) {
    if (e.isDirectory) classes.push(e.name);
    else ignored.push(e.name);
  }
  classes.sort(byName);
  const files: string[] = [];
  const labels: number[] = [];
  classes.forEach((c, label) => {
    const names: string[] = [];
    for (const e of Deno.readDirSync(`${root}/${c}`)) {
      if (e.isFile && IMAGE_EXT.test(e.name)) names.push(e.name);
      else ignored.push(`${c}/${e.name}`);
    }
    names.sort(byName);
    for (const n of names) {
      files.push(`${c}/${n}`);
      labels.push(label);
    }
  });
  return { classes, files, labels: Int32Array.from(labels), ignored: ignored.sort(byName) };
}

/** An image folder as a {@link Dataset}. */
export class ImageFolderDataset implements Dataset {
  /** Kind tag. */
  readonly kind = "folder" as const;
  /** Encoded images need decoding. */
  readonly needsDecoder = true;
  /** The folder. */
  readonly root: string;
  /** Class names, image paths and labels. */
  readonly scan: FolderScan;

  private constructor(root: string, scan: FolderScan) {
    this.root = root.replace(/\/$/, "");
    this.scan = scan;
  }

  /** Scans `root` and opens it. */
  static open(root: string): ImageFolderDataset {
    return new ImageFolderDataset(root, scanImageFolder(root));
  }

  /** Reopens from a spec without rescanning. */
  static fromSpec(spec: FolderSpec): ImageFolderDataset {
    return new ImageFolderDataset(spec.root, {
      classes: spec.classes,
      files: spec.files,
      labels: spec.labels,
      ignored: [],
    });
  }

  /** Number of images. */
  get length(): number {
    return this.scan.files.length;
  }

  /** Number of classes (sub-folders). */
  get numClasses(): number {
    return this.scan.classes.length;
  }

  /** The spec. */
  spec(): FolderSpec {
    const { classes, files, labels } = this.scan;
    return { kind: "folder", root: this.root, classes, files, labels };
  }

  /** The image's path. */
  path(i: number): string {
    return `${this.root}/${this.scan.files[i]}`;
  }

  /** Where image i lives (its file). */
  locate(i: number): DataLocation {
    return { file: this.path(i), key: i, offset: 0 };
  }

  /** The label of image i. */
  labelOf(i: number): number {
    return this.scan.labels[i];
  }

  /** Reads and decodes image i (must be 112×112); returns its label. */
  load(
    i: number,
    out: Uint8Array,
    offset: number,
    decoder: ImageDecoder | null,
  ): number | Promise<number> {
    if (!decoder) throw new Error("image folders need a decoder");
    if (!(i >= 0 && i < this.length)) throw new RangeError(`image ${i} out of range`);
    const label = checkLabel(this.scan.labels[i], this.numClasses, this.locate(i));
    const dst = out.subarray(offset, offset + IMAGE_SIZE * IMAGE_SIZE * 3);
    try {
      const bytes = Deno.readFileSync(this.path(i));
      const r = decoder.decodeInto(bytes, dst, EXPECT);
      if (r instanceof Promise) {
        return r.then(() => label, (e) => {
          throw asDataError(e, this.locate(i));
        });
      }
    } catch (e) {
      throw asDataError(e, this.locate(i));
    }
    return label;
  }

  /** Nothing to release. */
  close(): void {}
}
