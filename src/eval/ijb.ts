/**
 * The IJB-B / IJB-C 1:1 template verification protocol of arcface_torch's `eval_ijbc.py` on
 * host arrays, once the images are embedded:
 *
 * 1. image feature = embedding + embedding of the mirror image (flip test; or the plain one),
 *    NOT normalised by default (the reference keeps the norm as a quality score;
 *    `normImage` L2-normalises it), times the detector score (unless `detectorScore` is off);
 *    kept in float32 as the reference does;
 * 2. inside a template, the images of one media are averaged, the media features summed, and
 *    the template L2-normalised (a zero vector stays zero, as scikit-learn's `normalize`);
 *    accumulated in float64 (the reference averages and sums in float32);
 * 3. pair score = dot product of the two template features (float64);
 * 4. ROC of scikit-learn and the TAR at FAR 1e-6 … 1e-1 (see `roc.ts`), plus the AUC.
 *
 * @module
 */
import { auc, IJB_FARS, pyFixed, type RocCurve, rocCurve, tarAtFar } from "./roc.ts";

/** Switches of {@link imageFeatures} (the reference's defaults: both false/true). */
export interface ImageFeatureOptions {
  /** L2-normalise each image feature (the reference's `use_norm_score=False`); default false. */
  normImage?: boolean;
  /** Multiply by the detector score (the reference's `use_detector_score`); default true. */
  detectorScore?: boolean;
}

/**
 * Image features (n × dim, float32) from the raw embeddings `raw` (n × dim), those of the
 * mirrored images `flippedRaw` (summed in; null: no flip test) and the detector scores.
 * A zero feature stays zero under `normImage`. Writes into `out` when given (which may be
 * `raw` itself: IJB-C's 469 k × 512 features need no second copy).
 */
export function imageFeatures(
  raw: Float32Array,
  flippedRaw: Float32Array | null,
  detectorScores: ArrayLike<number>,
  opts: ImageFeatureOptions = {},
  out?: Float32Array,
): Float32Array {
  const n = detectorScores.length;
  if (n === 0 || raw.length % n !== 0) {
    throw new Error(`imageFeatures: ${raw.length} values are not ${n} rows`);
  }
  const dim = raw.length / n;
  if (flippedRaw && flippedRaw.length !== raw.length) {
    throw new Error(
      `imageFeatures: flipped embeddings have ${flippedRaw.length} values, ` +
        `expected ${raw.length}`,
    );
  }
  if (out && out.length !== raw.length) {
    throw new Error(`imageFeatures: out has ${out.length} values, expected ${raw.length}`);
  }
  const dst = out ?? new Float32Array(raw.length);
  const useScore = opts.detectorScore ?? true;
  for (let i = 0; i < n; i++) {
    const o = i * dim;
    let ss = 0;
    for (let j = 0; j < dim; j++) {
      const v = flippedRaw ? Math.fround(raw[o + j] + flippedRaw[o + j]) : raw[o + j];
      dst[o + j] = v;
      ss += v * v;
    }
    const inv = opts.normImage && ss > 0 ? 1 / Math.sqrt(ss) : 1;
    const s = useScore ? Math.fround(detectorScores[i]) : 1;
    if (inv !== 1 || s !== 1) {
      for (let j = 0; j < dim; j++) dst[o + j] = dst[o + j] * inv * s;
    }
  }
  return dst;
}

/** Template features: sorted unique template ids and their L2-normalised features. */
export interface TemplateFeatures {
  /** Template ids, ascending. */
  ids: Int32Array;
  /** ids.length × dim features, float64, unit norm (or zero). */
  feats: Float64Array;
  /** Feature size. */
  dim: number;
}

/**
 * Pools image features (`n × dim`) into template features: images of one (template, media)
 * are averaged, the media features of a template summed, the sum L2-normalised (zero stays
 * zero).
 */
export function templateFeatures(
  features: ArrayLike<number>,
  dim: number,
  templates: Int32Array,
  medias: Int32Array,
): TemplateFeatures {
  const n = templates.length;
  if (medias.length !== n || features.length !== n * dim) {
    throw new Error(
      `templateFeatures: ${n} templates, ${medias.length} medias and ${features.length} ` +
        `values (${dim} per image) do not match`,
    );
  }
  const order = new Uint32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  order.sort((a, b) => templates[a] - templates[b] || medias[a] - medias[b] || a - b);
  let T = 0;
  for (let k = 0; k < n; k++) {
    if (k === 0 || templates[order[k]] !== templates[order[k - 1]]) T++;
  }
  const ids = new Int32Array(T);
  const feats = new Float64Array(T * dim);
  const media = new Float64Array(dim);
  let t = -1;
  let k = 0;
  while (k < n) {
    const tid = templates[order[k]];
    if (t < 0 || ids[t] !== tid) ids[++t] = tid;
    const mid = medias[order[k]];
    media.fill(0);
    let count = 0;
    while (k < n && templates[order[k]] === tid && medias[order[k]] === mid) {
      const o = order[k] * dim;
      for (let j = 0; j < dim; j++) media[j] += features[o + j];
      count++;
      k++;
    }
    const base = t * dim;
    for (let j = 0; j < dim; j++) feats[base + j] += media[j] / count;
  }
  for (let r = 0; r < T; r++) {
    let ss = 0;
    for (let j = 0; j < dim; j++) ss += feats[r * dim + j] ** 2;
    const norm = Math.sqrt(ss);
    if (norm > 0) { for (let j = 0; j < dim; j++) feats[r * dim + j] /= norm; }
  }
  return { ids, feats, dim };
}

/** Row of template `id` in sorted `ids`, or -1. */
function rowOf(ids: Int32Array, id: number): number {
  let lo = 0;
  let hi = ids.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const v = ids[mid];
    if (v === id) return mid;
    if (v < id) lo = mid + 1;
    else hi = mid - 1;
  }
  return -1;
}

/** Pair scores: the dot product of the features of templates `t1[i]` and `t2[i]` (float64). */
export function pairScores(tf: TemplateFeatures, t1: Int32Array, t2: Int32Array): Float64Array {
  if (t1.length !== t2.length) {
    throw new Error(`pairScores: ${t1.length} first and ${t2.length} second templates`);
  }
  const { ids, feats, dim } = tf;
  const out = new Float64Array(t1.length);
  for (let i = 0; i < t1.length; i++) {
    const a = rowOf(ids, t1[i]);
    const b = rowOf(ids, t2[i]);
    if (a < 0 || b < 0) {
      throw new Error(`pair ${i}: template ${a < 0 ? t1[i] : t2[i]} has no image features`);
    }
    const oa = a * dim;
    const ob = b * dim;
    let s = 0;
    for (let j = 0; j < dim; j++) s += feats[oa + j] * feats[ob + j];
    out[i] = s;
  }
  return out;
}

/** One row of the TAR table. */
export interface TarRow {
  /** The FAR asked for. */
  far: number;
  /** TAR at the ROC point nearest to it (0…1). */
  tar: number;
  /** The fpr of that point. */
  fpr: number;
  /** Its score threshold. */
  threshold: number;
  /** `'%.2f' % (tar * 100)`, as the reference prints it. */
  text: string;
}

/** The ROC, the TAR table and the AUC of a score set. */
export interface TarTable {
  /** The ROC curve (scikit-learn's). */
  roc: RocCurve;
  /** TAR at each FAR. */
  rows: TarRow[];
  /** Area under the ROC. */
  auc: number;
}

/** ROC, TAR at `fars` (default 1e-6 … 1e-1) and AUC of `scores` with `labels` (1 genuine). */
export function tarTable(
  labels: ArrayLike<number>,
  scores: ArrayLike<number>,
  fars: readonly number[] = IJB_FARS,
): TarTable {
  const roc = rocCurve(labels, scores);
  const rows = tarAtFar(roc, fars).map((r) => ({
    far: r.far,
    tar: r.tar,
    fpr: r.fpr,
    threshold: r.threshold,
    text: pyFixed(r.tar * 100, 2),
  }));
  return { roc, rows, auc: auc(roc.fpr, roc.tpr) };
}

/**
 * The TAR table as text: the FARs, the TARs in percent (`'%.2f'`, as the reference prints
 * them) under the method name, then the AUC.
 */
export function formatTarTable(name: string, t: TarTable): string {
  const head = ["FAR", ...t.rows.map((r) => r.far.toExponential(0))];
  const row = [name, ...t.rows.map((r) => r.text)];
  const w = head.map((h, i) => Math.max(h.length, row[i].length));
  const line = (c: string[]) =>
    c.map((x, i) => (i === 0 ? x.padEnd(w[i]) : x.padStart(w[i]))).join(" | ");
  return [line(head), line(row), `AUC: ${pyFixed(t.auc * 100, 4)} %`].join("\n");
}
