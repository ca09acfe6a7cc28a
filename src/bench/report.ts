/**
 * Benchmark reporting shared by every suite of `deno task bench`: rows with our figure beside
 * a peer's on the same machine in the same run, printed as a table and optionally written as
 * JSON (`{suite, adapter, rows}`).
 *
 * @module
 */

/** One benchmark row: our figure and the peer's, in the same unit, higher is better. */
export interface BenchRow {
  /** Row name; starts with the op (`gemm f32 …`, `conv fwd …`). */
  name: string;
  /** Human-readable shape, e.g. `64x25088x512`. */
  shape?: string;
  /** Unit of `ours` and `peer`, e.g. `GFLOP/s`, `GB/s`, `images/s`. */
  unit: string;
  /** Our figure. */
  ours: number;
  /** The peer's figure, or null when the peer could not run. */
  peer: number | null;
  /** ours / peer (higher is better for us), or null without a peer. */
  ratio: number | null;
  /** Anything else worth keeping (peak bytes, notes). */
  [extra: string]: unknown;
}

/** A finished suite: what ran, where, and its rows. */
export interface BenchReport {
  /** Suite name (`kernels`, `data`, …). */
  suite: string;
  /** Description of the adapter or CPU the suite ran on. */
  adapter: string;
  /** The rows, in the order they ran. */
  rows: BenchRow[];
}

/** Builds a row, computing the ratio from the two figures. */
export function row(
  name: string,
  unit: string,
  ours: number,
  peer: number | null,
  extra: Record<string, unknown> = {},
): BenchRow {
  const ratio = peer !== null && peer > 0 ? ours / peer : null;
  return { name, unit, ours, peer, ratio, ...extra };
}

function fmt(x: number | null | undefined): string {
  if (x === null || x === undefined || !Number.isFinite(x)) return "—";
  if (Math.abs(x) >= 100) return x.toFixed(0);
  if (Math.abs(x) >= 10) return x.toFixed(1);
  return x.toFixed(2);
}

/** Formats a report as a fixed-width text table. */
export function formatReport(report: BenchReport): string {
  const header = ["name", "shape", "unit", "ours", "peer", "ratio"];
  const lines = report.rows.map((r) => [
    r.name,
    r.shape ?? "",
    r.unit,
    fmt(r.ours),
    fmt(r.peer),
    r.ratio === null ? "—" : `${r.ratio.toFixed(2)}x`,
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i].length)));
  const pad = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i])).join("  ");
  return [
    `suite ${report.suite} on ${report.adapter}`,
    pad(header),
    pad(widths.map((w) => "-".repeat(w))),
    ...lines.map(pad),
  ].join("\n");
}

/** Prints a report and, when `jsonPath` is given, writes it there atomically. */
export async function emitReport(report: BenchReport, jsonPath?: string): Promise<void> {
  console.log(formatReport(report));
  if (jsonPath) {
    const tmp = `${jsonPath}.tmp`;
    await Deno.writeTextFile(tmp, JSON.stringify(report, null, 2) + "\n");
    await Deno.rename(tmp, jsonPath);
    console.log(`wrote ${jsonPath}`);
  }
}

/**
 * Times `fn` (which must finish its work before resolving) after `warmup` calls: runs it
 * until at least `minMs` have passed and `minRuns` calls were made, and returns the median
 * milliseconds per call.
 */
export async function timeMedian(
  fn: () => Promise<void> | void,
  { warmup = 1, minRuns = 3, minMs = 300 }: { warmup?: number; minRuns?: number; minMs?: number } =
    {},
): Promise<number> {
  for (let i = 0; i < warmup; i++) await fn();
  const times: number[] = [];
  const start = performance.now();
  while (times.length < minRuns || performance.now() - start < minMs) {
    const t0 = performance.now();
    await fn();
    times.push(performance.now() - t0);
    if (times.length >= 1000) break;
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)];
}
