/**
 * The local layout of the ICCV2021-MFR evaluation sets and the pair plans of its two
 * protocols.
 *
 * Layout: `ROOT/mfr_list.txt`, one line per image, space-separated:
 * `relative/path identity masked` — `identity` an integer or any token without spaces,
 * `masked` 0 or 1. Two-field lines `relative/path identity` are accepted for `mfr-all` (which
 * ignores the mask); `mfr-mask` needs the field on every line. Blank lines and lines starting
 * with `#` are skipped. Images are `ROOT/relative/path` (JPEG or PNG, any size: resized to
 * 112×112).
 *
 * Protocols (scores and TAR@FAR as defined in src/eval/pair_scoring.ts):
 * - `mfr-mask`: every masked image (query) × every unmasked image (gallery); positive when
 *   the identities match. Default FAR 1e-4 (1e-5 and 1e-3 also reported).
 * - `mfr-all`: every unordered pair of distinct images; default FAR 1e-6 (1e-5, 1e-4 also).
 * Identities with no positive pair (mfr-mask: only masked or only unmasked images; mfr-all: a
 * single image) contribute no positives and are counted in a warning; their images still give
 * negatives.
 *
 * @module
 */
import { join } from "node:path";

/** One line of `mfr_list.txt`. */
export interface MfrImage {
  /** Path relative to the root. */
  path: string;
  /** Identity token. */
  identity: string;
  /** Masked (null when the line has no mask field). */
  masked: boolean | null;
  /** 1-based line number in the list. */
  line: number;
}

/** The two protocols. */
export type MfrProtocol = "mfr-mask" | "mfr-all";

/** Default FARs of each protocol (the headline one first). */
export const MFR_FARS: Record<MfrProtocol, number[]> = {
  "mfr-mask": [1e-4, 1e-5, 1e-3],
  "mfr-all": [1e-6, 1e-5, 1e-4],
};

/** The list file name under the root. */
export const MFR_LIST = "mfr_list.txt";

/**
 * Parses the text of an MFR list; `file` names it in errors (`file:line: …`).
 * @throws on a wrong field count, a mask field not 0/1, or a duplicate path
 */
export function parseMfrList(text: string, file: string): MfrImage[] {
  const out: MfrImage[] = [];
  const seen = new Map<string, number>();
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i].replace(/\r$/, "").trim();
    if (raw === "" || raw.startsWith("#")) continue;
    const at = `${file}:${i + 1}`;
    const f = raw.split(/\s+/);
    if (f.length !== 2 && f.length !== 3) {
      throw new Error(
        `${at}: expected "relative/path identity masked" (3 fields, or 2 for mfr-all), got ` +
          `${f.length} fields: ${JSON.stringify(raw)}`,
      );
    }
    let masked: boolean | null = null;
    if (f.length === 3) {
      if (f[2] !== "0" && f[2] !== "1") {
        throw new Error(`${at}: masked must be 0 or 1, got ${JSON.stringify(f[2])}`);
      }
      masked = f[2] === "1";
    }
    const prev = seen.get(f[0]);
    if (prev !== undefined) {
      throw new Error(`${at}: duplicate image ${f[0]} (first listed on line ${prev})`);
    }
    seen.set(f[0], i + 1);
    out.push({ path: f[0], identity: f[1], masked, line: i + 1 });
  }
  return out;
}

/** A parsed list with its files located. */
export interface MfrList {
  /** The root directory. */
  root: string;
  /** The list file. */
  file: string;
  /** The images in list order. */
  images: MfrImage[];
}

/**
 * Reads and parses `ROOT/mfr_list.txt` and checks that every image file exists.
 * @throws naming the list (and line) or the first missing image
 */
export async function readMfrList(root: string): Promise<MfrList> {
  const file = join(root, MFR_LIST);
  let text: string;
  try {
    text = await Deno.readTextFile(file);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw new Error(
        `${file}: no such file; --data must be an MFR root holding ${MFR_LIST} ` +
          `("relative/path identity masked" per image)`,
      );
    }
    throw e;
  }
  const images = parseMfrList(text, file);
  if (images.length === 0) throw new Error(`${file}: lists no images`);
  const CHUNK = 256;
  for (let s = 0; s < images.length; s += CHUNK) {
    await Promise.all(
      images.slice(s, s + CHUNK).map(async (im) => {
        const p = join(root, im.path);
        try {
          const st = await Deno.stat(p);
          if (!st.isFile) throw new Error("not a file");
        } catch {
          throw new Error(
            `${p}: image listed on ${file}:${im.line} does not exist (or is not a file)`,
          );
        }
      }),
    );
  }
  return { root, file, images };
}

/** What a protocol scores. */
export interface MfrPlan {
  /** The protocol. */
  protocol: MfrProtocol;
  /** `cross` (mfr-mask) or `all` (mfr-all). */
  mode: "cross" | "all";
  /** Image indices (into the list) of the queries: masked (mfr-mask) or every image. */
  query: number[];
  /** Image indices of the gallery: unmasked (mfr-mask); empty for mfr-all. */
  gallery: number[];
  /** Integer label of each query image. */
  queryLabels: Int32Array;
  /** Integer label of each gallery image. */
  galleryLabels: Int32Array;
  /** Distinct identities. */
  identities: number;
  /** Identities without a positive pair (skipped for positives). */
  skippedIdentities: number;
  /** Images of those identities (still used as negatives). */
  skippedImages: number;
}

/**
 * The pair plan of `protocol` over a parsed list.
 * @throws when mfr-mask meets a line without the mask field, or a side is empty
 */
export function planMfr(list: MfrList, protocol: MfrProtocol): MfrPlan {
  const ids = new Map<string, number>();
  const label = (s: string) => {
    let v = ids.get(s);
    if (v === undefined) ids.set(s, v = ids.size);
    return v;
  };
  const all = list.images.map((im) => label(im.identity));
  const nIds = ids.size;
  if (protocol === "mfr-all") {
    const count = new Int32Array(nIds);
    for (const l of all) count[l]++;
    let skipped = 0, skippedImages = 0;
    for (const c of count) {
      if (c < 2) {
        skipped++;
        skippedImages += c;
      }
    }
    return {
      protocol,
      mode: "all",
      query: all.map((_, i) => i),
      gallery: [],
      queryLabels: Int32Array.from(all),
      galleryLabels: new Int32Array(0),
      identities: nIds,
      skippedIdentities: skipped,
      skippedImages,
    };
  }
  const query: number[] = [], gallery: number[] = [];
  list.images.forEach((im, i) => {
    if (im.masked === null) {
      throw new Error(
        `${list.file}:${im.line}: mfr-mask needs the masked field (0/1) on every line; ` +
          `this line has only "path identity"`,
      );
    }
    (im.masked ? query : gallery).push(i);
  });
  if (query.length === 0 || gallery.length === 0) {
    throw new Error(
      `${list.file}: mfr-mask needs masked and unmasked images, found ${query.length} masked ` +
        `and ${gallery.length} unmasked`,
    );
  }
  const nq = new Int32Array(nIds), ng = new Int32Array(nIds);
  for (const i of query) nq[all[i]]++;
  for (const i of gallery) ng[all[i]]++;
  let skipped = 0, skippedImages = 0;
  for (let l = 0; l < nIds; l++) {
    if (nq[l] === 0 || ng[l] === 0) {
      skipped++;
      skippedImages += nq[l] + ng[l];
    }
  }
  return {
    protocol,
    mode: "cross",
    query,
    gallery,
    queryLabels: Int32Array.from(query, (i) => all[i]),
    galleryLabels: Int32Array.from(gallery, (i) => all[i]),
    identities: nIds,
    skippedIdentities: skipped,
    skippedImages,
  };
}

/** The warning for identities without pairs, or null when there are none. */
export function skippedWarning(plan: MfrPlan): string | null {
  if (plan.skippedIdentities === 0) return null;
  const why = plan.protocol === "mfr-mask"
    ? "have no masked or no unmasked image"
    : "have a single image";
  return `warning: ${plan.skippedIdentities} of ${plan.identities} identities ${why}: no ` +
    `positive pairs from them (their ${plan.skippedImages} images still count as negatives)`;
}
