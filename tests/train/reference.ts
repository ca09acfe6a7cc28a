/**
 * Float64 CPU references for the margin softmax and Partial FC tests (test code only).
 *
 * @module
 */
import type { Margin } from "../../src/train/margin.ts";

/** The logit of cosine `raw` (clamped) as the reference computes it, in float64. */
export function refLogit(raw: number, target: boolean, m: Margin): number {
  const c = Math.min(1, Math.max(-1, raw));
  if (target) return m.s * (Math.cos(m.m1 * Math.acos(c) + m.m2) - m.m3);
  if (m.interclassFilteringThreshold > 0 && c > m.interclassFilteringThreshold) return 0;
  return m.s * c;
}

/** d logit / d cosine (clamp and filter pass no gradient; "exact" or "straight-through"). */
export function refSlope(raw: number, target: boolean, m: Margin): number {
  if (raw < -1 || raw > 1) return 0;
  if (target) {
    if (m.gradient === "straight-through" || (m.m1 === 1 && m.m2 === 0)) return m.s;
    const th = Math.acos(raw);
    return m.s * m.m1 * Math.sin(m.m1 * th + m.m2) / Math.max(Math.sin(th), 1e-6);
  }
  if (m.interclassFilteringThreshold > 0 && raw > m.interclassFilteringThreshold) return 0;
  return m.s;
}

/**
 * Loss and cosine gradient of the margin softmax cross-entropy over a full [B, N] cosine
 * matrix (labels −1: no target in these columns, p_target = 0 as on a rank without it).
 */
export function refMarginSoftmax(
  cos: ArrayLike<number>,
  labels: ArrayLike<number>,
  N: number,
  m: Margin,
): { loss: number; grad: Float64Array } {
  const B = labels.length;
  const grad = new Float64Array(B * N);
  let loss = 0;
  for (let r = 0; r < B; r++) {
    const lg = new Float64Array(N);
    let mx = -Infinity;
    for (let j = 0; j < N; j++) {
      lg[j] = refLogit(cos[r * N + j], j === labels[r], m);
      mx = Math.max(mx, lg[j]);
    }
    let sum = 0;
    for (let j = 0; j < N; j++) sum += Math.exp(lg[j] - mx);
    let pt = 0;
    for (let j = 0; j < N; j++) {
      const p = Math.exp(lg[j] - mx) / sum;
      const t = j === labels[r];
      if (t) pt = p;
      grad[r * N + j] = (p - (t ? 1 : 0)) / B * refSlope(cos[r * N + j], t, m);
    }
    loss -= Math.log(Math.max(pt, 1e-30));
  }
  return { loss: loss / B, grad };
}

/** Rows of x divided by their L2 norms (float64). */
export function refNormalize(x: ArrayLike<number>, rows: number, E: number): Float64Array {
  const y = new Float64Array(rows * E);
  for (let r = 0; r < rows; r++) {
    let ss = 0;
    for (let c = 0; c < E; c++) ss += x[r * E + c] ** 2;
    const d = Math.max(Math.sqrt(ss), 1e-12);
    for (let c = 0; c < E; c++) y[r * E + c] = x[r * E + c] / d;
  }
  return y;
}

/** Backward of row normalisation: (g − y(g·y)) / ‖x‖. */
export function refNormalizeBackward(
  x: ArrayLike<number>,
  g: ArrayLike<number>,
  rows: number,
  E: number,
): Float64Array {
  const y = refNormalize(x, rows, E);
  const out = new Float64Array(rows * E);
  for (let r = 0; r < rows; r++) {
    let ss = 0, gy = 0;
    for (let c = 0; c < E; c++) {
      ss += x[r * E + c] ** 2;
      gy += g[r * E + c] * y[r * E + c];
    }
    const d = Math.max(Math.sqrt(ss), 1e-12);
    for (let c = 0; c < E; c++) out[r * E + c] = (g[r * E + c] - y[r * E + c] * gy) / d;
  }
  return out;
}

/**
 * Partial FC over all classes on one "rank" in float64: loss, gradient of the (unnormalised)
 * features, and gradient of the (unnormalised) class centres.
 */
export function refPartialFC(
  x: ArrayLike<number>,
  w: ArrayLike<number>,
  labels: ArrayLike<number>,
  C: number,
  E: number,
  m: Margin,
): { loss: number; dx: Float64Array; dw: Float64Array } {
  const B = labels.length;
  const xn = refNormalize(x, B, E), wn = refNormalize(w, C, E);
  const cos = new Float64Array(B * C);
  for (let r = 0; r < B; r++) {
    for (let j = 0; j < C; j++) {
      let s = 0;
      for (let c = 0; c < E; c++) s += xn[r * E + c] * wn[j * E + c];
      cos[r * C + j] = s;
    }
  }
  const { loss, grad } = refMarginSoftmax(cos, labels, C, m);
  const dxn = new Float64Array(B * E), dwn = new Float64Array(C * E);
  for (let r = 0; r < B; r++) {
    for (let j = 0; j < C; j++) {
      const gij = grad[r * C + j];
      if (gij === 0) continue;
      for (let c = 0; c < E; c++) {
        dxn[r * E + c] += gij * wn[j * E + c];
        dwn[j * E + c] += gij * xn[r * E + c];
      }
    }
  }
  return {
    loss,
    dx: refNormalizeBackward(x, dxn, B, E),
    dw: refNormalizeBackward(w, dwn, C, E),
  };
}
