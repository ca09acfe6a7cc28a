/**
 * The ROC curve of a binary verification protocol, bit-identical to scikit-learn 1.2's
 * `roc_curve(labels, scores)` (default `drop_intermediate=True`) and `auc`, plus the
 * TAR@FAR rule of the IJB evaluation of arcface_torch.
 *
 * scikit-learn sorts the scores descending (a stable mergesort), keeps one point per distinct
 * score (the cumulative true/false positive counts after its last sample), drops the points
 * where both count sequences have a zero second difference (interior points of straight
 * segments), prepends the point (0, 0) with threshold `max + 1` and divides by the totals. The
 * counts depend only on how many positives and negatives share each score, so this module
 * sorts the positive and the negative scores separately with the native typed-array sort and
 * merges them: O(n log n), 8 bytes per pair plus the curve, no per-pair objects (10⁸ pairs
 * fit).
 *
 * @module
 */

/** A ROC curve: parallel arrays, thresholds decreasing, fpr and tpr non-decreasing. */
export interface RocCurve {
  /** False-positive rate of each point (NaN everywhere when there are no negatives). */
  fpr: Float64Array;
  /** True-positive rate of each point (NaN everywhere when there are no positives). */
  tpr: Float64Array;
  /** Score threshold of each point (`score >= threshold` accepts); the first is `max + 1`. */
  thresholds: Float64Array;
  /** Number of positive pairs. */
  positives: number;
  /** Number of negative pairs. */
  negatives: number;
}

/** Options of {@link rocCurve}. */
export interface RocOptions {
  /** Drop collinear intermediate points, as scikit-learn by default (default true). */
  dropIntermediate?: boolean;
}

/** Ascending copies of the scores of the positive and of the negative pairs. */
function splitSorted(
  labels: ArrayLike<number | boolean>,
  scores: ArrayLike<number>,
): { pos: Float64Array; neg: Float64Array } {
  const n = scores.length;
  if (labels.length !== n) {
    throw new Error(`roc: ${labels.length} labels but ${n} scores; give one label per score`);
  }
  let np = 0;
  for (let i = 0; i < n; i++) {
    const l = Number(labels[i]);
    if (l !== 0 && l !== 1) {
      throw new Error(
        `roc: label ${i} is ${labels[i]}; labels must be 0 (impostor) or 1 (genuine)`,
      );
    }
    const s = scores[i];
    if (!Number.isFinite(s)) {
      throw new Error(`roc: score ${i} is ${s}; every score must be finite`);
    }
    np += l;
  }
  const pos = new Float64Array(np);
  const neg = new Float64Array(n - np);
  let p = 0;
  let q = 0;
  for (let i = 0; i < n; i++) {
    if (Number(labels[i]) === 1) pos[p++] = scores[i];
    else neg[q++] = scores[i];
  }
  pos.sort();
  neg.sort();
  return { pos, neg };
}

/**
 * Calls `visit(fps, tps, threshold)` for each distinct score, from the highest down, with the
 * numbers of negatives and positives scoring at least that much (scikit-learn's
 * `_binary_clf_curve`). Returns the number of distinct scores.
 */
function walkDistinct(
  pos: Float64Array,
  neg: Float64Array,
  visit: (fps: number, tps: number, thr: number) => void,
): number {
  let i = pos.length - 1;
  let j = neg.length - 1;
  let tps = 0;
  let fps = 0;
  let count = 0;
  while (i >= 0 || j >= 0) {
    // -0 and +0 are one value here (=== and the comparisons), as in np.diff
    const v = i < 0 ? neg[j] : j < 0 ? pos[i] : Math.max(pos[i], neg[j]);
    while (i >= 0 && pos[i] === v) {
      i--;
      tps++;
    }
    while (j >= 0 && neg[j] === v) {
      j--;
      fps++;
    }
    visit(fps, tps, v);
    count++;
  }
  return count;
}

/**
 * scikit-learn's `roc_curve(labels, scores)` (version 1.2, `drop_intermediate=True` unless
 * turned off): labels 0/1 (or booleans), finite scores. With no negatives `fpr` is all NaN,
 * with no positives `tpr` is (scikit-learn warns in both cases). Throws on other labels,
 * non-finite scores or differing lengths.
 */
export function rocCurve(
  labels: ArrayLike<number | boolean>,
  scores: ArrayLike<number>,
  opts: RocOptions = {},
): RocCurve {
  const { pos, neg } = splitSorted(labels, scores);
  const m = walkDistinct(pos, neg, () => {});
  if (m === 0) throw new Error("roc: no scores; the ROC needs at least one pair of each label");
  // keep[k]: point k is the first or the last, or a corner of the (fps, tps) polyline
  const keep = new Uint8Array(m);
  if ((opts.dropIntermediate ?? true) && m > 2) {
    let k = 0;
    let f0 = 0, t0 = 0, f1 = 0, t1 = 0; // points k-2 and k-1
    walkDistinct(pos, neg, (f, t) => {
      // np.diff(x, 2)[k-2] = (x[k] - x[k-1]) - (x[k-1] - x[k-2]), tested at point k-1
      if (k >= 2 && ((f - f1) - (f1 - f0) !== 0 || (t - t1) - (t1 - t0) !== 0)) keep[k - 1] = 1;
      f0 = f1;
      t0 = t1;
      f1 = f;
      t1 = t;
      k++;
    });
    keep[0] = 1;
    keep[m - 1] = 1;
  } else keep.fill(1);
  let count = 0;
  for (let k = 0; k < m; k++) count += keep[k];
  const len = count + 1;
  const fps = new Float64Array(len);
  const tps = new Float64Array(len);
  const thresholds = new Float64Array(len);
  let w = 1;
  let k = 0;
  walkDistinct(pos, neg, (f, t, v) => {
    if (keep[k++]) {
      fps[w] = f;
      tps[w] = t;
      thresholds[w] = v;
      w++;
    }
  });
  thresholds[0] = thresholds[1] + 1;
  const P = pos.length;
  const N = neg.length;
  const fpr = new Float64Array(len);
  const tpr = new Float64Array(len);
  for (let i = 0; i < len; i++) {
    fpr[i] = N > 0 ? fps[i] / N : NaN;
    tpr[i] = P > 0 ? tps[i] / P : NaN;
  }
  return { fpr, tpr, thresholds, positives: P, negatives: N };
}

/** One row of a TAR@FAR table. */
export interface TarAtFar {
  /** The FAR asked for. */
  far: number;
  /** Index of the chosen ROC point. */
  index: number;
  /** Its false-positive rate (the FAR actually reached). */
  fpr: number;
  /** Its true-positive rate: the TAR reported. */
  tar: number;
  /** Its score threshold. */
  threshold: number;
}

/** The FARs of the IJB table: 1e-6 … 1e-1. */
export const IJB_FARS: readonly number[] = [1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1];

/**
 * TAR at each FAR by the rule of arcface_torch's IJB evaluation: the ROC point whose fpr is
 * nearest to the FAR (`|fpr − far|` in float64). On ties it takes the point the reference
 * takes: it searches the reversed arrays and keeps the first minimum, i.e. the LAST point in
 * ROC order (the largest tpr at that fpr). NaN fprs (no negatives) give NaN rows.
 */
export function tarAtFar(roc: RocCurve, fars: readonly number[] = IJB_FARS): TarAtFar[] {
  return fars.map((far) => {
    let best = -1;
    let bestD = Infinity;
    for (let i = 0; i < roc.fpr.length; i++) {
      const d = Math.abs(roc.fpr[i] - far);
      if (d <= bestD) {
        bestD = d;
        best = i;
      }
    }
    if (best < 0) return { far, index: -1, fpr: NaN, tar: NaN, threshold: NaN };
    return {
      far,
      index: best,
      fpr: roc.fpr[best],
      tar: roc.tpr[best],
      threshold: roc.thresholds[best],
    };
  });
}

/** NumPy's pairwise summation of a contiguous float64 block (inside `np.add.reduce`). */
function pairwiseSum(a: Float64Array, start: number, n: number): number {
  if (n < 8) {
    let r = 0;
    for (let i = 0; i < n; i++) r += a[start + i];
    return r;
  }
  if (n <= 128) {
    const r = new Float64Array(8);
    for (let k = 0; k < 8; k++) r[k] = a[start + k];
    let i = 8;
    for (; i < n - (n % 8); i += 8) {
      for (let k = 0; k < 8; k++) r[k] += a[start + i + k];
    }
    let res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
    for (; i < n; i++) res += a[start + i];
    return res;
  }
  let n2 = Math.floor(n / 2);
  n2 -= n2 % 8;
  return pairwiseSum(a, start, n2) + pairwiseSum(a, start + n2, n - n2);
}

/**
 * Area under a curve by the trapezoidal rule, as scikit-learn's `auc(x, y)`: `x` must be
 * monotonic (non-decreasing or non-increasing); NumPy's summation order is reproduced.
 */
export function auc(x: ArrayLike<number>, y: ArrayLike<number>): number {
  const n = x.length;
  if (y.length !== n) throw new Error(`auc: x has ${n} points, y has ${y.length}`);
  if (n < 2) throw new Error(`auc: at least 2 points are needed, got ${n}`);
  let up = true;
  let down = true;
  for (let i = 1; i < n; i++) {
    const d = x[i] - x[i - 1];
    if (d < 0) up = false;
    if (d > 0) down = false;
  }
  if (!up && !down) throw new Error("auc: x is neither increasing nor decreasing");
  const direction = up ? 1 : -1;
  const terms = new Float64Array(n - 1);
  for (let i = 0; i < n - 1; i++) terms[i] = ((x[i + 1] - x[i]) * (y[i + 1] + y[i])) / 2;
  // np.sum reduces in blocks of its buffer size (8192), pairwise inside each block
  let sum = 0;
  for (let s = 0; s < n - 1; s += 8192) sum += pairwiseSum(terms, s, Math.min(8192, n - 1 - s));
  return direction * sum;
}

/**
 * Python's `'%.{digits}f' % x`: like `toFixed`, but an exact tie (a binary value exactly
 * halfway between two outputs) rounds to the even last digit, as Python does, where
 * `toFixed` rounds away from zero. NaN → `nan`, ±Infinity → `inf` / `-inf`.
 */
export function pyFixed(x: number, digits: number): string {
  if (Number.isNaN(x)) return "nan";
  if (!Number.isFinite(x)) return x > 0 ? "inf" : "-inf";
  if (Object.is(x, -0)) return `-${(0).toFixed(digits)}`;
  const s = x.toFixed(digits);
  if (Math.abs(x) >= 1e21) return s;
  // exact value of |x| = m · 2^e with integer m
  const buf = new DataView(new ArrayBuffer(8));
  buf.setFloat64(0, Math.abs(x));
  const bits = buf.getBigUint64(0);
  const expBits = Number((bits >> 52n) & 0x7ffn);
  let m = bits & ((1n << 52n) - 1n);
  let e: number;
  if (expBits === 0) e = -1074;
  else {
    m |= 1n << 52n;
    e = expBits - 1075;
  }
  if (e >= 0) return s; // an integer: no tie
  // tie iff 2·10^d·|x| is an odd integer: 2·10^d·m divisible by 2^-e with an odd quotient
  const num = 2n * 10n ** BigInt(digits) * m;
  const den = 1n << BigInt(-e);
  if (num % den !== 0n) return s;
  const q = num / den;
  if (q % 2n === 0n) return s;
  // halfway between (q-1)/2 and (q+1)/2 (units of 10^-d): take the even one
  const lo = (q - 1n) / 2n;
  const pick = lo % 2n === 0n ? lo : lo + 1n;
  let t = pick.toString().padStart(digits + 1, "0");
  if (digits > 0) t = `${t.slice(0, -digits)}.${t.slice(-digits)}`;
  return (x < 0 ? "-" : "") + t;
}
