/**
 * `deno task train [CONFIG] [--key value …]`: trains a face-recognition backbone. With no
 * config it trains the embedded toy config on the generated toy-faces dataset and ends with
 * the held-out verification accuracy beside the raw-pixel baseline. Also runs from a URL:
 * `deno run -A https://…/train.ts configs/glint360k_r50.ts`.
 *
 * @module
 */
import { loadConfig } from "./src/train/config.ts";
import { train } from "./src/train/trainer.ts";

const args = [...Deno.args];
const configArg = args.length > 0 && !args[0].startsWith("-") ? args.shift() : undefined;
try {
  const { config, name } = await loadConfig(configArg, args);
  const result = await train(config, { name });
  if (result.heldOut !== undefined && result.pixelBaseline !== undefined) {
    console.log(
      `held-out accuracy: ${(100 * result.heldOut).toFixed(2)}%  ` +
        `raw-pixel baseline: ${(100 * result.pixelBaseline).toFixed(2)}%`,
    );
  }
} catch (e) {
  console.error(`train: ${(e as Error).message}`);
  Deno.exit(1);
}
