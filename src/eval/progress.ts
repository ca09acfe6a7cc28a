/**
 * A progress line on stderr for long evaluation runs: done/total, percent, images/s and ETA.
 * Silent for the first seconds (short runs print nothing); on a terminal one line rewritten
 * in place at most 5 times a second, otherwise a plain line every 10 s.
 *
 * @module
 */

/** Options of {@link Progress}. */
export interface ProgressOptions {
  /** Label before the figures. */
  label: string;
  /** Seconds before the first report (default 2). */
  delay?: number;
  /** Write here instead of stderr (tests). */
  write?: (s: string) => void;
  /** Force terminal (rewrite in place) or line mode. */
  tty?: boolean;
}

/** Reports progress of a counted task. */
export class Progress {
  readonly #label: string;
  readonly #delay: number;
  readonly #write: (s: string) => void;
  readonly #tty: boolean;
  #last = -Infinity;
  #shown = false;

  /** Creates a reporter. */
  constructor(opts: ProgressOptions) {
    this.#label = opts.label;
    this.#delay = opts.delay ?? 2;
    const enc = new TextEncoder();
    this.#write = opts.write ?? ((s) => Deno.stderr.writeSync(enc.encode(s)));
    this.#tty = opts.tty ?? Deno.stderr.isTerminal();
  }

  /** The text of one report. */
  static format(label: string, done: number, total: number, seconds: number): string {
    const rate = seconds > 0 ? done / seconds : 0;
    const eta = rate > 0 ? (total - done) / rate : Infinity;
    const pct = total > 0 ? (100 * done) / total : 100;
    const etaText = Number.isFinite(eta) ? `${eta.toFixed(0)} s left` : "";
    return `${label}: ${done}/${total} images (${pct.toFixed(0)}%), ${
      rate.toFixed(1)
    } images/s ${etaText}`
      .trimEnd();
  }

  /** Reports `done` of `total` after `seconds`. */
  update(done: number, total: number, seconds: number): void {
    if (seconds < this.#delay) return;
    const gap = this.#tty ? 0.2 : 10;
    if (done < total && seconds - this.#last < gap) return;
    this.#last = seconds;
    const text = Progress.format(this.#label, done, total, seconds);
    if (this.#tty) this.#write(`\r\x1b[2K${text}`);
    else this.#write(`${text}\n`);
    this.#shown = true;
  }

  /** Ends the progress line (on a terminal, clears it). */
  done(): void {
    if (this.#shown && this.#tty) this.#write("\r\x1b[2K");
  }
}
