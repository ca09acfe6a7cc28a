/**
 * The registry of benchmark suites for `deno task bench`. Each suite module is imported
 * lazily so that one suite's peers (tfjs, onnxruntime, Python) load only when it runs.
 *
 * @module
 */
import type { BenchReport } from "./report.ts";

/** Options every suite receives. */
export interface SuiteOptions {
  /** Smaller shapes and fewer repetitions, for smoke tests. */
  quick: boolean;
  /** The remaining command-line arguments, for suite-specific flags. */
  args: string[];
}

/** Suite name → loader of its module. */
export const SUITES: Record<
  string,
  () => Promise<{ run(opts: SuiteOptions): Promise<BenchReport> }>
> = {
  kernels: () => import("./kernels.ts"),
  pfc: () => import("./pfc.ts"),
  data: () => import("./data.ts"),
  models: () => import("./models.ts"),
  eval: () => import("./eval.ts"),
  mfr: () => import("./mfr.ts"),
  dist: () => import("./dist.ts"),
};

/** Runs the named suite. */
export async function runSuite(name: string, opts: SuiteOptions): Promise<BenchReport> {
  const load = SUITES[name];
  if (!load) throw new Error(`unknown benchmark suite "${name}" (valid: ${Object.keys(SUITES)})`);
  return (await load()).run(opts);
}
