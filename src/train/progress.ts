/**
 * A one-line progress bar for interactive runs: step/total, a bar, samples/s, ETA and the
 * latest loss, redrawn in place at most a few times a second. When stdout is not a terminal
 * (a log file, CI, a pipe) it writes nothing at all, so `training.log` and captured output stay
 * clean.
 *
 * @module
 */

/** Where the bar draws: a terminal-like sink. */
export interface ProgressSink {
  /** Writes bytes synchronously. */
  writeSync(p: Uint8Array): number;
  /** Whether it is a terminal. */
  isTerminal(): boolean;
}

/** Options of {@link ProgressBar}. */
export interface ProgressOptions {
  /** Total global steps of the run. */
  total: number;
  /** Step the run starts from (resume), for the ETA; default 0. */
  startStep?: number;
  /** Output (default `Deno.stdout`). */
  sink?: ProgressSink;
  /** Width in columns (default: the terminal's, else 100). */
  columns?: number;
  /** Minimum milliseconds between redraws (default 200). */
  intervalMs?: number;
  /** Clock in milliseconds (default `performance.now`), for tests. */
  now?: () => number;
}

/** What a redraw shows. */
export interface ProgressInfo {
  /** Samples per second (all ranks); omitted: shown as "-". */
  samplesPerSec?: number;
  /** Latest (or running mean) loss. */
  loss?: number;
  /** Epoch (from 0). */
  epoch?: number;
}

/** `h:mm:ss` of a number of seconds ("-" when unknown). */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return "-";
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600), m = Math.floor(s / 60) % 60, r = s % 60;
  return `${h}:${String(m).padStart(2, "0")}:${String(r).padStart(2, "0")}`;
}

/** The bar's text for a given state (no control characters), fitted to `columns`. */
export function progressLine(
  step: number,
  total: number,
  etaSeconds: number,
  info: ProgressInfo,
  columns: number,
): string {
  const frac = total > 0 ? Math.min(1, Math.max(0, step / total)) : 0;
  const pct = `${(frac * 100).toFixed(1).padStart(5)}%`;
  const parts = [
    info.epoch !== undefined ? `epoch ${info.epoch}` : "",
    `${step}/${total}`,
  ].filter(Boolean).join(" ");
  const speed = info.samplesPerSec !== undefined && Number.isFinite(info.samplesPerSec)
    ? `${info.samplesPerSec.toFixed(1)} samples/s`
    : "- samples/s";
  const loss = info.loss !== undefined ? `loss ${info.loss.toFixed(4)}` : "";
  const tail = [speed, `ETA ${formatDuration(etaSeconds)}`, loss].filter(Boolean).join("  ");
  const fixed = `${parts} [] ${pct}  ${tail}`;
  const barWidth = Math.max(0, Math.min(40, columns - 1 - fixed.length));
  const filled = Math.round(frac * barWidth);
  const bar = barWidth > 0 ? ` [${"#".repeat(filled)}${".".repeat(barWidth - filled)}]` : "";
  const line = `${parts}${bar} ${pct}  ${tail}`;
  return line.length > columns - 1 ? line.slice(0, Math.max(0, columns - 1)) : line;
}

/** The progress bar; inert unless its sink is a terminal. */
export class ProgressBar {
  /** Whether it draws at all (the sink is a terminal). */
  readonly enabled: boolean;
  readonly #opts: ProgressOptions;
  readonly #sink: ProgressSink;
  readonly #now: () => number;
  readonly #start: number;
  #last = -Infinity;
  #shown = false;
  #step: number;
  #info: ProgressInfo = {};

  /** Creates the bar (nothing is drawn until the first update). */
  constructor(opts: ProgressOptions) {
    this.#opts = opts;
    this.#sink = opts.sink ?? Deno.stdout;
    let tty = false;
    try {
      tty = this.#sink.isTerminal();
    } catch {
      tty = false;
    }
    this.enabled = tty;
    this.#now = opts.now ?? (() => performance.now());
    this.#start = this.#now();
    this.#step = opts.startStep ?? 0;
  }

  #columns(): number {
    if (this.#opts.columns) return this.#opts.columns;
    try {
      return Deno.consoleSize().columns;
    } catch {
      return 100;
    }
  }

  #draw(): void {
    const o = this.#opts;
    const done = this.#step - (o.startStep ?? 0);
    const elapsed = (this.#now() - this.#start) / 1000;
    const eta = done > 0 ? elapsed / done * (o.total - this.#step) : NaN;
    const line = progressLine(this.#step, o.total, eta, this.#info, this.#columns());
    this.#sink.writeSync(new TextEncoder().encode(`\r${line}\x1b[K`));
    this.#shown = true;
  }

  /** Records progress; redraws when enough time has passed (always at the last step). */
  update(step: number, info: ProgressInfo = {}): void {
    if (!this.enabled) return;
    this.#step = step;
    this.#info = { ...this.#info, ...info };
    const t = this.#now();
    if (t - this.#last < (this.#opts.intervalMs ?? 200) && step < this.#opts.total) return;
    this.#last = t;
    this.#draw();
  }

  /** Erases the bar from its line (call before printing a log line); the next update redraws it. */
  clear(): void {
    if (!this.enabled || !this.#shown) return;
    this.#sink.writeSync(new TextEncoder().encode("\r\x1b[K"));
    this.#shown = false;
    this.#last = -Infinity;
  }

  /** Draws the final state and ends the line. */
  done(): void {
    if (!this.enabled) return;
    this.#draw();
    this.#sink.writeSync(new TextEncoder().encode("\n"));
    this.#shown = false;
  }
}
