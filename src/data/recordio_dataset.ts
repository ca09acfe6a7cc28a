/**
 * A RecordIO pack as a training dataset: image i is key i + 1 under InsightFace's header
 * record, else the i-th record of the index; its label is the record's (first) label.
 *
 * @module
 */
import type { ImageDecoder } from "./decode.ts";
import { checkLabel, type Dataset, IMAGE_SIZE, type RecordIOSpec, toShared } from "./dataset.ts";
import { asDataError, type DataLocation } from "./errors.ts";
import { classOf, RecordIOReader, type RecordLayout } from "./recordio.ts";

const EXPECT = { width: IMAGE_SIZE, height: IMAGE_SIZE };

/** A `.rec`/`.idx` pack as a {@link Dataset}. */
export class RecordIODataset implements Dataset {
  /** Kind tag. */
  readonly kind = "recordio" as const;
  /** Encoded images need decoding. */
  readonly needsDecoder = true;
  /** The reader (positioned reads). */
  readonly reader: RecordIOReader;
  /** The layout (header record, images, classes). */
  readonly layout: RecordLayout;
  #spec: RecordIOSpec | null = null;

  private constructor(reader: RecordIOReader, layout: RecordLayout) {
    this.reader = reader;
    this.layout = layout;
  }

  /**
   * Opens a pack: `path` is a `.rec` file or a folder holding `train.rec` (and `train.idx`).
   */
  static open(path: string, idxPath?: string): RecordIODataset {
    let rec = path;
    try {
      if (Deno.statSync(path).isDirectory) rec = `${path.replace(/\/$/, "")}/train.rec`;
    } catch {
      // let the reader report the missing file
    }
    const reader = RecordIOReader.open(rec, idxPath);
    return new RecordIODataset(reader, reader.layout());
  }

  /** Reopens a pack from its spec (in a worker), sharing the index arrays. */
  static fromSpec(spec: RecordIOSpec): RecordIODataset {
    const reader = RecordIOReader.withIndex(spec.rec, {
      keys: spec.keys,
      offsets: spec.offsets,
    }, spec.idx);
    return new RecordIODataset(reader, {
      hasHeader: spec.hasHeader,
      numImages: spec.numImages,
      numClasses: spec.numClasses,
      identityKeys: null,
    });
  }

  /** Number of images. */
  get length(): number {
    return this.layout.numImages;
  }

  /** Classes from the identity records, or null without a header. */
  get numClasses(): number | null {
    return this.layout.numClasses;
  }

  /** The spec (index moved to shared memory once). */
  spec(): RecordIOSpec {
    if (!this.#spec) {
      this.#spec = {
        kind: "recordio",
        rec: this.reader.recPath,
        idx: this.reader.idxPath,
        keys: toShared(this.reader.index.keys),
        offsets: toShared(this.reader.index.offsets),
        hasHeader: this.layout.hasHeader,
        numImages: this.layout.numImages,
        numClasses: this.layout.numClasses,
      };
    }
    return this.#spec;
  }

  /** The key of image i. */
  key(i: number): number {
    if (!(i >= 0 && i < this.length)) throw new RangeError(`image ${i} out of range`);
    return this.reader.imageKey(this.layout, i);
  }

  /** Where image i lives. */
  locate(i: number): DataLocation {
    const key = this.key(i);
    const p = this.reader.position(key);
    return {
      file: this.reader.recPath,
      key,
      offset: p >= 0 ? this.reader.index.offsets[p] : undefined,
    };
  }

  /** Reads image i's record header and returns its class. */
  labelOf(i: number): number {
    const rec = this.reader.readRecordSync(this.key(i));
    return classOf(rec.header);
  }

  /** Reads, decodes (must be 112×112) and writes image i; returns its label. */
  load(
    i: number,
    out: Uint8Array,
    offset: number,
    decoder: ImageDecoder | null,
  ): number | Promise<number> {
    if (!decoder) throw new Error("RecordIO datasets need a decoder");
    const key = this.key(i);
    const rec = this.reader.readRecordSync(key);
    const where = () => this.locate(i);
    const label = checkLabel(classOf(rec.header), this.numClasses, where());
    const dst = out.subarray(offset, offset + IMAGE_SIZE * IMAGE_SIZE * 3);
    try {
      const r = decoder.decodeInto(rec.image, dst, EXPECT);
      if (r instanceof Promise) {
        return r.then(() => label, (e) => {
          throw asDataError(e, where());
        });
      }
    } catch (e) {
      throw asDataError(e, where());
    }
    return label;
  }

  /** Closes the `.rec`. */
  close(): void {
    this.reader.close();
  }
}
