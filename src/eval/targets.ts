/**
 * The registry of `deno task eval <target>`: each target parses its own arguments and runs.
 * Today `verification` and its shorthands (`lfw`, `cfp_fp`, `agedb_30`, `calfw`, `cplfw`),
 * the IJB 1:1 protocols `ijbc` and `ijbb`, and the ICCV2021-MFR protocols `mfr-mask` and
 * `mfr-all`.
 *
 * @module
 */
import { ijbTarget } from "./ijb_task.ts";
import { mfrTarget } from "./mfr_task.ts";
import { VERIFICATION_SETS, verificationTarget } from "./verify_task.ts";

/** One evaluation target. */
export interface EvalTarget {
  /** One-line description for the target list. */
  summary: string;
  /** Usage text (options). */
  usage: string;
  /** Runs with the arguments after the target name; resolves to the exit code. */
  run(args: string[]): Promise<number>;
}

/** Target name → target. */
export const EVAL_TARGETS: Record<string, EvalTarget> = {
  verification: verificationTarget(),
  ...Object.fromEntries(VERIFICATION_SETS.map((s) => [s, verificationTarget(s)])),
  ijbc: ijbTarget("ijbc"),
  ijbb: ijbTarget("ijbb"),
  "mfr-mask": mfrTarget("mfr-mask"),
  "mfr-all": mfrTarget("mfr-all"),
};

/** The usage text listing every target. */
export function evalUsage(): string {
  const w = Math.max(...Object.keys(EVAL_TARGETS).map((k) => k.length));
  return [
    "usage: deno task eval <target> [options]   (deno task eval <target> --help for options)",
    "targets:",
    ...Object.entries(EVAL_TARGETS).map(([k, t]) => `  ${k.padEnd(w)}  ${t.summary}`),
  ].join("\n");
}
