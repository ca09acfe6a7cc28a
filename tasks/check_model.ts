/**
 * `deno task check-model MODEL.onnx [--max-dim 512] [--max-ms N] [--threads N] [--json FILE]`:
 * the reference's submission checks over an ONNX face model, one line per check; exit code 1
 * when any check fails.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { writeFileAtomically } from "../src/io/atomic.ts";
import { checkModel, formatModelCheck } from "../src/eval/model_check.ts";

const { values, positionals } = parseArgs({
  args: Deno.args,
  options: {
    "max-dim": { type: "string", default: "512" },
    "max-ms": { type: "string" },
    threads: { type: "string" },
    runs: { type: "string", default: "20" },
    json: { type: "string" },
  },
  allowPositionals: true,
});
const path = positionals[0];
if (!path) {
  console.error(
    "usage: deno task check-model MODEL.onnx [--max-dim 512] [--max-ms N] [--json FILE]",
  );
  Deno.exit(2);
}
const report = await checkModel(path, {
  maxFeatureDim: Number(values["max-dim"]),
  maxMsPerImage: values["max-ms"] ? Number(values["max-ms"]) : undefined,
  threads: values.threads ? Number(values.threads) : undefined,
  timingRuns: Number(values.runs),
});
console.log(formatModelCheck(report));
if (values.json) {
  await writeFileAtomically(values.json, new TextEncoder().encode(JSON.stringify(report, null, 2)));
}
Deno.exit(report.ok ? 0 : 1);
