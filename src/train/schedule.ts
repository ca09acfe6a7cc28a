/**
 * Learning-rate schedules, stepped once per iteration as the reference's LambdaLR /
 * PolynomialLRWarmup are (`lrAt(k)` is the rate of the k-th optimiser step, k from 0), the
 * reference's linear lr scaling, and gradient accumulation.
 *
 * - 2021 (`StepDecaySchedule`): `lr = base · λ(k)`, λ(k) = k / warmup while k < warmup
 *   (so step 0 runs at 0 when there is a warmup), else 0.1^(number of decay steps ≤ k).
 *   Steps come from epochs as the reference computes them: warmup = ⌊images / global batch⌋ ·
 *   warmup_epoch, decay_k = ⌊epoch_k · images / global batch⌋.
 * - later (`PolySchedule`, PolynomialLRWarmup with power 1 by default): step 0 runs at the base
 *   rate (the scheduler's quirk: its first value is the optimiser's initial lr), then
 *   base · k / warmup for 1 ≤ k ≤ warmup, then base · (1 − (k − warmup)/(total − warmup))^power,
 *   and 0 after `total`.
 *
 * @module
 */

/** The reference's linear scaling: `lr = base / 512 · batch · world` (base 0.1 for 512). */
export function scaledLr(baseLr: number, batch: number, world: number): number {
  return baseLr / 512 * batch * world;
}

/** A schedule: the learning rate of optimiser step k (0-based). */
export interface LrSchedule {
  /** The rate of step k. */
  lrAt(step: number): number;
}

/** Settings of the 2021 step schedule in steps. */
export interface StepDecaySettings {
  /** Base (already scaled) learning rate. */
  baseLr: number;
  /** Warmup steps (≤ 0: none). */
  warmupSteps: number;
  /** Steps at which the rate is multiplied by 0.1. */
  decaySteps: readonly number[];
}

/** The 2021 schedule: linear warmup, then ×0.1 at each decay step. */
export class StepDecaySchedule implements LrSchedule {
  /** Settings. */
  readonly settings: StepDecaySettings;
  /** Creates the schedule. */
  constructor(settings: StepDecaySettings) {
    this.settings = settings;
  }

  /** The rate of step k. */
  lrAt(step: number): number {
    const { baseLr, warmupSteps, decaySteps } = this.settings;
    if (step < warmupSteps) return baseLr * (step / warmupSteps);
    return baseLr * 0.1 ** decaySteps.filter((d) => d <= step).length;
  }

  /** The schedule the 2021 `train.py` builds from a config's epochs. */
  static fromEpochs(o: {
    baseLr: number;
    numImages: number;
    batch: number;
    world: number;
    warmupEpochs: number;
    decayEpochs: readonly number[];
  }): StepDecaySchedule {
    const total = o.batch * o.world;
    const perEpoch = Math.floor(o.numImages / total);
    return new StepDecaySchedule({
      baseLr: o.baseLr,
      warmupSteps: perEpoch * o.warmupEpochs,
      decaySteps: o.decayEpochs.map((e) => Math.floor(e * o.numImages / total)),
    });
  }
}

/** Settings of the polynomial schedule. */
export interface PolySettings {
  /** Base learning rate. */
  baseLr: number;
  /** Warmup steps. */
  warmupSteps: number;
  /** Total steps. */
  totalSteps: number;
  /** Power; default 1. */
  power?: number;
}

/** The later schedule: PolynomialLRWarmup. */
export class PolySchedule implements LrSchedule {
  /** Settings. */
  readonly settings: PolySettings;
  /** Creates the schedule. */
  constructor(settings: PolySettings) {
    const { warmupSteps: w, totalSteps: t } = settings;
    if (!(w >= 0 && t > w)) {
      throw new Error(`PolySchedule: warmup ${w} must be in [0, total ${t})`);
    }
    this.settings = settings;
  }

  /** The rate of step k. */
  lrAt(step: number): number {
    const { baseLr, warmupSteps: w, totalSteps: t, power = 1 } = this.settings;
    if (step === 0) return baseLr;
    if (step <= w) return baseLr * step / w;
    const k = Math.min(step, t);
    return baseLr * (1 - (k - w) / (t - w)) ** power;
  }
}

/**
 * Gradient accumulation as the later trainer does it: gradients of `every` consecutive
 * micro-batches are summed (backward adds into `.grad`), the optimiser steps after the last of
 * them and then zeroes the gradients; the schedule advances per micro-batch.
 */
export class GradAccumulation {
  /** Micro-batches per optimiser step. */
  readonly every: number;
  /** Creates the policy. */
  constructor(every = 1) {
    if (!(Number.isInteger(every) && every >= 1)) {
      throw new Error(`gradient accumulation ${every} must be an integer ≥ 1`);
    }
    this.every = every;
  }

  /** Whether micro-batch `globalStep` (counted from 1, as the reference does) ends a step. */
  isStep(globalStep: number): boolean {
    return globalStep % this.every === 0;
  }
}
