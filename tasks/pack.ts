/**
 * `deno task pack IMAGE_FOLDER OUT_DIR [--verify] [--skip-bad]`: packs an image folder (one
 * sub-folder per identity) into `OUT_DIR/train.rec` + `train.idx` in InsightFace's layout.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { packImageFolder } from "../src/data/pack.ts";

const { values, positionals } = parseArgs({
  args: Deno.args,
  options: {
    verify: { type: "boolean", default: false },
    "skip-bad": { type: "boolean", default: false },
  },
  allowPositionals: true,
});
if (positionals.length !== 2) {
  console.error("usage: deno task pack IMAGE_FOLDER OUT_DIR [--verify] [--skip-bad]");
  Deno.exit(2);
}
const t0 = performance.now();
try {
  const r = packImageFolder(positionals[0], positionals[1], {
    verify: values.verify,
    skipBad: values["skip-bad"],
  });
  const s = ((performance.now() - t0) / 1000).toFixed(1);
  console.log(
    `packed ${r.numImages} images of ${r.numClasses} classes into ${r.rec} (${r.bytes} bytes) ` +
      `and ${r.idx} in ${s} s` +
      (r.skipped.length ? `; ${r.skipped.length} bad images skipped` : "") +
      (values.verify ? `; verified ${r.verified} records` : ""),
  );
} catch (e) {
  console.error(`pack failed: ${(e as Error).message}`);
  Deno.exit(1);
}
