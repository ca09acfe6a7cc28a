/**
 * `deno task convert IN OUT`: backbone weights between PyTorch `.pth` and `.safetensors`
 * (either direction, by extension), keys and dtypes unchanged (DDP `module.` prefixes removed).
 *
 * @module
 */
import { readWeights, writeWeights } from "../src/nn/weights.ts";

const [input, output] = Deno.args;
if (!input || !output) {
  console.error("usage: deno task convert IN.(pth|safetensors) OUT.(pth|safetensors)");
  Deno.exit(2);
}
try {
  const sd = await readWeights(input);
  await writeWeights(output, sd);
  console.log(`wrote ${sd.size} tensors to ${output}`);
} catch (e) {
  console.error(`convert: ${(e as Error).message}`);
  Deno.exit(1);
}
