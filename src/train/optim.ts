/**
 * Optimisers with PyTorch semantics, updating on the GPU: SGD (momentum, dampening, Nesterov,
 * weight decay added to the gradient, momentum buffer = gradient on the first step) and AdamW
 * (decoupled weight decay, bias correction, eps outside the square root). Dense updates for
 * parameters, and sparse row updates for Partial FC's sampled class centres: only the listed
 * rows and their state change.
 *
 * Each step starts with a tick on the GPU that reads an optional skip flag (a loss scaler's
 * found-infinity flag): a skipped step changes nothing, and the step count t (for AdamW's bias
 * correction and SGD's first step) counts only the steps taken, as `GradScaler.step` does —
 * without reading anything back.
 *
 * @module
 */
import updateSrc from "../../kernels/optim_update.wgsl" with { type: "text" };
import tickSrc from "../../kernels/optim_tick.wgsl" with { type: "text" };
import { gpu } from "../gpu/device.ts";
import { f32, kernel } from "../gpu/kernel.ts";
import { fill } from "../tensor/ops/elementwise.ts";
import { grid1d } from "../tensor/launch.ts";
import { fmtShape, Tensor } from "../tensor/tensor.ts";

const UPDATE = kernel("optim_update", updateSrc);
const TICK = kernel("optim_tick", tickSrc);

/** SGD settings (PyTorch `torch.optim.SGD`). */
export interface SgdConfig {
  /** Selects SGD. */
  kind: "sgd";
  /** Learning rate. */
  lr: number;
  /** Momentum μ; default 0. */
  momentum?: number;
  /** L2 weight decay added to the gradient; default 0. */
  weightDecay?: number;
  /** Dampening; default 0. */
  dampening?: number;
  /** Nesterov momentum; default false. */
  nesterov?: boolean;
}

/** AdamW settings (PyTorch `torch.optim.AdamW`). */
export interface AdamWConfig {
  /** Selects AdamW. */
  kind: "adamw";
  /** Learning rate; default 1e-3. */
  lr?: number;
  /** (β1, β2); default (0.9, 0.999). */
  betas?: readonly [number, number];
  /** Added to the denominator outside the square root; default 1e-8. */
  eps?: number;
  /** Decoupled weight decay; default 1e-2. */
  weightDecay?: number;
}

/** Either optimiser's settings. */
export type OptimizerConfig = SgdConfig | AdamWConfig;

/** Options of `Optimizer`. */
export interface OptimizerOptions {
  /** u32 [1]: skip the step when non-zero (e.g. `LossScaler.foundInf`). */
  skipIf?: Tensor;
}

/** Number of f32 state tensors per parameter element (momentum; or AdamW's m and v). */
export function stateSlots(c: OptimizerConfig): number {
  return c.kind === "adamw" ? 2 : (c.momentum ?? 0) !== 0 ? 1 : 0;
}

function validate(c: OptimizerConfig): void {
  const bad = (what: string, v: number, range: string) => {
    throw new Error(`${c.kind}: ${what} ${v} is outside the valid range ${range}`);
  };
  const lr = c.lr ?? 1e-3;
  if (!(lr >= 0)) bad("lr", lr, "[0, ∞)");
  if (!((c.weightDecay ?? 0) >= 0)) bad("weight decay", c.weightDecay!, "[0, ∞)");
  if (c.kind === "sgd") {
    if (!((c.momentum ?? 0) >= 0)) bad("momentum", c.momentum!, "[0, ∞)");
    if (c.nesterov && ((c.momentum ?? 0) <= 0 || (c.dampening ?? 0) !== 0)) {
      throw new Error("sgd: Nesterov momentum requires a momentum > 0 and zero dampening");
    }
  } else {
    const [b1, b2] = c.betas ?? [0.9, 0.999];
    if (!(b1 >= 0 && b1 < 1)) bad("beta1", b1, "[0, 1)");
    if (!(b2 >= 0 && b2 < 1)) bad("beta2", b2, "[0, 1)");
    if (!((c.eps ?? 1e-8) >= 0)) bad("eps", c.eps!, "[0, ∞)");
  }
}

/** An optimiser over a list of parameters (and, through `updateRows`, chunked row storage). */
export class Optimizer {
  /** The settings (lr is read from `lr`). */
  readonly config: OptimizerConfig;
  /** The parameters `step()` updates. */
  readonly params: readonly Tensor[];
  /** The learning rate of the next step (set by a schedule). */
  lr: number;
  /** GPU step control: u32 [t, skip]. */
  readonly ctl: Tensor;
  #skipIf?: Tensor;
  #state = new Map<Tensor, Tensor[]>();

  /** Creates the optimiser; state is allocated (zeros) on first use. */
  constructor(params: readonly Tensor[], config: OptimizerConfig, opts: OptimizerOptions = {}) {
    validate(config);
    this.config = config;
    this.params = params;
    this.lr = config.lr ?? 1e-3;
    this.#skipIf = opts.skipIf;
    this.ctl = Tensor.fromArray(new Int32Array([0, 0]), [2], "i32").keep();
  }

  /** State tensors per element (see `stateSlots`). */
  get stateSlots(): number {
    return stateSlots(this.config);
  }

  /** The state tensors of `param` (momentum; or m, v), allocated as zeros on first use. */
  state(param: Tensor): Tensor[] {
    let s = this.#state.get(param);
    if (!s) {
      s = Array.from({ length: this.stateSlots }, () => fill(param.shape, 0).keep());
      this.#state.set(param, s);
    }
    return s;
  }

  /** Starts a step: on the GPU, reads the skip flag and advances t unless skipped. */
  begin(): void {
    const g = gpu();
    g.dispatch(TICK, {
      label: "optimizer tick",
      bindings: [this.ctl, this.#skipIf ?? g.dummy],
      params: [],
      workgroups: [1],
      overrides: { HAS_FLAG: this.#skipIf ? 1 : 0 },
    });
  }

  /** One step over every parameter that has a gradient (PyTorch skips those without). */
  step(): void {
    this.begin();
    for (const p of this.params) if (p.grad) this.update(p, p.grad, this.state(p));
  }

  /** Zeroes the gradients in place (PyTorch 1.x `zero_grad()`). */
  zeroGrad(): void {
    for (const p of this.params) {
      if (p.grad) gpu().upload(p.grad.buffer, p.grad.byteOffset, new Float32Array(p.grad.size));
    }
  }

  /** Dense update of `param` from `grad` with `state` (inside a step begun by `begin`). */
  update(param: Tensor, grad: Tensor, state: readonly Tensor[]): void {
    if (grad.size !== param.size) {
      throw new Error(
        `optimizer: gradient ${fmtShape(grad.shape)} does not match parameter ` +
          `${fmtShape(param.shape)}${param.name ? ` (${param.name})` : ""}`,
      );
    }
    this.#dispatch(param, grad, state, null, param.size, 1);
  }

  /**
   * Sparse update (inside a step begun by `begin`): gradient row j updates row `rows[j]` of
   * `param` and of each state tensor; other rows are untouched. `rows` null: row j is row j.
   * @param param [R, E] parameter rows (a weight chunk)
   * @param grad [n, E] gradients of the listed rows
   * @param state [R, E] state chunks matching `param`
   * @param rows i32 [n] row indices into `param`, or null
   */
  updateRows(
    param: Tensor,
    grad: Tensor,
    state: readonly Tensor[],
    rows: Tensor | null,
  ): void {
    const E = param.shape[1];
    const n = grad.shape[0];
    if (param.rank !== 2 || grad.rank !== 2 || grad.shape[1] !== E) {
      throw new Error(
        `optimizer: row gradient ${fmtShape(grad.shape)} does not match rows of ` +
          `${fmtShape(param.shape)}`,
      );
    }
    if (rows && rows.size !== n) {
      throw new Error(`optimizer: ${rows.size} row indices for ${n} gradient rows`);
    }
    if (!rows && n > param.shape[0]) {
      throw new Error(`optimizer: ${n} gradient rows for ${param.shape[0]} parameter rows`);
    }
    this.#dispatch(param, grad, state, rows, n * E, E);
  }

  #dispatch(
    param: Tensor,
    grad: Tensor,
    state: readonly Tensor[],
    rows: Tensor | null,
    n: number,
    E: number,
  ): void {
    if (param.dtype !== "f32" || grad.dtype !== "f32") {
      throw new Error(`optimizer: parameters and gradients must be f32 (master weights)`);
    }
    if (state.length !== this.stateSlots) {
      throw new Error(`optimizer: ${state.length} state tensors, expected ${this.stateSlots}`);
    }
    const g = gpu();
    const c = this.config;
    const sgd = c.kind === "sgd";
    const [b1, b2] = sgd ? [0, 0] : c.betas ?? [0.9, 0.999];
    // distinct dummies where a state slot is unused (both are bound read_write)
    const s1 = state[0] ?? Optimizer.#spare(0);
    const s2 = state[1] ?? Optimizer.#spare(1);
    g.dispatch(UPDATE, {
      label: rows ? `${c.kind} rows` : c.kind,
      bindings: [param, grad, s1, s2, rows ?? g.dummy, this.ctl],
      params: [
        n,
        E,
        f32(this.lr),
        f32(c.weightDecay ?? (sgd ? 0 : 1e-2)),
        f32(sgd ? c.momentum ?? 0 : 0),
        f32(sgd ? c.dampening ?? 0 : 0),
        f32(b1),
        f32(b2),
        f32(sgd ? 0 : c.eps ?? 1e-8),
        f32(sgd ? 0 : Math.log(b1)),
        f32(sgd ? 0 : Math.log(b2)),
      ],
      workgroups: grid1d(n),
      overrides: {
        KIND: sgd ? 0 : 1,
        ROWS: rows ? 1 : 0,
        NESTEROV: sgd && c.nesterov ? 1 : 0,
      },
    });
  }

  static #spares: Tensor[] = [];
  static #spare(i: number): Tensor {
    return Optimizer.#spares[i] ??= Tensor.empty([64], "f32", "optimizer spare").keep();
  }

  /** Steps taken so far (reads the GPU counter back). */
  async stepCount(): Promise<number> {
    return (await this.ctl.read())[0];
  }

  /** Frees the state and the control buffer. */
  dispose(): void {
    for (const s of this.#state.values()) for (const t of s) t.dispose();
    this.#state.clear();
    this.ctl.dispose();
  }
}
