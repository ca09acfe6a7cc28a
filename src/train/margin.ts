/**
 * Margin-based softmax settings: the combined margin (m1, m2, m3) with scale s, the ArcFace
 * and CosFace presets, both config spellings of the reference (2021 `loss: "arcface" |
 * "cosface"`, later `margin_list: [m1, m2, m3]`), and the inter-class filtering threshold.
 *
 * Semantics (cos = cosine of feature and class centre, clamped to [−1, 1], θ = acos(cos)):
 * - target logit `s·(cos(m1·θ + m2) − m3)`; no `easy_margin` and no `th`/`mm` fallback when
 *   m1·θ + m2 > π (neither the 2021 seed nor the later CombinedMarginLoss has one; only the
 *   short-lived 2022 ArcFace class did), so the target logit follows cos past π;
 * - non-target logits `s·cos`, or 0 when the threshold t > 0 and cos > t (filtered logits still
 *   count in the softmax denominator as exp(0), and pass no gradient);
 * - gradient `"exact"` (default): the derivative of the target logit through the margin, as
 *   the 2021 seed's autograd computes it (`s·m1·sin(m1·θ + m2)/sin θ`, sin θ floored at 1e-6
 *   where it diverges at |cos| = 1); `"straight-through"`: the later CombinedMarginLoss, which
 *   applies the angular margin under no_grad, so the target's derivative is s.
 * - the later CombinedMarginLoss ignores m1 and m2 whenever m3 > 0 and rejects m1 ≠ 1; we
 *   always apply the full formula, which equals it for the ArcFace and CosFace presets.
 *
 * @module
 */

/** A resolved margin: everything the fused softmax kernel needs. */
export interface Margin {
  /** Scale s (64 in every reference config). */
  s: number;
  /** Multiplicative angular margin m1 (SphereFace). */
  m1: number;
  /** Additive angular margin m2 (ArcFace). */
  m2: number;
  /** Additive cosine margin m3 (CosFace). */
  m3: number;
  /** Inter-class filtering threshold t; 0 disables filtering. */
  interclassFilteringThreshold: number;
  /** How the target logit's derivative is taken (see the module documentation). */
  gradient: "exact" | "straight-through";
}

/** Config keys accepted by `resolveMargin` (either spelling). */
export interface MarginConfig {
  /** 2021 spelling: a preset name. */
  loss?: "arcface" | "cosface";
  /** Later spelling: (m1, m2, m3). */
  margin_list?: readonly [number, number, number] | readonly number[];
  /** Scale; default 64. */
  s?: number;
  /** Inter-class filtering threshold; default 0 (off). */
  interclass_filtering_threshold?: number;
  /** Target-gradient convention; default "exact". */
  gradient?: "exact" | "straight-through";
}

/** ArcFace: (m1, m2, m3) = (1, 0.5, 0). */
export const ARCFACE: readonly [number, number, number] = [1, 0.5, 0];
/** CosFace: (m1, m2, m3) = (1, 0, 0.4). */
export const COSFACE: readonly [number, number, number] = [1, 0, 0.4];

/**
 * Resolves a config into a `Margin` (ArcFace when neither spelling is given; both may be given
 * only when they agree).
 * @throws on an unknown loss name, a malformed margin list, or values out of range
 */
export function resolveMargin(cfg: MarginConfig = {}): Margin {
  let ms: readonly number[] | undefined;
  if (cfg.loss !== undefined) {
    if (cfg.loss === "arcface") ms = ARCFACE;
    else if (cfg.loss === "cosface") ms = COSFACE;
    else throw new Error(`loss "${cfg.loss}" is not one of "arcface", "cosface"`);
  }
  if (cfg.margin_list !== undefined) {
    const ml = cfg.margin_list;
    if (ml.length !== 3 || !ml.every((v) => Number.isFinite(v))) {
      throw new Error(`margin_list [${ml}] must be three finite numbers (m1, m2, m3)`);
    }
    if (ms && ms.some((v, i) => v !== ml[i])) {
      throw new Error(`loss "${cfg.loss}" (${ms}) disagrees with margin_list [${ml}]`);
    }
    ms = ml;
  }
  ms ??= ARCFACE;
  const [m1, m2, m3] = ms;
  const s = cfg.s ?? 64;
  const t = cfg.interclass_filtering_threshold ?? 0;
  if (!(s > 0 && Number.isFinite(s))) throw new Error(`margin scale s = ${s} must be > 0`);
  if (!(m1 > 0)) throw new Error(`margin m1 = ${m1} must be > 0`);
  if (!(t >= 0 && t < 1)) {
    throw new Error(`interclass_filtering_threshold ${t} outside [0, 1) (0 disables it)`);
  }
  const gradient = cfg.gradient ?? "exact";
  if (gradient !== "exact" && gradient !== "straight-through") {
    throw new Error(`margin gradient "${gradient}" is not "exact" or "straight-through"`);
  }
  return { s, m1, m2, m3, interclassFilteringThreshold: t, gradient };
}

/** Which closed form the kernel uses for the target logit (0 cosine, 1 arc, 2 general). */
export function targetForm(m: Margin): 0 | 1 | 2 {
  if (m.m1 === 1 && m.m2 === 0) return 0;
  if (m.m1 === 1) return 1;
  return 2;
}
