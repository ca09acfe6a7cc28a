/**
 * Dynamic loss scaling for mixed precision, kept on the GPU like PyTorch's GradScaler:
 * scale the backward seed, unscale the gradients while checking for Inf/NaN in one pass, skip
 * the optimiser step on overflow (the optimiser reads `foundInf`), back off ×0.5 on overflow
 * and grow ×2 after `growthInterval` clean steps. The 2021 reference (MaxClipGradScaler)
 * starts at `batch` and caps the scale at `128·batch`: growth stops once the scale reaches the
 * cap, and a scale above the cap is clamped to it before it is used. The host reads the scale
 * and skip count back whenever it likes (e.g. one step behind, for logging).
 *
 * @module
 */
import src from "../../kernels/loss_scale.wgsl" with { type: "text" };
import { gpu } from "../gpu/device.ts";
import { f32, kernel } from "../gpu/kernel.ts";
import { grid1d } from "../tensor/launch.ts";
import { fmtShape, Tensor } from "../tensor/tensor.ts";

const K = kernel("loss_scale", src);

/** Settings of `LossScaler`. */
export interface LossScalerOptions {
  /** Initial scale; PyTorch's default 65536 (the 2021 reference: the per-rank batch size). */
  initScale?: number;
  /** Cap on the scale (2021: 128·batch); default none. */
  maxScale?: number;
  /** Clean steps between growths; default 100. */
  growthInterval?: number;
  /** Growth factor; default 2. */
  growthFactor?: number;
  /** Backoff factor on overflow; default 0.5. */
  backoffFactor?: number;
}

/** The 2021 reference's scaler for a per-rank batch: start at `batch`, cap `128·batch`. */
export function scaler2021(batch: number): LossScaler {
  return new LossScaler({ initScale: batch, maxScale: 128 * batch, growthInterval: 100 });
}

/** What the host learns from a read-back. */
export interface LossScalerState {
  /** The current scale. */
  scale: number;
  /** Steps skipped because of Inf/NaN so far. */
  skippedSteps: number;
  /** Whether the last unscale found Inf/NaN (its step is skipped). */
  foundInf: boolean;
  /** Clean steps since the last growth or overflow. */
  growthTracker: number;
}

/** Dynamic loss scaling on the GPU. */
export class LossScaler {
  /** f32 [1]: the scale. */
  readonly scaleTensor: Tensor;
  /** u32 [3]: found-infinity flag, growth tracker, skipped steps; pass as `skipIf`. */
  readonly ctl: Tensor;
  /** u32 [1] view of the found-infinity flag: `new Optimizer(params, cfg, {skipIf: foundInf})`. */
  readonly foundInf: Tensor;
  /** The settings. */
  readonly options: Required<LossScalerOptions>;
  #scratch: Tensor;
  #last: LossScalerState;

  /** Creates the scaler. */
  constructor(opts: LossScalerOptions = {}) {
    this.options = {
      initScale: opts.initScale ?? 65536,
      maxScale: opts.maxScale ?? 0,
      growthInterval: opts.growthInterval ?? 100,
      growthFactor: opts.growthFactor ?? 2,
      backoffFactor: opts.backoffFactor ?? 0.5,
    };
    const o = this.options;
    if (!(o.initScale > 0)) throw new Error(`LossScaler: initial scale ${o.initScale} must be > 0`);
    if (!(Number.isInteger(o.growthInterval) && o.growthInterval >= 1)) {
      throw new Error(`LossScaler: growth interval ${o.growthInterval} must be an integer ≥ 1`);
    }
    this.scaleTensor = Tensor.fromArray([o.initScale], [1]).keep();
    this.ctl = Tensor.fromArray(new Int32Array(3), [3], "i32").keep();
    this.foundInf = this.ctl.rows(0, 1).keep();
    this.#scratch = Tensor.empty([1], "f32", "loss scaler scratch").keep();
    this.#last = { scale: o.initScale, skippedSteps: 0, foundInf: false, growthTracker: 0 };
  }

  #run(pass: number, x: Tensor, srcT: Tensor | null, n: number, wg: [number, number?]) {
    const o = this.options;
    gpu().dispatch(K, {
      label: `loss scale pass ${pass}`,
      bindings: [x, srcT ?? gpu().dummy, this.scaleTensor, this.ctl],
      params: [n, o.growthInterval, f32(o.maxScale), f32(o.growthFactor), f32(o.backoffFactor)],
      workgroups: wg,
      overrides: { PASS: pass },
    });
  }

  /** A new tensor `x · scale` (the scaled backward seed), after applying the cap. */
  scale(x: Tensor): Tensor {
    if (x.dtype !== "f32") throw new Error(`LossScaler.scale: expected f32, got ${x.dtype}`);
    this.#run(0, this.#scratch, null, 1, [1]);
    const y = Tensor.empty(x.shape, "f32", "loss scaler scale");
    this.#run(1, y, x, x.size, grid1d(x.size));
    return y;
  }

  /**
   * Divides the gradients by the scale in place and sets `foundInf` when any result is Inf or
   * NaN (PyTorch `unscale_`). Call once per step, before clipping and the optimiser step.
   */
  unscale(grads: readonly Tensor[]): void {
    this.#run(4, this.#scratch, null, 1, [1]);
    for (const g of grads) {
      if (g.dtype !== "f32") {
        throw new Error(
          `LossScaler.unscale: gradients must be f32, got ${g.dtype} ${fmtShape(g.shape)}`,
        );
      }
      this.#run(2, g, null, g.size, grid1d(g.size));
    }
  }

  /** Updates the scale after the step (PyTorch `update()`). */
  update(): void {
    this.#run(3, this.#scratch, null, 1, [1]);
  }

  /** Restores a state read by `read()` (resume): scale, growth tracker, skipped steps. */
  restore(state: LossScalerState): void {
    gpu().upload(
      this.scaleTensor.buffer,
      this.scaleTensor.byteOffset,
      Float32Array.of(state.scale),
    );
    gpu().upload(
      this.ctl.buffer,
      this.ctl.byteOffset,
      Int32Array.of(0, state.growthTracker, state.skippedSteps),
    );
    this.#last = { ...state, foundInf: false };
  }

  /** Reads the scale and counters back (waits for the recorded work). */
  async read(): Promise<LossScalerState> {
    const [s, c] = await Promise.all([this.scaleTensor.read(), this.ctl.read()]);
    this.#last = {
      scale: s[0],
      foundInf: c[0] !== 0,
      growthTracker: c[1],
      skippedSteps: c[2],
    };
    return this.#last;
  }

  /** The state from the last `read()` (for logging without waiting). */
  get last(): LossScalerState {
    return this.#last;
  }

  /** Frees the GPU state. */
  dispose(): void {
    this.scaleTensor.dispose();
    this.foundInf.dispose();
    this.ctl.dispose();
    this.#scratch.dispose();
  }
}
