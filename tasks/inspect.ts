/**
 * `deno task inspect DATA [--json] [--decode]`: what a dataset holds (kind, num_classes,
 * num_images, label_counts, problems). DATA is a RecordIO folder or `.rec`, an image folder,
 * `toy[:ids=N,per=K,seed=S]` or `synthetic`. Exits 1 when problems were found.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { formatInspectReport, inspectDataset } from "../src/data/inspect.ts";

const { values, positionals } = parseArgs({
  args: Deno.args,
  options: {
    json: { type: "boolean", default: false },
    decode: { type: "boolean", default: false },
  },
  allowPositionals: true,
});
if (positionals.length !== 1) {
  console.error("usage: deno task inspect DATA [--json] [--decode]");
  Deno.exit(2);
}
const report = await inspectDataset(positionals[0], { decode: values.decode });
console.log(values.json ? JSON.stringify(report) : formatInspectReport(report));
if (report.num_problems > 0) Deno.exit(1);
