/**
 * The metadata of the IJB-B / IJB-C 1:1 verification protocol, as the InsightFace release
 * lays it out (`IJB_release/IJBC/…`):
 *
 * - `meta/<t>_name_5pts_score.txt`: `name x1 y1 … x5 y5 detector_score` (12 fields), one line
 *   per image of `loose_crop/`;
 * - `meta/<t>_face_tid_mid.txt`: `name template_id media_id`;
 * - `meta/<t>_template_pair_label.txt`: `template1 template2 label` (label 1 genuine, 0
 *   impostor);
 *
 * with `t` = `ijbc` or `ijbb`. The reference assumes that the first two files list the same
 * images in the same order; here they are matched by name, and any image listed in only one
 * of them is an error. Every template of a pair must have images. Errors name the file and
 * the line. The pair file (15.6 M lines for IJB-C) is parsed from bytes into typed arrays.
 *
 * @module
 */
import { join } from "node:path";

/** The IJB protocols. */
export type IjbTarget = "ijbc" | "ijbb";

/** Everything the protocol needs, images in the order of the 5-point file. */
export interface IjbMeta {
  /** `ijbc` or `ijbb`. */
  target: IjbTarget;
  /** The folder holding `meta/` and `loose_crop/`. */
  root: string;
  /** Image file names (relative to `loose_crop/`), in the order of the 5-point file. */
  names: string[];
  /** 5 (x, y) landmarks per image: n × 10, float32 as the reference reads them. */
  landmarks: Float32Array;
  /** Detector (faceness) score per image, float32 as the reference reads it. */
  detectorScores: Float32Array;
  /** Template id per image. */
  templates: Int32Array;
  /** Media id per image. */
  medias: Int32Array;
  /** First template of each pair. */
  t1: Int32Array;
  /** Second template of each pair. */
  t2: Int32Array;
  /** Label of each pair: 1 genuine, 0 impostor. */
  labels: Uint8Array;
}

/** The three meta file paths of a target under `root`. */
export function ijbMetaPaths(
  root: string,
  target: IjbTarget,
): { points: string; tidMid: string; pairs: string; images: string } {
  return {
    points: join(root, "meta", `${target}_name_5pts_score.txt`),
    tidMid: join(root, "meta", `${target}_face_tid_mid.txt`),
    pairs: join(root, "meta", `${target}_template_pair_label.txt`),
    images: join(root, "loose_crop"),
  };
}

function layoutHint(root: string, target: IjbTarget): string {
  const dir = target === "ijbc" ? "IJBC" : "IJBB";
  return `--data must be the ${dir} folder of the InsightFace IJB release ` +
    `(e.g. IJB_release/${dir}) holding meta/${target}_name_5pts_score.txt, ` +
    `meta/${target}_face_tid_mid.txt, meta/${target}_template_pair_label.txt and loose_crop/; ` +
    `got ${root}`;
}

async function readMeta(path: string, root: string, target: IjbTarget): Promise<Uint8Array> {
  try {
    return await Deno.readFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw new Error(`${path}: no such file; ${layoutHint(root, target)}`);
    }
    throw new Error(`${path}: cannot read (${(e as Error).message})`);
  }
}

const SPACE = 0x20, TAB = 0x09, CR = 0x0d, LF = 0x0a;

/**
 * Calls `line(fields, lineNo)` for each non-blank line of `bytes` (fields split on runs of
 * spaces or tabs, a trailing CR ignored).
 */
function forEachLine(
  bytes: Uint8Array,
  line: (fields: string[], lineNo: number) => void,
): void {
  const text = new TextDecoder().decode(bytes);
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const l = lines[i].trim();
    if (l.length === 0) continue;
    line(l.split(/[ \t]+/), i + 1);
  }
}

function parseFloatField(s: string, file: string, lineNo: number, what: string): number {
  const v = Number(s);
  if (s.length === 0 || !Number.isFinite(v)) {
    throw new Error(`${file}:${lineNo}: ${what} "${s}" is not a finite number`);
  }
  return v;
}

/**
 * Integer columns of a file of whitespace-separated integers (`fields` per line), parsed from
 * bytes: one Int32Array per column. `firstText` columns are skipped as text (their byte
 * ranges are passed to `onText`).
 */
function parseIntColumns(
  bytes: Uint8Array,
  file: string,
  fields: number,
  names: string[],
  firstText: boolean,
  onText?: (start: number, end: number, row: number) => void,
  check?: (field: number, value: number) => string | undefined,
): { cols: Int32Array[]; rows: number } {
  // count lines for the allocation (upper bound)
  let lines = 1;
  for (let i = 0; i < bytes.length; i++) if (bytes[i] === LF) lines++;
  const cols = Array.from({ length: fields }, () => new Int32Array(lines));
  let row = 0;
  let p = 0;
  let lineNo = 0;
  const n = bytes.length;
  const lineText = (s: number) => {
    let e = s;
    while (e < n && bytes[e] !== LF) e++;
    return new TextDecoder().decode(bytes.subarray(s, Math.min(e, s + 200))).trimEnd();
  };
  while (p < n) {
    lineNo++;
    const start = p;
    let f = 0;
    let blank = true;
    while (p < n && bytes[p] !== LF) {
      const c = bytes[p];
      if (c === SPACE || c === TAB || c === CR) {
        p++;
        continue;
      }
      blank = false;
      // a token
      const ts = p;
      while (
        p < n && bytes[p] !== SPACE && bytes[p] !== TAB && bytes[p] !== CR && bytes[p] !== LF
      ) {
        p++;
      }
      if (f >= fields) {
        f++;
        continue;
      }
      if (f === 0 && firstText) {
        onText?.(ts, p, row);
        f++;
        continue;
      }
      // integer token
      let i = ts;
      let neg = false;
      if (bytes[i] === 0x2d || bytes[i] === 0x2b) {
        neg = bytes[i] === 0x2d;
        i++;
      }
      let v = 0;
      let ok = i < p;
      for (; i < p; i++) {
        const d = bytes[i] - 0x30;
        if (d < 0 || d > 9) {
          ok = false;
          break;
        }
        v = v * 10 + d;
      }
      if (neg) v = -v;
      if (!ok || v > 2147483647 || v < -2147483648) {
        const tok = new TextDecoder().decode(bytes.subarray(ts, p));
        throw new Error(
          `${file}:${lineNo}: ${names[f]} "${tok}" is not an integer ` +
            `(expected "${names.join(" ")}"; line: "${lineText(start)}")`,
        );
      }
      const bad = check?.(f, v);
      if (bad) throw new Error(`${file}:${lineNo}: ${bad} (line: "${lineText(start)}")`);
      cols[f][row] = v;
      f++;
    }
    if (!blank && f !== fields) {
      throw new Error(
        `${file}:${lineNo}: ${f} fields, expected ${fields} ("${names.join(" ")}"; ` +
          `line: "${lineText(start)}")`,
      );
    }
    if (!blank) row++;
    p++; // the LF
  }
  return { cols: cols.map((c) => c.subarray(0, row)), rows: row };
}

/** `name x1 y1 … x5 y5 score` lines. */
export function parsePointsFile(
  bytes: Uint8Array,
  file: string,
): { names: string[]; landmarks: Float32Array; detectorScores: Float32Array } {
  const names: string[] = [];
  const lm: number[] = [];
  const sc: number[] = [];
  forEachLine(bytes, (f, lineNo) => {
    if (f.length !== 12) {
      throw new Error(
        `${file}:${lineNo}: ${f.length} fields, expected 12 ` +
          `("name x1 y1 x2 y2 x3 y3 x4 y4 x5 y5 detector_score")`,
      );
    }
    names.push(f[0]);
    for (let k = 1; k <= 10; k++) {
      lm.push(parseFloatField(f[k], file, lineNo, `landmark ${k % 2 ? "x" : "y"}${(k + 1) >> 1}`));
    }
    sc.push(parseFloatField(f[11], file, lineNo, "detector score"));
  });
  return {
    names,
    landmarks: Float32Array.from(lm),
    detectorScores: Float32Array.from(sc),
  };
}

/** `name template_id media_id` lines. */
export function parseTidMidFile(
  bytes: Uint8Array,
  file: string,
): { names: string[]; templates: Int32Array; medias: Int32Array } {
  const names: string[] = [];
  const dec = new TextDecoder();
  const { cols } = parseIntColumns(
    bytes,
    file,
    3,
    ["name", "template_id", "media_id"],
    true,
    (s, e) => names.push(dec.decode(bytes.subarray(s, e))),
  );
  return { names, templates: cols[1], medias: cols[2] };
}

/** `template1 template2 label` lines; labels must be 0 or 1. */
export function parsePairFile(
  bytes: Uint8Array,
  file: string,
): { t1: Int32Array; t2: Int32Array; labels: Uint8Array } {
  const { cols } = parseIntColumns(
    bytes,
    file,
    3,
    ["template1", "template2", "label"],
    false,
    undefined,
    (f, v) =>
      f === 2 && v !== 0 && v !== 1
        ? `label ${v}: labels must be 1 (same identity) or 0 (different identities)`
        : undefined,
  );
  const labels = Uint8Array.from(cols[2]);
  return { t1: cols[0], t2: cols[1], labels };
}

/**
 * Reorders the template/media ids of the tid_mid file to the image order of the 5-point
 * file, matching by name; throws naming the images found in only one of the two.
 */
export function matchImages(
  pointNames: string[],
  tid: { names: string[]; templates: Int32Array; medias: Int32Array },
  pointsFile: string,
  tidFile: string,
): { templates: Int32Array; medias: Int32Array } {
  const n = pointNames.length;
  const same = tid.names.length === n && pointNames.every((s, i) => s === tid.names[i]);
  if (same) return { templates: tid.templates, medias: tid.medias };
  const at = new Map<string, number>();
  tid.names.forEach((s, i) => {
    if (at.has(s)) {
      throw new Error(
        `${tidFile}:${i + 1}: image ${s} is listed twice (first on line ${at.get(s)! + 1})`,
      );
    }
    at.set(s, i);
  });
  const templates = new Int32Array(n);
  const medias = new Int32Array(n);
  const missing: string[] = [];
  const seen = new Set<string>();
  for (let i = 0; i < n; i++) {
    const name = pointNames[i];
    if (seen.has(name)) {
      throw new Error(`${pointsFile}:${i + 1}: image ${name} is listed twice`);
    }
    seen.add(name);
    const j = at.get(name);
    if (j === undefined) {
      missing.push(name);
      continue;
    }
    templates[i] = tid.templates[j];
    medias[i] = tid.medias[j];
  }
  const extra = tid.names.filter((s) => !seen.has(s));
  if (missing.length > 0 || extra.length > 0) {
    const show = (xs: string[]) =>
      `${xs.slice(0, 5).join(", ")}${xs.length > 5 ? ", …" : ""} (${xs.length} in all)`;
    const parts = [];
    if (missing.length > 0) parts.push(`${show(missing)} in ${pointsFile} but not in ${tidFile}`);
    if (extra.length > 0) parts.push(`${show(extra)} in ${tidFile} but not in ${pointsFile}`);
    throw new Error(
      `the two image lists differ: ${parts.join("; ")}; both files must list the same images`,
    );
  }
  return { templates, medias };
}

/** Throws when a pair names a template that has no image. */
export function checkPairTemplates(
  templates: Int32Array,
  t1: Int32Array,
  t2: Int32Array,
  pairsFile: string,
  tidFile: string,
): void {
  const known = new Set<number>(templates);
  const missing = new Set<number>();
  let firstLine = -1;
  for (let i = 0; i < t1.length; i++) {
    for (const t of [t1[i], t2[i]]) {
      if (!known.has(t)) {
        if (firstLine < 0) firstLine = i + 1;
        missing.add(t);
      }
    }
  }
  if (missing.size > 0) {
    const ids = [...missing].slice(0, 5);
    throw new Error(
      `${pairsFile}: ${missing.size} template id(s) of the pairs have no image in ${tidFile}: ` +
        `${ids.join(", ")}${missing.size > 5 ? ", …" : ""} (first at pair ${firstLine})`,
    );
  }
}

/** Reads and checks the three meta files of `target` under `root`. */
export async function readIjbMeta(root: string, target: IjbTarget): Promise<IjbMeta> {
  const p = ijbMetaPaths(root, target);
  try {
    const st = await Deno.stat(root);
    if (!st.isDirectory) throw new Error("not a folder");
  } catch {
    throw new Error(`${root}: no such folder; ${layoutHint(root, target)}`);
  }
  const [pb, tb, qb] = [
    await readMeta(p.points, root, target),
    await readMeta(p.tidMid, root, target),
    await readMeta(p.pairs, root, target),
  ];
  const pts = parsePointsFile(pb, p.points);
  if (pts.names.length === 0) throw new Error(`${p.points}: no images listed`);
  const tid = parseTidMidFile(tb, p.tidMid);
  const { templates, medias } = matchImages(pts.names, tid, p.points, p.tidMid);
  const pairs = parsePairFile(qb, p.pairs);
  if (pairs.t1.length === 0) throw new Error(`${p.pairs}: no pairs listed`);
  checkPairTemplates(templates, pairs.t1, pairs.t2, p.pairs, p.tidMid);
  return { target, root, ...pts, templates, medias, ...pairs };
}
