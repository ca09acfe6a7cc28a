/**
 * `deno task eval <target> [options]`: evaluation protocols over an ONNX model or a
 * checkpoint. Targets live in `src/eval/targets.ts` (verification and its shorthands lfw,
 * cfp_fp, agedb_30, calfw, cplfw; the IJB 1:1 protocols ijbc and ijbb; the MFR protocols).
 * Errors are one line on stderr.
 *
 * @module
 */
import { EVAL_TARGETS, evalUsage } from "./src/eval/targets.ts";

if (import.meta.main) {
  const [name, ...rest] = Deno.args;
  const target = name ? EVAL_TARGETS[name] : undefined;
  if (!target) {
    console.error((name && name !== "--help" ? `unknown target "${name}"\n` : "") + evalUsage());
    Deno.exit(name === "--help" ? 0 : 2);
  }
  if (rest.includes("--help") || rest.includes("-h")) {
    console.log(`deno task eval ${name}: ${target.summary}\n${target.usage}`);
    Deno.exit(0);
  }
  try {
    Deno.exit(await target.run(rest));
  } catch (e) {
    console.error(`eval ${name}: ${(e as Error).message}`);
    Deno.exit(1);
  }
}
