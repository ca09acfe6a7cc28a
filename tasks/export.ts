/**
 * `deno task export CHECKPOINT --network r50 [--out model.onnx] [--opset 17] [--no-fold]`:
 * writes the eval-mode backbone of a `.pth` / `.safetensors` checkpoint as ONNX (input
 * `input` [N, 3, 112, 112], output `embedding` [N, E], fp32), atomically. The default output
 * is the checkpoint's name with `.onnx`.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { BACKBONES } from "../src/nn/backbones/mod.ts";
import { EXPORT_OPSETS, exportCheckpoint } from "../src/eval/onnx_export.ts";

const { values, positionals } = parseArgs({
  args: Deno.args,
  options: {
    network: { type: "string" },
    out: { type: "string" },
    opset: { type: "string", default: String(EXPORT_OPSETS.default) },
    "no-fold": { type: "boolean", default: false },
  },
  allowPositionals: true,
});
const fail = (msg: string): never => {
  console.error(`export: ${msg}`);
  Deno.exit(2);
};
const checkpoint = positionals[0] ?? fail(
  "usage: deno task export CHECKPOINT --network NAME [--out model.onnx] [--opset 17]",
);
if (!values.network) {
  fail(`${checkpoint}: --network is required (one of ${BACKBONES.join(", ")})`);
}
const out = values.out ?? checkpoint.replace(/\.(pth|pt|ckpt|safetensors)$/i, "") + ".onnx";
try {
  const t0 = performance.now();
  const r = await exportCheckpoint(checkpoint, values.network!, out, {
    opset: Number(values.opset),
    foldBatchNorm: !values["no-fold"],
  });
  const ops = Object.entries(r.ops).map(([k, v]) => `${k}×${v}`).join(" ");
  console.log(
    `wrote ${out}: ${values.network} → [N, ${r.embeddingSize}], ${
      (r.bytes.length / 2 ** 20).toFixed(1)
    } MiB, ` +
      `${r.initialisers.count} fp32 initialisers, ${ops} (${
        ((performance.now() - t0) / 1e3).toFixed(1)
      } s)`,
  );
} catch (e) {
  console.error(`export: ${(e as Error).message.split("\n")[0]}`);
  Deno.exit(1);
}
