/**
 * What a dataset holds: kind, num_classes, num_images, images per class and the problems found
 * (bad records, labels out of range, identity records that disagree with the labels, images
 * that are not 112×112 JPEG/PNG). Users get num_classes wrong in configs; this tells them.
 *
 * @module
 */
import { type Dataset, IMAGE_SIZE } from "./dataset.ts";
import { createDecoder, probeImage } from "./decode.ts";
import { ImageFolderDataset } from "./image_folder.ts";
import { openDataset } from "./open.ts";
import { classOf } from "./recordio.ts";
import { RecordIODataset } from "./recordio_dataset.ts";

/** The report (snake_case, as written by `--json`). */
export interface InspectReport {
  /** `recordio`, `folder`, `synthetic` or `toy`. */
  kind: string;
  /** What was inspected. */
  path: string;
  /** Classes: the data's own count (header / folders / generator), else max label + 1. */
  num_classes: number;
  /** Images. */
  num_images: number;
  /** Images per class, in class order. */
  label_counts: number[];
  /** RecordIO only: whether record 0 is InsightFace's header. */
  has_header?: boolean;
  /** Problems found (at most `maxProblems` listed). */
  problems: string[];
  /** Total problems, including those not listed. */
  num_problems: number;
}

/** Options of {@link inspectDataset}. */
export interface InspectOptions {
  /** Decode every image too (slow; default false: headers only). */
  decode?: boolean;
  /** Problems listed (default 100; all are counted). */
  maxProblems?: number;
}

/** Inspects `data` (anything `openDataset` accepts). */
export async function inspectDataset(data: string, o: InspectOptions = {}): Promise<InspectReport> {
  const max = o.maxProblems ?? 100;
  const problems: string[] = [];
  let numProblems = 0;
  const problem = (m: string) => {
    numProblems++;
    if (problems.length < max) problems.push(m);
  };
  let ds: Dataset;
  try {
    ds = openDataset(data);
  } catch (e) {
    return {
      kind: "unknown",
      path: data,
      num_classes: 0,
      num_images: 0,
      label_counts: [],
      problems: [(e as Error).message],
      num_problems: 1,
    };
  }
  try {
    const labels = new Float64Array(ds.length);
    const extra: Partial<InspectReport> = {};
    const decoder = o.decode && ds.needsDecoder ? await createDecoder() : null;
    const scratch = new Uint8Array(IMAGE_SIZE * IMAGE_SIZE * 3);
    if (ds instanceof RecordIODataset) {
      extra.has_header = ds.layout.hasHeader;
      const r = ds.reader;
      for (let i = 0; i < ds.length; i++) {
        try {
          if (decoder) {
            labels[i] = await ds.load(i, scratch, 0, decoder);
          } else {
            const h = r.readHeaderSync(ds.key(i));
            labels[i] = classOf(h);
          }
        } catch (e) {
          labels[i] = NaN;
          problem((e as Error).message);
        }
      }
      if (ds.layout.identityKeys) checkIdentities(ds, labels, problem);
    } else if (ds instanceof ImageFolderDataset) {
      for (const name of ds.scan.ignored) {
        problem(`ignored (not an image in a class folder): ${name}`);
      }
      for (let i = 0; i < ds.length; i++) {
        labels[i] = ds.labelOf(i);
        try {
          if (decoder) await ds.load(i, scratch, 0, decoder);
          else {
            const p = probeImage(Deno.readFileSync(ds.path(i)));
            if (p.width !== IMAGE_SIZE || p.height !== IMAGE_SIZE) {
              throw new Error(`image is ${p.width}x${p.height}, expected 112x112`);
            }
          }
        } catch (e) {
          problem(`${ds.path(i)}: ${(e as Error).message}`);
        }
      }
    } else {
      for (let i = 0; i < ds.length; i++) labels[i] = ds.labelOf(i);
    }
    let maxLabel = -1;
    for (const l of labels) if (Number.isFinite(l) && l > maxLabel) maxLabel = l;
    const numClasses = ds.numClasses ?? Math.floor(maxLabel) + 1;
    const counts = new Array<number>(Math.max(0, numClasses)).fill(0);
    for (let i = 0; i < labels.length; i++) {
      const l = labels[i];
      if (Number.isNaN(l)) continue;
      if (!Number.isInteger(l) || l < 0 || l >= numClasses) {
        const where = ds.locate(i);
        problem(
          `label ${l} outside the class range [0, ${numClasses}) ` +
            `(file ${where.file}, key ${where.key}, offset ${where.offset})`,
        );
        continue;
      }
      counts[l]++;
    }
    const empty = counts.flatMap((c, i) => (c === 0 ? [i] : []));
    if (empty.length) {
      problem(
        `${empty.length} classes have no images (first: ${empty.slice(0, 10).join(", ")})`,
      );
    }
    return {
      kind: ds.kind,
      path: data,
      num_classes: numClasses,
      num_images: ds.length,
      label_counts: counts,
      ...extra,
      problems,
      num_problems: numProblems,
    };
  } finally {
    ds.close();
  }
}

function checkIdentities(
  ds: RecordIODataset,
  labels: Float64Array,
  problem: (m: string) => void,
) {
  const [first, end] = ds.layout.identityKeys!;
  for (let c = 0; c < end - first; c++) {
    try {
      const h = ds.reader.readHeaderSync(first + c);
      const [s, e] = h.labels;
      if (!(h.flag >= 2 && s >= 1 && e >= s && e - 1 <= ds.length)) {
        problem(`identity record ${first + c} has an impossible range [${s}, ${e})`);
        continue;
      }
      for (let k = s; k < e; k++) {
        if (labels[k - 1] !== c && !Number.isNaN(labels[k - 1])) {
          problem(
            `image key ${k} has label ${labels[k - 1]} but identity record ${first + c} ` +
              `lists it under class ${c}`,
          );
          break;
        }
      }
    } catch (e) {
      problem((e as Error).message);
    }
  }
}

/** Formats a report for people: the counts, a label_counts summary and the problems. */
export function formatInspectReport(r: InspectReport): string {
  const c = [...r.label_counts].sort((a, b) => a - b);
  const lines = [
    `kind         ${r.kind}${
      r.has_header === undefined
        ? ""
        : r.has_header
        ? " (InsightFace header record)"
        : " (no header record)"
    }`,
    `path         ${r.path}`,
    `num_classes  ${r.num_classes}`,
    `num_images   ${r.num_images}`,
  ];
  if (c.length) {
    lines.push(
      `per class    min ${c[0]}, median ${c[Math.floor(c.length / 2)]}, max ${c[c.length - 1]}`,
      `label_counts ${r.label_counts.slice(0, 20).join(" ")}${
        r.label_counts.length > 20 ? " …" : ""
      }`,
    );
  }
  lines.push(`problems     ${r.num_problems}`);
  for (const p of r.problems) lines.push(`  - ${p}`);
  if (r.num_problems > r.problems.length) {
    lines.push(`  … ${r.num_problems - r.problems.length} more`);
  }
  return lines.join("\n");
}
