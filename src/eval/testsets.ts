/**
 * Generated IJB-style and MFR-style test sets built from the toy faces (src/data/toy_faces.ts),
 * so that the IJB-B/C protocol and the MFR scoring can be run end to end without the real
 * (licensed) data. All identities are held-out toy identities (≥ `HELD_OUT_BASE`, in ranges of
 * their own so the IJB and MFR sets share no identity with each other or with `toyPairs`):
 * a model trained on the toy training set meets them for the first time.
 *
 * ## IJB layout ({@link writeIjbSet}), as the reference's eval_ijbc.py reads it
 *
 * ```
 * ROOT/IJBC/meta/ijbc_face_tid_mid.txt        "image_name template_id media_id", one per image
 * ROOT/IJBC/meta/ijbc_template_pair_label.txt "template_id1 template_id2 label" (1 same, 0 not)
 * ROOT/IJBC/meta/ijbc_name_5pts_score.txt     "image_name x1 y1 … x5 y5 detector_score",
 *                                             same image order as ijbc_face_tid_mid.txt
 * ROOT/IJBC/loose_crop/1.jpg, 2.jpg, …        loose face crops (JPEG, 150–250 px a side)
 * ```
 *
 * (IJBB: `ROOT/IJBB/meta/ijbb_…`.) Landmarks are, in order, left eye, right eye, nose tip,
 * left and right mouth corner, in pixels of the loose crop; aligning them onto the ArcFace
 * template (src/eval/align.ts) recovers the rendered 112×112 face. Each identity has
 * `templatesPerIdentity` templates, each template `mediasPerTemplate` medias (a photo or a
 * video), each media `imagesPerMedia` frames (one pose and lighting per media, small changes
 * between frames). Template and media ids are non-contiguous integers. Pairs: every genuine
 * template pair of an identity plus `negativePairsPerPositive` impostor pairs per genuine one,
 * drawn deterministically, sorted by the first then the second template id.
 *
 * ## MFR layout ({@link writeMfrSet})
 *
 * ```
 * ROOT/mfr_list.txt                 "relative/path identity masked", one line per image
 *                                   (space-separated; identity an integer; masked 0 or 1)
 * ROOT/images/<identity>/<k>.jpg    aligned 112×112 JPEG faces
 * ```
 *
 * Per identity `unmaskedPerIdentity` plain images (k = 0, 1, …) then `maskedPerIdentity`
 * images wearing a synthetic mask (a patterned polygon over nose, mouth and chin, below the eye
 * line); the default 2 + 1 mirrors MFR-MASK.
 *
 * @module
 */
import { ARCFACE_TEMPLATE } from "./align.ts";
import {
  type FaceIdentity,
  faceIdentity,
  type FaceVariation,
  faceVariation,
  HELD_OUT_BASE,
  renderFace,
  TOY_IMAGE_BYTES,
  TOY_SIZE,
} from "../data/toy_faces.ts";
import { hashSeed, Rng } from "../data/rng.ts";
import { writeFileAtomically } from "../io/atomic.ts";
import { openTurboJpeg, type TurboJpeg } from "../data/decode_turbojpeg.ts";

/** First toy identity of the IJB sets (subject j is toy identity `IJB_ID_BASE + j`). */
export const IJB_ID_BASE = HELD_OUT_BASE + 0x100000;
/** First toy identity of the MFR sets (identity j is toy identity `MFR_ID_BASE + j`). */
export const MFR_ID_BASE = HELD_OUT_BASE + 0x200000;
/** JPEG quality of the generated images. */
export const JPEG_QUALITY = 95;

/** Options of {@link writeIjbSet} / {@link planIjbSet}. */
export interface IjbSetOptions {
  /** Which layout to write (file prefix `ijbc_` or `ijbb_`); default "IJBC". */
  target?: "IJBC" | "IJBB";
  /** Seed of everything (default 0). */
  seed?: number;
  /** Number of subjects (default 50, at least 2). */
  identities?: number;
  /** Templates per subject (default 3, at least 2). */
  templatesPerIdentity?: number;
  /** Medias per template (default 2). */
  mediasPerTemplate?: number;
  /** Images (frames) per media (default 2). */
  imagesPerMedia?: number;
  /** Impostor pairs per genuine pair (default 4; capped at the number of impostor pairs). */
  negativePairsPerPositive?: number;
  /** Toy-face nuisance strength (default 1, see `faceVariation`). */
  variation?: number;
}

/** One loose-crop image of a planned IJB set. */
export interface IjbImage {
  /** File name under loose_crop/ ("1.jpg", …). */
  name: string;
  /** Template id. */
  templateId: number;
  /** Media id. */
  mediaId: number;
  /** Subject index 0 … identities−1. */
  subject: number;
  /** Toy identity rendered (`IJB_ID_BASE + subject`). */
  toyId: number;
  /** The nuisance parameters of the aligned 112×112 face. */
  variation: FaceVariation;
  /** Loose-crop width in pixels. */
  width: number;
  /** Loose-crop height in pixels. */
  height: number;
  /** The 2×3 similarity mapping aligned-face pixels into the crop. */
  faceToCrop: number[];
  /** The 5 landmarks as written (crop pixels, rounded to 1/1000 px). */
  landmarks: number[];
  /** Detector score as written. */
  score: number;
  /** Seed of the crop's background noise. */
  noiseSeed: number;
}

/** A planned IJB set: what {@link writeIjbSet} writes, without pixels. */
export interface IjbPlan {
  /** "IJBC" or "IJBB". */
  target: "IJBC" | "IJBB";
  /** File prefix, "ijbc" or "ijbb". */
  prefix: string;
  /** The seed of the toy faces. */
  seed: number;
  /** Images in file order. */
  images: IjbImage[];
  /** Templates: id and subject. */
  templates: { templateId: number; subject: number }[];
  /** Pairs [template1, template2, label] in file order. */
  pairs: [number, number, number][];
}

function intOption(v: unknown, name: string, min: number): number {
  if (!(typeof v === "number" && Number.isInteger(v) && v >= min)) {
    throw new Error(`test set option ${name}=${v}: expected an integer ≥ ${min}`);
  }
  return v;
}

function nonNegative(v: unknown, name: string): number {
  if (!(typeof v === "number" && Number.isFinite(v) && v >= 0)) {
    throw new Error(`test set option ${name}=${v}: expected a finite number ≥ 0`);
  }
  return v;
}

function invert(m: number[]): number[] {
  const d = m[0] * m[4] - m[1] * m[3];
  const i0 = m[4] / d, i1 = -m[1] / d, i3 = -m[3] / d, i4 = m[0] / d;
  return [i0, i1, -(i0 * m[2] + i1 * m[5]), i3, i4, -(i3 * m[2] + i4 * m[5])];
}

/**
 * Plans an IJB-style set (ids, names, placements, landmarks, pairs) deterministically from the
 * options; {@link writeIjbSet} renders and writes it. Throws on invalid options.
 */
export function planIjbSet(opts: IjbSetOptions = {}): IjbPlan {
  const target = opts.target ?? "IJBC";
  if (target !== "IJBC" && target !== "IJBB") {
    throw new Error(`test set option target=${target}: expected "IJBC" or "IJBB"`);
  }
  const seed = intOption(opts.seed ?? 0, "seed", -(2 ** 31));
  const nId = intOption(opts.identities ?? 50, "identities", 2);
  const nT = intOption(opts.templatesPerIdentity ?? 3, "templatesPerIdentity", 2);
  const nM = intOption(opts.mediasPerTemplate ?? 2, "mediasPerTemplate", 1);
  const nF = intOption(opts.imagesPerMedia ?? 2, "imagesPerMedia", 1);
  const negPer = nonNegative(opts.negativePairsPerPositive ?? 4, "negativePairsPerPositive");
  const strength = nonNegative(opts.variation ?? 1, "variation");
  const r = new Rng(hashSeed(seed, 0x13b));

  // template ids with gaps, assigned to (subject, t) in a shuffled order so subjects interleave
  const slots: [number, number][] = [];
  for (let j = 0; j < nId; j++) for (let t = 0; t < nT; t++) slots.push([j, t]);
  r.shuffle(slots);
  const templates: { templateId: number; subject: number; t: number }[] = [];
  let tid = 1 + r.int(20), mid = 1 + r.int(100), imgNo = 0;
  const images: IjbImage[] = [];
  for (const [j, t] of slots) {
    const templateId = tid;
    tid += 1 + r.int(7);
    templates.push({ templateId, subject: j, t });
    const toyId = IJB_ID_BASE + j;
    for (let m = 0; m < nM; m++) {
      const mediaId = mid;
      mid += 1 + r.int(30);
      const base = faceVariation(seed, toyId, t * nM + m, strength);
      for (let k = 0; k < nF; k++) {
        const fr = new Rng(hashSeed(seed, 0x13c, toyId, t * nM + m, k));
        // frames of one media: same lighting and expression, small head motion, fresh noise
        const variation: FaceVariation = {
          ...base,
          angle: base.angle + (k === 0 ? 0 : 0.03 * fr.normal()),
          tx: base.tx + (k === 0 ? 0 : fr.normal()),
          ty: base.ty + (k === 0 ? 0 : fr.normal()),
          noiseSeed: k === 0 ? base.noiseSeed : fr.u32(),
        };
        const width = 150 + fr.int(101), height = 150 + fr.int(101);
        const angle = fr.uniform(-20, 20) * Math.PI / 180, scale = fr.uniform(0.8, 1.6);
        const c = scale * Math.cos(angle), s = scale * Math.sin(angle);
        const cx = width / 2 + fr.uniform(-0.08, 0.08) * width;
        const cy = height / 2 + fr.uniform(-0.08, 0.08) * height;
        const h = (TOY_SIZE - 1) / 2;
        const faceToCrop = [c, -s, cx - (c * h - s * h), s, c, cy - (s * h + c * h)];
        const landmarks: number[] = [];
        for (let i = 0; i < 5; i++) {
          const x = ARCFACE_TEMPLATE[2 * i], y = ARCFACE_TEMPLATE[2 * i + 1];
          const lx = faceToCrop[0] * x + faceToCrop[1] * y + faceToCrop[2] + 0.5 * fr.normal();
          const ly = faceToCrop[3] * x + faceToCrop[4] * y + faceToCrop[5] + 0.5 * fr.normal();
          landmarks.push(Math.round(lx * 1000) / 1000, Math.round(ly * 1000) / 1000);
        }
        const score = fr.next() < 0.05 ? fr.uniform(0.05, 0.5) : fr.uniform(0.5, 1);
        images.push({
          name: `${++imgNo}.jpg`,
          templateId,
          mediaId,
          subject: j,
          toyId,
          variation,
          width,
          height,
          faceToCrop,
          landmarks,
          score: Math.round(score * 1000) / 1000,
          noiseSeed: fr.u32(),
        });
      }
    }
  }

  // pairs: all genuine template pairs, then impostors drawn without repetition
  const bySubject: number[][] = Array.from({ length: nId }, () => []);
  for (const t of templates) bySubject[t.subject].push(t.templateId);
  const pairs: [number, number, number][] = [];
  const seen = new Set<string>();
  const orient = (a: number, b: number): [number, number] => (r.next() < 0.5 ? [a, b] : [b, a]);
  for (const ts of bySubject) {
    for (let a = 0; a < ts.length; a++) {
      for (let b = a + 1; b < ts.length; b++) {
        pairs.push([...orient(ts[a], ts[b]), 1]);
        seen.add(`${Math.min(ts[a], ts[b])} ${Math.max(ts[a], ts[b])}`);
      }
    }
  }
  const nT2 = templates.length;
  const impostorsAvailable = (nT2 * (nT2 - 1)) / 2 - seen.size;
  const nNeg = Math.min(Math.round(negPer * pairs.length), impostorsAvailable);
  let drawn = 0;
  while (drawn < nNeg) {
    const a = templates[r.int(nT2)], b = templates[r.int(nT2)];
    if (a.subject === b.subject) continue;
    const key = `${Math.min(a.templateId, b.templateId)} ${Math.max(a.templateId, b.templateId)}`;
    if (seen.has(key)) continue;
    seen.add(key);
    pairs.push([...orient(a.templateId, b.templateId), 0]);
    drawn++;
  }
  pairs.sort((p, q) => p[0] - q[0] || p[1] - q[1]);
  return {
    target,
    prefix: target.toLowerCase(),
    seed,
    images,
    templates: templates.map(({ templateId, subject }) => ({ templateId, subject })),
    pairs,
  };
}

/** Renders the clean aligned 112×112 face of a planned IJB image. */
export function renderIjbFace(plan: IjbPlan, img: IjbImage, out?: Uint8Array): Uint8Array {
  out ??= new Uint8Array(TOY_IMAGE_BYTES);
  renderFace(faceIdentity(plan.seed, img.toyId), img.variation, out);
  return out;
}

/**
 * Renders the loose crop of a planned IJB image (RGB8 HWC, width×height): the aligned face
 * placed by `faceToCrop` (bilinear sampling, pixel centres at integer coordinates as in
 * OpenCV) on the continuation of its own background gradient (colour cast included) with
 * fresh noise.
 */
export function renderLooseCrop(plan: IjbPlan, img: IjbImage, face?: Uint8Array): Uint8Array {
  face ??= renderIjbFace(plan, img);
  const { width, height, variation: v } = img;
  const out = new Uint8Array(width * height * 3);
  const inv = invert(img.faceToCrop);
  const S = TOY_SIZE, last = S - 1;
  const bgdx = Math.cos(v.bgAngle) / S, bgdy = Math.sin(v.bgAngle) / S;
  const r = new Rng(img.noiseSeed);
  const sigma = Math.max(2, v.noise * 0.5);
  let o = 0;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++, o += 3) {
      const u = inv[0] * x + inv[1] * y + inv[2], w = inv[3] * x + inv[4] * y + inv[5];
      if (u >= -0.5 && u <= last + 0.5 && w >= -0.5 && w <= last + 0.5) {
        const uc = Math.min(Math.max(u, 0), last), wc = Math.min(Math.max(w, 0), last);
        const x0 = Math.min(Math.floor(uc), last - 1), y0 = Math.min(Math.floor(wc), last - 1);
        const fx = uc - x0, fy = wc - y0;
        const p = 3 * (y0 * S + x0), q = p + 3 * S;
        for (let k = 0; k < 3; k++) {
          const top = face[p + k] + (face[p + 3 + k] - face[p + k]) * fx;
          const bot = face[q + k] + (face[q + 3 + k] - face[q + k]) * fx;
          out[o + k] = Math.round(top + (bot - top) * fy);
        }
      } else {
        const t = u * bgdx + w * bgdy + 0.5;
        const n = sigma * (r.next() + r.next() - 1) * 2.45;
        for (let k = 0; k < 3; k++) {
          const c = (v.bg0[k] + (v.bg1[k] - v.bg0[k]) * t) * v.cast[k];
          out[o + k] = Math.max(0, Math.min(255, Math.round(c + n)));
        }
      }
    }
  }
  return out;
}

function jpeg(): TurboJpeg {
  const tj = openTurboJpeg();
  if (tj === null) {
    throw new Error(
      "writing the test set needs libturbojpeg (JPEG encoding): install libturbojpeg0 " +
        "or set TURBOJPEG_LIB to the library's path",
    );
  }
  return tj;
}

const enc = new TextEncoder();

/** Writes `jobs` with at most `limit` in flight. */
async function writeAllFiles(
  jobs: Iterable<[string, () => Uint8Array]>,
  limit = 8,
): Promise<void> {
  const pending = new Set<Promise<void>>();
  for (const [path, make] of jobs) {
    const p = writeFileAtomically(path, make()).then(() => {
      pending.delete(p);
    });
    pending.add(p);
    if (pending.size >= limit) await Promise.race(pending);
  }
  await Promise.all(pending);
}

/**
 * Writes an IJB-style set under `root/<TARGET>/` (layout in the module doc) and returns its
 * directory and counts. Images are written first and the meta files last, each atomically;
 * existing files of the same names are replaced.
 */
export async function writeIjbSet(
  root: string,
  opts: IjbSetOptions = {},
): Promise<{ dir: string; images: number; templates: number; pairs: number }> {
  const plan = planIjbSet(opts);
  const dir = `${root}/${plan.target}`;
  await Deno.mkdir(`${dir}/meta`, { recursive: true });
  await Deno.mkdir(`${dir}/loose_crop`, { recursive: true });
  const tj = jpeg();
  try {
    const face = new Uint8Array(TOY_IMAGE_BYTES);
    await writeAllFiles(plan.images.map((img): [string, () => Uint8Array] => [
      `${dir}/loose_crop/${img.name}`,
      () =>
        tj.encode(
          renderLooseCrop(plan, img, renderIjbFace(plan, img, face)),
          img.width,
          img.height,
          JPEG_QUALITY,
        ),
    ]));
  } finally {
    tj.close();
  }
  const tidMid = plan.images.map((i) => `${i.name} ${i.templateId} ${i.mediaId}\n`).join("");
  const pts = plan.images.map((i) =>
    `${i.name} ${i.landmarks.map((v) => v.toFixed(3)).join(" ")} ${i.score.toFixed(3)}\n`
  ).join("");
  const pairs = plan.pairs.map(([a, b, l]) => `${a} ${b} ${l}\n`).join("");
  const p = plan.prefix;
  await writeFileAtomically(`${dir}/meta/${p}_face_tid_mid.txt`, enc.encode(tidMid));
  await writeFileAtomically(`${dir}/meta/${p}_name_5pts_score.txt`, enc.encode(pts));
  await writeFileAtomically(`${dir}/meta/${p}_template_pair_label.txt`, enc.encode(pairs));
  return {
    dir,
    images: plan.images.length,
    templates: plan.templates.length,
    pairs: plan.pairs.length,
  };
}

/** Options of {@link writeMfrSet}. */
export interface MfrSetOptions {
  /** Seed of everything (default 0). */
  seed?: number;
  /** Number of identities (default 100). */
  identities?: number;
  /** Plain images per identity (default 2). */
  unmaskedPerIdentity?: number;
  /** Masked images per identity (default 1). */
  maskedPerIdentity?: number;
  /** Toy-face nuisance strength (default 1). */
  variation?: number;
}

/**
 * The face frame of a toy rendering: pixel (x, y) of the 112×112 image lies at face
 * coordinates (u, w) (u across, w down the face; the eyes at w = `eyeY`), as in `renderFace`.
 */
export function faceCoords(v: FaceVariation, x: number, y: number): [number, number] {
  const cx = TOY_SIZE / 2 + v.tx, cy = TOY_SIZE / 2 + 2 + v.ty;
  const cos = Math.cos(v.angle) / v.scale, sin = Math.sin(v.angle) / v.scale;
  const px = x + 0.5 - cx, py = y + 0.5 - cy;
  return [cos * px + sin * py, -sin * px + cos * py];
}

/** The top edge of the synthetic mask in face coordinates (w), well below the eyes. */
export function maskTop(f: FaceIdentity): number {
  return f.eyeY + Math.max(9, 0.5 * f.noseLen);
}

/**
 * Draws a synthetic face mask onto a rendered toy face (112×112 RGB8 HWC, in place): a
 * polygon in face coordinates from just below the eyes ({@link maskTop}, with a 1.5 px nose
 * bridge) over nose, mouth and chin, slightly wider than the face, in a colour and pleat
 * pattern drawn from `maskSeed`.
 */
export function drawMask(
  f: FaceIdentity,
  v: FaceVariation,
  img: Uint8Array,
  maskSeed: number,
): void {
  const r = new Rng(maskSeed);
  const colours: [number, number, number][] = [
    [150, 195, 225], // surgical blue
    [235, 235, 232],
    [40, 40, 45],
    [120, 130, 140],
    [r.uniform(30, 230), r.uniform(30, 230), r.uniform(30, 230)],
  ];
  const col = colours[r.int(colours.length)];
  const pleat = r.uniform(5, 8), pleatPhase = r.uniform(0, pleat);
  const a = f.halfWidth, bl = f.lower;
  const aw = (w: number) => (w <= 0 ? a : a * (1 - f.jaw * (w / bl) * (w / bl)));
  const top = maskTop(f);
  const mid = top + 0.5 * (bl - top);
  const right: [number, number][] = [
    [0, top - 1.5],
    [0.35 * a, top],
    [0.95 * aw(top) + 2, top + 2],
    [aw(mid) + 2, mid],
    [aw(0.85 * bl) + 1.5, 0.85 * bl],
    [0.45 * a, bl + 2],
    [0, bl + 3],
  ];
  const poly = [...right, ...right.slice(1, -1).reverse().map(([u, w]) => [-u, w])];
  const bright = Math.min(1.15, Math.max(0.6, v.ambient + 0.5 * v.diffuse));
  let seed = (maskSeed | 1) >>> 0;
  for (let y = 0; y < TOY_SIZE; y++) {
    for (let x = 0; x < TOY_SIZE; x++) {
      const [u, w] = faceCoords(v, x, y);
      if (w < top - 1.5) continue;
      let inside = false;
      for (let i = 0, j = poly.length - 1; i < poly.length; j = i++) {
        const [ui, wi] = poly[i], [uj, wj] = poly[j];
        if ((wi > w) !== (wj > w) && u < ((uj - ui) * (w - wi)) / (wj - wi) + ui) inside = !inside;
      }
      if (!inside) continue;
      seed ^= seed << 13, seed ^= seed >>> 17, seed ^= seed << 5;
      const n = ((seed >>> 0) / 4294967296 - 0.5) * 6;
      const pl = ((w - top + pleatPhase) % pleat) < 1.2 ? 0.8 : 1;
      const side = 1 -
        0.25 * (u / (a + 2)) * (u / (a + 2)) * (v.light[0] * Math.sign(u) < 0 ? 1 : 0.4);
      const o = 3 * (y * TOY_SIZE + x);
      for (let k = 0; k < 3; k++) {
        img[o + k] = Math.max(0, Math.min(255, Math.round(col[k] * bright * pl * side + n)));
      }
    }
  }
}

/**
 * Image `k` of MFR identity `identity` (112×112 RGB8 HWC, aligned): toy identity
 * `MFR_ID_BASE + identity` under variation `k` without the toy's own mask occlusion; with
 * `masked`, the same rendering wearing the synthetic mask of {@link drawMask}.
 */
export function mfrImage(
  seed: number,
  identity: number,
  k: number,
  masked: boolean,
  variation = 1,
): Uint8Array {
  const toyId = MFR_ID_BASE + identity;
  const f = faceIdentity(seed, toyId);
  const v = { ...faceVariation(seed, toyId, k, variation), mask: null };
  const img = new Uint8Array(TOY_IMAGE_BYTES);
  renderFace(f, v, img);
  if (masked) drawMask(f, v, img, hashSeed(seed, 0x3a5c, toyId, k));
  return img;
}

/**
 * Writes an MFR-style set under `root` (layout in the module doc): `root/mfr_list.txt` and
 * `root/images/<identity>/<k>.jpg`. Images first, the list last, each atomically.
 */
export async function writeMfrSet(
  root: string,
  opts: MfrSetOptions = {},
): Promise<{ list: string; images: number }> {
  const seed = intOption(opts.seed ?? 0, "seed", -(2 ** 31));
  const nId = intOption(opts.identities ?? 100, "identities", 1);
  const nU = intOption(opts.unmaskedPerIdentity ?? 2, "unmaskedPerIdentity", 0);
  const nK = intOption(opts.maskedPerIdentity ?? 1, "maskedPerIdentity", 0);
  if (nU + nK === 0) {
    throw new Error("test set options unmaskedPerIdentity=0 and maskedPerIdentity=0: no images");
  }
  const strength = nonNegative(opts.variation ?? 1, "variation");
  const lines: string[] = [];
  const jobs: [string, () => Uint8Array][] = [];
  const tj = jpeg();
  try {
    for (let j = 0; j < nId; j++) {
      await Deno.mkdir(`${root}/images/${j}`, { recursive: true });
      for (let k = 0; k < nU + nK; k++) {
        const masked = k >= nU;
        const rel = `images/${j}/${k}.jpg`;
        lines.push(`${rel} ${j} ${masked ? 1 : 0}\n`);
        jobs.push([
          `${root}/${rel}`,
          () => tj.encode(mfrImage(seed, j, k, masked, strength), TOY_SIZE, TOY_SIZE, JPEG_QUALITY),
        ]);
      }
    }
    await writeAllFiles(jobs);
  } finally {
    tj.close();
  }
  const list = `${root}/mfr_list.txt`;
  await writeFileAtomically(list, enc.encode(lines.join("")));
  return { list, images: lines.length };
}
