/**
 * Modules: named parameters, buffers, counters and children whose dotted names are PyTorch
 * state-dict keys; train/eval mode; state dicts in and out with strict key and shape checks;
 * and activation checkpointing (recompute a module's forward during backward).
 *
 * @module
 */
import { backward, gradEnabled, noGrad, record, withGrad } from "../tensor/autograd.ts";
import { fmtShape, Tensor } from "../tensor/tensor.ts";
import { type HostTensor, toFloat32 } from "../io/host_tensor.ts";
import { axpy, copy } from "../tensor/ops/elementwise.ts";

/** A module of a network. Subclasses register their pieces and implement `forward`. */
export abstract class Module {
  /** Training (batch statistics, dropout) or eval mode. */
  training = true;
  /** Recompute this module's forward in backward instead of keeping its activations. */
  checkpoint = false;
  #params = new Map<string, Tensor>();
  #buffers = new Map<string, Tensor>();
  #counters = new Map<string, { value: number }>();
  #children = new Map<string, Module>();

  /** The computation. */
  abstract forward(x: Tensor): Tensor;

  /** Runs `forward`, through activation checkpointing when `checkpoint` is set. */
  call(x: Tensor): Tensor {
    if (!this.checkpoint || !this.training || !gradEnabled()) return this.forward(x);
    return checkpointed(this, x);
  }

  /** Registers a parameter (trainable unless `trainable` is false). */
  protected param(name: string, t: Tensor, trainable = true): Tensor {
    t.requiresGrad = trainable;
    t.name = name;
    this.#params.set(name, t.keep());
    return t;
  }
  /** Registers a buffer (state that is not trained, e.g. running statistics). */
  protected buffer(name: string, t: Tensor): Tensor {
    this.#buffers.set(name, t.keep());
    return t;
  }
  /** Registers an integer counter kept on the host (PyTorch `num_batches_tracked`, int64). */
  protected counter(name: string): { value: number } {
    const c = { value: 0 };
    this.#counters.set(name, c);
    return c;
  }
  /** Registers a child module under `name`. */
  protected child<M extends Module>(name: string, m: M): M {
    this.#children.set(name, m);
    return m;
  }

  /** Direct children with their names. */
  children(): [string, Module][] {
    return [...this.#children];
  }

  /** Every parameter with its dotted name, in registration order (as PyTorch). */
  namedParameters(prefix = ""): [string, Tensor][] {
    const out: [string, Tensor][] = [];
    for (const [n, t] of this.#params) out.push([prefix + n, t]);
    for (const [n, c] of this.#children) out.push(...c.namedParameters(`${prefix}${n}.`));
    return out;
  }

  /** The parameters that require gradients. */
  trainableParameters(): Tensor[] {
    return this.namedParameters().map(([, t]) => t).filter((t) => t.requiresGrad);
  }

  /** Every state entry (parameters, buffers, counters) in PyTorch's state-dict order. */
  stateEntries(prefix = ""): [string, Tensor | { value: number }][] {
    const out: [string, Tensor | { value: number }][] = [];
    for (const [n, t] of this.#params) out.push([prefix + n, t]);
    for (const [n, t] of this.#buffers) out.push([prefix + n, t]);
    for (const [n, c] of this.#counters) out.push([prefix + n, c]);
    for (const [n, c] of this.#children) out.push(...c.stateEntries(`${prefix}${n}.`));
    return out;
  }

  /** Sets train (true) or eval (false) mode on this module and all below it. */
  train(mode = true): this {
    this.training = mode;
    for (const c of this.#children.values()) c.train(mode);
    return this;
  }
  /** Eval mode. */
  eval(): this {
    return this.train(false);
  }

  /** Parameters' element count (trainable and frozen). */
  parameterCount(): number {
    return this.namedParameters().reduce((s, [, t]) => s + t.size, 0);
  }

  /** Reads the state dict back to the host (f32 tensors and i64 counters). */
  async stateDict(): Promise<Map<string, HostTensor>> {
    const entries = this.stateEntries();
    // start every read before awaiting any, so they share one submit
    const reads = entries.map(([, e]) => e instanceof Tensor ? e.readFloat() : null);
    const out = new Map<string, HostTensor>();
    for (let i = 0; i < entries.length; i++) {
      const [name, e] = entries[i];
      if (e instanceof Tensor) {
        out.set(name, { dtype: "float32", shape: [...e.shape], data: await reads[i]! });
      } else out.set(name, { dtype: "int64", shape: [], data: BigInt64Array.of(BigInt(e.value)) });
    }
    return out;
  }

  /**
   * Loads a state dict: every key must exist with the same shape (all problems are listed in
   * one error). Float data of any precision is converted to this module's tensors.
   */
  loadStateDict(sd: Map<string, HostTensor>, source = "state dict"): void {
    const entries = new Map(this.stateEntries());
    const missing = [...entries.keys()].filter((k) => !sd.has(k));
    const unexpected = [...sd.keys()].filter((k) => !entries.has(k));
    const wrong: string[] = [];
    for (const [k, e] of entries) {
      const h = sd.get(k);
      if (!h) continue;
      const want = e instanceof Tensor ? e.shape : [];
      const hs = h.shape;
      if (hs.length !== want.length || hs.some((d, i) => d !== want[i])) {
        wrong.push(`${k}: file ${fmtShape(hs)}, model ${fmtShape(want)}`);
      }
    }
    if (missing.length || unexpected.length || wrong.length) {
      const parts = [];
      if (missing.length) parts.push(`missing keys (${missing.length}): ${missing.join(", ")}`);
      if (unexpected.length) {
        parts.push(`unexpected keys (${unexpected.length}): ${unexpected.join(", ")}`);
      }
      if (wrong.length) parts.push(`wrong shapes (${wrong.length}): ${wrong.join("; ")}`);
      throw new Error(`cannot load ${source}:\n  ${parts.join("\n  ")}`);
    }
    for (const [k, e] of entries) {
      const h = sd.get(k)!;
      if (e instanceof Tensor) {
        // write into the existing tensor, so references held elsewhere stay valid
        const src = Tensor.fromArray(toFloat32(h), e.shape, e.dtype);
        axpy(e, src, 1, 0);
        src.dispose();
      } else e.value = Number(toFloat32(h)[0]);
    }
  }
}

/**
 * Runs `m.forward(x)` without recording and records one node whose backward re-runs the
 * forward with gradients on and back-propagates through it. Running statistics are not
 * updated a second time by the recomputation.
 */
function checkpointed(m: Module, x: Tensor): Tensor {
  const out = noGrad(() => m.forward(x));
  return record(
    `checkpoint(${m.constructor.name})`,
    [x, ...m.trainableParameters()],
    out,
    (g, [xs]) => {
      const xin = withGrad(() => copy(xs));
      xin.requiresGrad = true;
      const wasTraining = m.training;
      const y = withGrad(() => withFrozenStats(m, () => m.forward(xin)));
      backward(y, g);
      m.training = wasTraining;
      const gx = xin.grad;
      xin.grad = null;
      // parameter gradients were accumulated by the inner backward; none to return for them
      return [gx, ...m.trainableParameters().map(() => null)];
    },
    [x],
  );
}

let frozenStats = false;
/** Whether BatchNorm layers must not update running statistics (checkpoint recompute). */
export function statsFrozen(): boolean {
  return frozenStats;
}
function withFrozenStats<R>(_m: Module, fn: () => R): R {
  const was = frozenStats;
  frozenStats = true;
  try {
    return fn();
  } finally {
    frozenStats = was;
  }
}
