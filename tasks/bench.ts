/**
 * `deno task bench SUITE [--json FILE] [...]`: runs one benchmark suite and prints its table.
 * Suites live in `src/bench/<suite>.ts` and export `run(args): Promise<BenchReport>`.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { emitReport } from "../src/bench/report.ts";
import { runSuite, SUITES } from "../src/bench/suites.ts";

const { values, positionals } = parseArgs({
  args: Deno.args,
  options: { json: { type: "string" }, quick: { type: "boolean", default: false } },
  allowPositionals: true,
  strict: false,
});
const suite = positionals[0];
if (!suite || !(suite in SUITES)) {
  console.error(
    `usage: deno task bench <${Object.keys(SUITES).join("|")}> [--json FILE] [--quick]` +
      (suite ? `\nunknown suite "${suite}"` : ""),
  );
  Deno.exit(2);
}
const report = await runSuite(suite, { quick: values.quick === true, args: Deno.args.slice(1) });
await emitReport(report, typeof values.json === "string" ? values.json : undefined);
