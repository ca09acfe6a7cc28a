/**
 * Packs an image folder (one sub-folder per identity) into InsightFace's RecordIO layout:
 * record 0 is the header (labels [first identity key, end of identity keys]), images are keys
 * 1..N with their class as a scalar label and their original encoded bytes unchanged, then one
 * identity record per class (labels [first image key, end image key)). Classes are numbered in
 * sorted folder-name order. `verify` re-reads everything and compares.
 *
 * @module
 */
import { IMAGE_SIZE } from "./dataset.ts";
import { probeImage } from "./decode.ts";
import { DataError } from "./errors.ts";
import { scanImageFolder } from "./image_folder.ts";
import { frameRecord, packRecord, RecordIOReader, RecordIOWriter } from "./recordio.ts";

/** Options of {@link packImageFolder}. */
export interface PackOptions {
  /** Re-read the pack and compare every record with its source (default false). */
  verify?: boolean;
  /** Skip unreadable / wrong-size images with a warning instead of failing (default false). */
  skipBad?: boolean;
  /** Called with warnings (default console.warn). */
  onWarning?: (message: string) => void;
}

/** What a pack run produced. */
export interface PackResult {
  /** The `.rec` path. */
  rec: string;
  /** The `.idx` path. */
  idx: string;
  /** Images packed. */
  numImages: number;
  /** Classes (sub-folders). */
  numClasses: number;
  /** Files skipped as bad (with skipBad), as messages. */
  skipped: string[];
  /** Records compared by verify (0 without it). */
  verified: number;
  /** Size of the `.rec` in bytes. */
  bytes: number;
}

const HEADER_FRAME_BYTES = 8 + 24 + 8;

function headerRecord(firstIdentity: number, endIdentity: number): Uint8Array {
  const framed = frameRecord(
    packRecord({ label: [firstIdentity, endIdentity] }, new Uint8Array(0)),
  );
  if (framed.length !== HEADER_FRAME_BYTES) throw new Error("unexpected header record size");
  return framed;
}

/** Packs `folder` into `outDir/train.rec` and `outDir/train.idx`. */
export function packImageFolder(folder: string, outDir: string, o: PackOptions = {}): PackResult {
  const scan = scanImageFolder(folder);
  const warn = o.onWarning ?? ((m: string) => console.warn(m));
  Deno.mkdirSync(outDir, { recursive: true });
  const rec = `${outDir}/train.rec`, idx = `${outDir}/train.idx`;
  const w = RecordIOWriter.create(rec, idx);
  w.write(0, packRecord({ label: [0, 0] }, new Uint8Array(0))); // rewritten at the end
  const ranges: [number, number][] = scan.classes.map(() => [0, 0]);
  const sources: string[] = [];
  const skipped: string[] = [];
  let key = 1;
  let cls = -1;
  for (let i = 0; i < scan.files.length; i++) {
    const label = scan.labels[i];
    while (cls < label) ranges[++cls] = [key, key];
    const path = `${folder}/${scan.files[i]}`;
    const bytes = Deno.readFileSync(path);
    try {
      const p = probeImage(bytes);
      if (p.width !== IMAGE_SIZE || p.height !== IMAGE_SIZE) {
        throw new Error(`image is ${p.width}x${p.height}, expected ${IMAGE_SIZE}x${IMAGE_SIZE}`);
      }
    } catch (e) {
      const err = new DataError((e as Error).message, { file: path, key: i, offset: 0 });
      if (!o.skipBad) {
        w.close();
        throw err;
      }
      skipped.push(err.message);
      warn(`skipped: ${err.message}`);
      continue;
    }
    w.write(key, packRecord({ label, id: key }, bytes));
    sources.push(path);
    key++;
    ranges[label][1] = key;
  }
  while (cls < scan.classes.length - 1) ranges[++cls] = [key, key];
  const numImages = key - 1;
  const firstIdentity = key;
  for (let c = 0; c < ranges.length; c++) {
    w.write(firstIdentity + c, packRecord({ label: ranges[c] }, new Uint8Array(0)));
  }
  const endIdentity = firstIdentity + ranges.length;
  const bytes = w.position;
  w.close();
  const f = Deno.openSync(rec, { write: true });
  try {
    f.seekSync(0, Deno.SeekMode.Start);
    const h = headerRecord(firstIdentity, endIdentity);
    let n = 0;
    while (n < h.length) n += f.writeSync(h.subarray(n));
  } finally {
    f.close();
  }
  let verified = 0;
  if (o.verify) verified = verifyPack(rec, idx, sources, ranges);
  return { rec, idx, numImages, numClasses: scan.classes.length, skipped, verified, bytes };
}

function verifyPack(
  rec: string,
  idx: string,
  sources: string[],
  ranges: [number, number][],
): number {
  const r = RecordIOReader.open(rec, idx);
  try {
    const layout = r.layout();
    const fail = (why: string, key: number) => {
      throw new DataError(`verify: ${why}`, { file: rec, key, offset: r.offsetOf(key) });
    };
    if (!layout.hasHeader) fail("no InsightFace header record", 0);
    if (layout.numImages !== sources.length) {
      fail(`header says ${layout.numImages} images, packed ${sources.length}`, 0);
    }
    if (layout.numClasses !== ranges.length) {
      fail(`header says ${layout.numClasses} classes, packed ${ranges.length}`, 0);
    }
    let n = 0;
    for (let c = 0; c < ranges.length; c++) {
      const idRec = r.readRecordSync(layout.identityKeys![0] + c);
      const [s, e] = idRec.header.labels;
      if (s !== ranges[c][0] || e !== ranges[c][1]) fail(`identity record ${c} range`, c);
      for (let k = s; k < e; k++) {
        const { header, image } = r.readRecordSync(k);
        if (header.flag !== 0 || header.label !== c) fail(`label ${header.label} != ${c}`, k);
        const src = Deno.readFileSync(sources[k - 1]);
        if (src.length !== image.length || src.some((b, i) => b !== image[i])) {
          fail(`bytes differ from ${sources[k - 1]}`, k);
        }
        n++;
      }
    }
    return n;
  } finally {
    r.close();
  }
}
