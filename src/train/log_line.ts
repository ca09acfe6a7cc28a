/**
 * The text of `training.log`, character for character as the reference writes it
 * (arcface_torch 2021, `utils/utils_logging.py` and `utils/utils_callbacks.py`):
 *
 * - every record is `Training: <asctime>-<message>`, asctime as Python's logging default
 *   (`2021-08-10 12:34:56,789`, local time);
 * - every `frequent` steps:
 *   `Speed %.2f samples/sec   Loss %.4f   LearningRate %.4f   Epoch: %d   Global Step: %d   `
 *   then `Fp16 Grad Scale: %2.f   Required: %1.f hours` with fp16, or just
 *   `Required: %1.f hours` without (the later trainer prints the rate with `%.6f`);
 * - per validation target: `[%s][%d]XNorm: %f`, `[%s][%d]Accuracy-Flip: %1.5f+-%1.5f`,
 *   `[%s][%d]Accuracy-Highest: %1.5f`.
 *
 * Numbers go through {@link pyFixed}, which rounds like Python's `%f` (the exact binary value,
 * ties to even), not like `Number.prototype.toFixed`.
 *
 * @module
 */

/**
 * Python's `'%{width}.{precision}f' % x`: exact decimal rounding of the double (ties to even),
 * `inf`/`nan` spelled as Python does, right-aligned to `width`.
 */
export function pyFixed(x: number, precision: number, width = 0): string {
  if (!(Number.isInteger(precision) && precision >= 0 && precision <= 100)) {
    throw new Error(`pyFixed: precision ${precision} must be an integer in [0, 100]`);
  }
  let s: string;
  if (Number.isNaN(x)) s = "nan";
  else if (!Number.isFinite(x)) s = x > 0 ? "inf" : "-inf";
  else {
    const neg = x < 0 || Object.is(x, -0);
    s = (neg ? "-" : "") + fixedDigits(Math.abs(x), precision);
  }
  return s.padStart(width, " ");
}

/** Exact `%.pf` of a finite non-negative double. */
function fixedDigits(x: number, p: number): string {
  const view = new DataView(new ArrayBuffer(8));
  view.setFloat64(0, x);
  const bits = view.getBigUint64(0);
  const expBits = Number((bits >> 52n) & 0x7ffn);
  const frac = bits & ((1n << 52n) - 1n);
  const m = expBits === 0 ? frac : frac | (1n << 52n);
  const e = expBits === 0 ? -1074 : expBits - 1075;
  let q: bigint;
  if (e >= 0) q = (m << BigInt(e)) * 10n ** BigInt(p);
  else {
    const k = BigInt(-e);
    const num = m * 10n ** BigInt(p);
    q = num >> k;
    const twiceRem = (num - (q << k)) << 1n;
    const den = 1n << k;
    if (twiceRem > den || (twiceRem === den && (q & 1n) === 1n)) q += 1n;
  }
  if (p === 0) return q.toString();
  const digits = q.toString().padStart(p + 1, "0");
  return `${digits.slice(0, -p)}.${digits.slice(-p)}`;
}

/**
 * Python's `repr(float)`: the shortest round-tripping digits, positional between 1e-4 and
 * 1e16 (always with a fraction, `1.0`), scientific outside (`1e-05`, `1e+16`).
 */
export function pyFloatRepr(x: number): string {
  if (Number.isNaN(x)) return "nan";
  if (!Number.isFinite(x)) return x > 0 ? "inf" : "-inf";
  const sign = x < 0 || Object.is(x, -0) ? "-" : "";
  const [mant, expStr] = Math.abs(x).toExponential().split("e");
  const digits = mant.replace(".", "");
  const exp = Number(expStr);
  if (exp < -4 || exp >= 16) {
    const m = digits.length > 1 ? `${digits[0]}.${digits.slice(1)}` : digits;
    const es = `${exp < 0 ? "-" : "+"}${String(Math.abs(exp)).padStart(2, "0")}`;
    return `${sign}${m}e${es}`;
  }
  if (exp < 0) return `${sign}0.${"0".repeat(-exp - 1)}${digits}`;
  const intPart = digits.slice(0, exp + 1).padEnd(exp + 1, "0");
  const fracPart = digits.slice(exp + 1) || "0";
  return `${sign}${intPart}.${fracPart}`;
}

/** Python's `%d` of a number: truncated towards zero. */
function pyInt(x: number): string {
  return Number.isFinite(x) ? String(Math.trunc(x)) : String(x);
}

/** Python logging's default `asctime` in local time: `YYYY-MM-DD hh:mm:ss,mmm`. */
export function asctime(date: Date = new Date()): string {
  const p = (n: number, w = 2) => String(n).padStart(w, "0");
  return `${date.getFullYear()}-${p(date.getMonth() + 1)}-${p(date.getDate())} ` +
    `${p(date.getHours())}:${p(date.getMinutes())}:${p(date.getSeconds())},` +
    p(date.getMilliseconds(), 3);
}

/** A record of `training.log`: the reference's formatter `Training: %(asctime)s-%(message)s`. */
export function formatRecord(message: string, date: Date = new Date()): string {
  return `Training: ${asctime(date)}-${message}`;
}

/** The values of one training log line. */
export interface TrainLineFields {
  /** Samples per second over all ranks since the previous line. */
  speed: number;
  /** Mean loss since the previous line. */
  loss: number;
  /** Current learning rate. */
  lr: number;
  /** Epoch, counted from 0 as the reference does. */
  epoch: number;
  /** Global step, counted from 1. */
  globalStep: number;
  /** The fp16 loss scale; given (not undefined/null) selects the fp16 variant of the line. */
  gradScale?: number | null;
  /** Estimated hours to the end. */
  requiredHours: number;
}

/** Options of {@link formatTrainLine}. */
export interface TrainLineOptions {
  /** Digits of the learning rate: 4 in the 2021 trainer (default), 6 in the later one. */
  lrPrecision?: number;
}

/**
 * The reference's step line (message only; wrap it with {@link formatRecord}), e.g.
 * `Speed 5500.12 samples/sec   Loss 12.3456   LearningRate 0.1000   Epoch: 0   Global Step: 100   Fp16 Grad Scale: 16384   Required: 31 hours`.
 */
export function formatTrainLine(f: TrainLineFields, opts: TrainLineOptions = {}): string {
  const head = `Speed ${pyFixed(f.speed, 2)} samples/sec   Loss ${pyFixed(f.loss, 4)}   ` +
    `LearningRate ${pyFixed(f.lr, opts.lrPrecision ?? 4)}   Epoch: ${pyInt(f.epoch)}   ` +
    `Global Step: ${pyInt(f.globalStep)}   `;
  const scale = f.gradScale !== undefined && f.gradScale !== null
    ? `Fp16 Grad Scale: ${pyFixed(f.gradScale, 0, 2)}   `
    : "";
  return `${head}${scale}Required: ${pyFixed(f.requiredHours, 0, 1)} hours`;
}

/** The result of one validation target at one step. */
export interface ValidationFields {
  /** Target name (`lfw`, `cfp_fp`, …). */
  target: string;
  /** Global step. */
  globalStep: number;
  /** Mean embedding norm before normalisation. */
  xnorm: number;
  /** Mean accuracy over the 10 folds (flip-summed embeddings), in [0, 1]. */
  acc: number;
  /** Standard deviation of the fold accuracies. */
  std: number;
  /** Highest `acc` of this target so far (including this one). */
  highest: number;
}

/** The reference's three validation lines for one target (messages only). */
export function formatValidationLines(v: ValidationFields): string[] {
  const at = `[${v.target}][${pyInt(v.globalStep)}]`;
  return [
    `${at}XNorm: ${pyFixed(v.xnorm, 6)}`,
    `${at}Accuracy-Flip: ${pyFixed(v.acc, 5, 1)}+-${pyFixed(v.std, 5, 1)}`,
    `${at}Accuracy-Highest: ${pyFixed(v.highest, 5, 1)}`,
  ];
}

/**
 * Hours left as the 2021 trainer estimates them: elapsed / ((step + 1) / total) − elapsed,
 * elapsed counted from the logging callback's creation.
 */
export function requiredHours(elapsedSeconds: number, globalStep: number, totalSteps: number) {
  const now = elapsedSeconds / 3600;
  return now / ((globalStep + 1) / totalSteps) - now;
}

/** Options of {@link LogTimer}. */
export interface LogTimerOptions {
  /** Log every this many global steps. */
  frequent: number;
  /** Total steps of the run (for the estimate of hours left). */
  totalSteps: number;
  /** Batch size per rank. */
  batchSize: number;
  /** Number of ranks. */
  worldSize: number;
  /**
   * Whether the first due step only starts the clock and prints nothing, as the reference's
   * CallBackLogging does (default true).
   */
  skipFirst?: boolean;
  /** Clock in milliseconds (default `performance.now`), for tests. */
  now?: () => number;
}

/** What {@link LogTimer.due} measured for a line. */
export interface LogTiming {
  /** Samples per second over all ranks since the previous line (Infinity for zero time). */
  speed: number;
  /** Hours left, {@link requiredHours}. */
  requiredHours: number;
}

/**
 * The timing half of the reference's logging callback: which steps log, the speed since the
 * previous line, and the hours left.
 */
export class LogTimer {
  /** Settings. */
  readonly options: Readonly<LogTimerOptions>;
  readonly #now: () => number;
  readonly #start: number;
  #tic: number | null = null;

  /** Starts the clock (the reference's `time_start` is the callback's creation). */
  constructor(options: LogTimerOptions) {
    if (!(Number.isInteger(options.frequent) && options.frequent >= 1)) {
      throw new Error(`LogTimer: frequent ${options.frequent} must be an integer ≥ 1`);
    }
    this.options = options;
    this.#now = options.now ?? (() => performance.now());
    this.#start = this.#now();
    if (options.skipFirst === false) this.#tic = this.#start;
  }

  /**
   * Call once per global step (from 1): the timing of a line when this step logs, else null.
   * The caller resets its loss average after a line.
   */
  due(globalStep: number): LogTiming | null {
    const o = this.options;
    if (!(globalStep > 0 && globalStep % o.frequent === 0)) return null;
    const t = this.#now();
    if (this.#tic === null) {
      this.#tic = t;
      return null;
    }
    const dt = (t - this.#tic) / 1000;
    const speed = dt > 0 ? o.frequent * o.batchSize / dt * o.worldSize : Infinity;
    this.#tic = t;
    return {
      speed,
      requiredHours: requiredHours((t - this.#start) / 1000, globalStep, o.totalSteps),
    };
  }
}
