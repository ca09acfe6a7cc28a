/**
 * The verification protocol of the `.bin` sets (lfw, cfp_fp, agedb_30, …) on the CPU, over
 * embeddings computed elsewhere, with the reference's exact semantics:
 *
 * - the embedding of each image and of its horizontal flip are summed and L2-normalised
 *   (a zero row stays zero); pair i is images 2i and 2i+1; distance = squared L2;
 * - 10-fold cross-validation without shuffling (fold f is a contiguous block, the first
 *   `P mod 10` folds one pair larger, as scikit-learn's `KFold(10, shuffle=False)`);
 * - on the 9 training folds the threshold among 0, 0.01, …, 3.99 (`i · 0.01`, as
 *   `np.arange(0, 4, 0.01)`) with the highest accuracy wins, the first on ties; a pair is
 *   predicted "same" when `dist < threshold`; the 10th fold's accuracy is recorded;
 * - result: mean and population std (ddof 0) of the fold accuracies; XNorm = mean L2 norm of
 *   every row of both embedding sets before normalisation; the ROC averaged over folds;
 *   VAL@FAR=1e-3 on thresholds `i · 0.001` with linear interpolation of the training FAR.
 *
 * Counting is done once per pair through the threshold index where its prediction flips
 * (binary search) and prefix sums per fold: O(P log T + folds² · T), integer-exact, so the
 * results equal the reference's O(P · T · folds) loops.
 *
 * @module
 */

/** Options of {@link evaluateVerification}. */
export interface VerificationOptions {
  /** Number of folds (default 10). */
  folds?: number;
  /** FAR target of the VAL figure (default 1e-3). */
  farTarget?: number;
}

/** Everything the protocol reports. */
export interface VerificationResult {
  /** Mean accuracy over the test folds (0…1). */
  accuracy: number;
  /** Population standard deviation (ddof 0) of the fold accuracies. */
  std: number;
  /** Accuracy of each test fold. */
  foldAccuracies: number[];
  /** Threshold chosen on the training folds of each fold. */
  foldThresholds: number[];
  /** The threshold with the highest accuracy over all pairs (first on ties). */
  bestThreshold: number;
  /** Mean L2 norm of the embeddings (both sets) before normalisation. */
  xnorm: number;
  /** The thresholds of the ROC (0, 0.01, …, 3.99). */
  thresholds: Float64Array;
  /** True-positive rate per threshold, averaged over test folds. */
  tpr: Float64Array;
  /** False-positive rate per threshold, averaged over test folds. */
  fpr: Float64Array;
  /** VAL (true-accept rate) at the FAR target, mean over folds (NaN if a fold lacks a class). */
  val: number;
  /** Population std of VAL over folds. */
  valStd: number;
  /** FAR actually reached, mean over folds. */
  far: number;
  /** Number of pairs. */
  pairs: number;
}

/**
 * Test-set index ranges `[start, end)` of k-fold without shuffling over `n` items, identical
 * to scikit-learn's `KFold(n_splits=k, shuffle=False)`.
 */
export function kFoldRanges(n: number, k: number): Array<[number, number]> {
  if (!Number.isInteger(k) || k < 2) throw new Error(`folds must be an integer ≥ 2, got ${k}`);
  if (n < k) throw new Error(`cannot split ${n} pairs into ${k} folds`);
  const out: Array<[number, number]> = [];
  let start = 0;
  for (let f = 0; f < k; f++) {
    const size = Math.floor(n / k) + (f < n % k ? 1 : 0);
    out.push([start, start + size]);
    start += size;
  }
  return out;
}

/** `np.arange(0, stop, step)` for the protocol's grids: `i · step` while below `stop`. */
export function thresholdGrid(stop: number, step: number): Float64Array {
  const n = Math.ceil(stop / step);
  const t = new Float64Array(n);
  for (let i = 0; i < n; i++) t[i] = i * step;
  return t;
}

/**
 * Mean L2 norm of the rows of `a` and `b` together (each `rows × dim`), computed in double
 * precision: the reference's XNorm.
 */
export function meanRowNorm(a: ArrayLike<number>, b: ArrayLike<number>, dim: number): number {
  let sum = 0;
  let count = 0;
  for (const m of [a, b]) {
    const rows = m.length / dim;
    for (let r = 0; r < rows; r++) {
      let s = 0;
      for (let j = 0; j < dim; j++) {
        const x = m[r * dim + j];
        s += x * x;
      }
      sum += Math.sqrt(s);
      count++;
    }
  }
  return sum / count;
}

/**
 * Squared L2 distance of each consecutive pair of rows of `emb + flip` after L2
 * normalisation (a zero row stays zero), in double precision.
 */
export function pairDistances(
  emb: ArrayLike<number>,
  flip: ArrayLike<number>,
  dim: number,
): Float64Array {
  const rows = emb.length / dim;
  const pairs = rows >> 1;
  const a = new Float64Array(dim);
  const b = new Float64Array(dim);
  const out = new Float64Array(pairs);
  const load = (row: number, into: Float64Array) => {
    let s = 0;
    for (let j = 0; j < dim; j++) {
      const x = emb[row * dim + j] + flip[row * dim + j];
      into[j] = x;
      s += x * x;
    }
    const norm = Math.sqrt(s);
    const inv = norm === 0 ? 1 : norm;
    for (let j = 0; j < dim; j++) into[j] /= inv;
  };
  for (let p = 0; p < pairs; p++) {
    load(2 * p, a);
    load(2 * p + 1, b);
    let d = 0;
    for (let j = 0; j < dim; j++) {
      const x = a[j] - b[j];
      d += x * x;
    }
    out[p] = d;
  }
  return out;
}

/** Number of thresholds `t` in the sorted grid with `t <= d` (so `d < t` from there on). */
function flipIndex(grid: Float64Array, d: number): number {
  let lo = 0;
  let hi = grid.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (grid[mid] <= d) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * Per fold, cumulative counts over the threshold grid: `pos[f][i]` = positives of fold f with
 * `dist < grid[i]`, `neg[f][i]` the same for negatives; plus each fold's totals.
 */
function foldCounts(
  dist: Float64Array,
  issame: readonly boolean[],
  ranges: Array<[number, number]>,
  grid: Float64Array,
) {
  const T = grid.length;
  const pos: Int32Array[] = [];
  const neg: Int32Array[] = [];
  const nPos: number[] = [];
  const nNeg: number[] = [];
  for (const [s, e] of ranges) {
    const hp = new Int32Array(T + 1);
    const hn = new Int32Array(T + 1);
    let np = 0;
    for (let p = s; p < e; p++) {
      const k = flipIndex(grid, dist[p]);
      if (issame[p]) {
        hp[k]++;
        np++;
      } else hn[k]++;
    }
    const cp = new Int32Array(T);
    const cn = new Int32Array(T);
    let ap = 0;
    let an = 0;
    for (let i = 0; i < T; i++) {
      ap += hp[i];
      an += hn[i];
      cp[i] = ap;
      cn[i] = an;
    }
    pos.push(cp);
    neg.push(cn);
    nPos.push(np);
    nNeg.push(e - s - np);
  }
  return { pos, neg, nPos, nNeg };
}

function meanStd(xs: number[]): [number, number] {
  const mean = xs.reduce((s, x) => s + x, 0) / xs.length;
  const v = xs.reduce((s, x) => s + (x - mean) * (x - mean), 0) / xs.length;
  return [mean, Math.sqrt(v)];
}

/**
 * The training-set threshold for a FAR target: the FAR over the grid is linearly
 * interpolated (the last grid point at or below the target and the next one); 0 when the
 * target is never reached.
 */
function thresholdAtFar(far: Float64Array, grid: Float64Array, target: number): number {
  let max = -Infinity;
  for (const f of far) if (f > max) max = f;
  if (!(max >= target)) return 0;
  let j = -1;
  for (let i = 0; i < far.length; i++) if (far[i] <= target) j = i;
  if (j < 0) return grid[0];
  if (far[j] === target || j === far.length - 1) return grid[j];
  const t = (target - far[j]) / (far[j + 1] - far[j]);
  return grid[j] + t * (grid[j + 1] - grid[j]);
}

/**
 * Runs the verification protocol over the embeddings of the 2·P images (`emb`, row-major
 * `2P × dim`) and of their horizontal flips (`flip`, same layout), with `issame[i]` telling
 * whether images 2i and 2i+1 show one identity.
 */
export function evaluateVerification(
  emb: ArrayLike<number>,
  flip: ArrayLike<number>,
  dim: number,
  issame: readonly boolean[],
  options: VerificationOptions = {},
): VerificationResult {
  const folds = options.folds ?? 10;
  const farTarget = options.farTarget ?? 1e-3;
  const P = issame.length;
  if (emb.length !== 2 * P * dim || flip.length !== 2 * P * dim) {
    throw new Error(
      `embeddings must be ${
        2 * P
      }×${dim} (2 per pair): got ${emb.length} and ${flip.length} values`,
    );
  }
  const xnorm = meanRowNorm(emb, flip, dim);
  const dist = pairDistances(emb, flip, dim);
  const ranges = kFoldRanges(P, folds);

  // Accuracy with thresholds 0 … 3.99.
  const grid = thresholdGrid(4, 0.01);
  const T = grid.length;
  const c = foldCounts(dist, issame, ranges, grid);
  const totPos = new Int32Array(T);
  const totNeg = new Int32Array(T);
  for (let f = 0; f < folds; f++) {
    for (let i = 0; i < T; i++) {
      totPos[i] += c.pos[f][i];
      totNeg[i] += c.neg[f][i];
    }
  }
  const allNeg = c.nNeg.reduce((s, x) => s + x, 0);
  const tpr = new Float64Array(T);
  const fpr = new Float64Array(T);
  const foldAccuracies: number[] = [];
  const foldThresholds: number[] = [];
  for (let f = 0; f < folds; f++) {
    const trainNeg = allNeg - c.nNeg[f];
    let best = 0;
    let bestCorrect = -1;
    for (let i = 0; i < T; i++) {
      const tp = totPos[i] - c.pos[f][i];
      const tn = trainNeg - (totNeg[i] - c.neg[f][i]);
      if (tp + tn > bestCorrect) {
        bestCorrect = tp + tn;
        best = i;
      }
    }
    const n = ranges[f][1] - ranges[f][0];
    const correct = c.pos[f][best] + (c.nNeg[f] - c.neg[f][best]);
    foldAccuracies.push(correct / n);
    foldThresholds.push(grid[best]);
    for (let i = 0; i < T; i++) {
      tpr[i] += c.nPos[f] === 0 ? 0 : c.pos[f][i] / c.nPos[f];
      fpr[i] += c.nNeg[f] === 0 ? 0 : c.neg[f][i] / c.nNeg[f];
    }
  }
  for (let i = 0; i < T; i++) {
    tpr[i] /= folds;
    fpr[i] /= folds;
  }
  let bestThreshold = 0;
  let bestAll = -1;
  for (let i = 0; i < T; i++) {
    const correct = totPos[i] + allNeg - totNeg[i];
    if (correct > bestAll) {
      bestAll = correct;
      bestThreshold = grid[i];
    }
  }
  const [accuracy, std] = meanStd(foldAccuracies);

  // VAL @ FAR with thresholds 0 … 3.999.
  const vgrid = thresholdGrid(4, 0.001);
  const v = foldCounts(dist, issame, ranges, vgrid);
  const vals: number[] = [];
  const fars: number[] = [];
  const farTrain = new Float64Array(vgrid.length);
  for (let f = 0; f < folds; f++) {
    let trainNeg = 0;
    for (let g = 0; g < folds; g++) if (g !== f) trainNeg += v.nNeg[g];
    for (let i = 0; i < vgrid.length; i++) {
      let fa = 0;
      for (let g = 0; g < folds; g++) if (g !== f) fa += v.neg[g][i];
      farTrain[i] = trainNeg === 0 ? NaN : fa / trainNeg;
    }
    const thr = thresholdAtFar(farTrain, vgrid, farTarget);
    let ta = 0;
    let fa = 0;
    for (let p = ranges[f][0]; p < ranges[f][1]; p++) {
      if (dist[p] < thr) {
        if (issame[p]) ta++;
        else fa++;
      }
    }
    vals.push(v.nPos[f] === 0 ? NaN : ta / v.nPos[f]);
    fars.push(v.nNeg[f] === 0 ? NaN : fa / v.nNeg[f]);
  }
  const [val, valStd] = meanStd(vals);
  const [far] = meanStd(fars);

  return {
    accuracy,
    std,
    foldAccuracies,
    foldThresholds,
    bestThreshold,
    xnorm,
    thresholds: grid,
    tpr,
    fpr,
    val,
    valStd,
    far,
    pairs: P,
  };
}
