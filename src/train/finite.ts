/**
 * The non-finite guard of fp32 training: checks recorded on the GPU in a step's execution order
 * set one flag to the smallest code of a tensor holding Inf or NaN, and the host reads the flag
 * (one step behind if it likes) and stops with the step number and the first tensor that went
 * non-finite.
 *
 * @module
 */
import checkSrc from "../../kernels/finite_check.wgsl" with { type: "text" };
import { gpu } from "../gpu/device.ts";
import { kernel } from "../gpu/kernel.ts";
import { grid1d } from "../tensor/launch.ts";
import { Tensor } from "../tensor/tensor.ts";

const CHECK = kernel("finite_check", checkSrc);
const CLEAR = 0xffffffff;

/** Raised when a step produced Inf or NaN. */
export class NonFiniteError extends Error {
  /** The step number. */
  readonly step: number;
  /** The first tensor (in execution order) found non-finite. */
  readonly tensor: string;
  /** Creates the error. */
  constructor(step: number, tensor: string, detail = "") {
    super(`step ${step}: non-finite values (Inf/NaN); first non-finite tensor: ${tensor}${detail}`);
    this.name = "NonFiniteError";
    this.step = step;
    this.tensor = tensor;
  }
}

/** Records non-finite checks of one step at a time and reports the first offender. */
export class FiniteGuard {
  /** The flag (u32 [1]), for kernels that check inline (`atomicMin(flag, code)`). */
  readonly flag: Tensor;
  #names: string[] = [];
  #step = -1;

  /** Allocates the flag. */
  constructor() {
    this.flag = Tensor.fromArray(new Int32Array([-1]), [1], "i32").keep();
  }

  /** Starts the checks of step `step` (clears the flag). */
  begin(step: number): void {
    this.#step = step;
    this.#names = [];
    gpu().upload(this.flag.buffer, this.flag.byteOffset, new Uint32Array([CLEAR]));
  }

  /** A code for an inline check of `name`, ordered after every earlier check. */
  code(name: string): number {
    this.#names.push(name);
    return this.#names.length;
  }

  /** Records a check of an f32 tensor. */
  check(name: string, t: Tensor): void {
    if (t.dtype !== "f32") throw new Error(`FiniteGuard.check: ${name} is ${t.dtype}, not f32`);
    const code = this.code(name);
    gpu().dispatch(CHECK, {
      label: "finite check",
      bindings: [t, this.flag],
      params: [t.size, code],
      workgroups: grid1d(t.size),
    });
  }

  /** The first non-finite tensor of the current step, or null (reads the flag back). */
  async firstNonFinite(): Promise<string | null> {
    const names = this.#names.slice();
    const v = new Uint32Array((await this.flag.read()).buffer)[0];
    return v === CLEAR ? null : names[v - 1] ?? `check #${v}`;
  }

  /**
   * Throws `NonFiniteError` naming the step and the first non-finite tensor, if any.
   * @throws NonFiniteError
   */
  async assertFinite(): Promise<void> {
    const step = this.#step;
    const bad = await this.firstNonFinite();
    if (bad !== null) throw new NonFiniteError(step, bad);
  }

  /** Frees the flag. */
  dispose(): void {
    this.flag.dispose();
  }
}
