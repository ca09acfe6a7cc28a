/**
 * `deno task train [CONFIG] [--key value …] [--nproc N]`: trains a face-recognition backbone.
 * With no config it trains the embedded toy config on the generated toy-faces dataset and ends
 * with the held-out verification accuracy beside the raw-pixel baseline. `--nproc N` runs N
 * data-parallel ranks, one process each, exchanging gradients through shared memory; under
 * `mpirun -np N` (Open MPI) every process is a rank and MPI connects them. Also runs
 * from a URL: `deno run -A https://…/train.ts configs/glint360k_r50.ts`.
 *
 * @module
 */
import { type JobPlace, joinJob, rankLabel } from "./src/dist/launch.ts";
import { loadConfig } from "./src/train/config.ts";
import { preflight, train } from "./src/train/trainer.ts";

const args = [...Deno.args];
const configArg = args.length > 0 && !args[0].startsWith("-") ? args.shift() : undefined;
let place: JobPlace | null = null;
try {
  const nproc = takeNproc(args);
  const { config, name } = await loadConfig(configArg, args);
  place = await joinJob({
    nproc,
    script: import.meta.url,
    args: [...(configArg ? [configArg] : []), ...args],
    preflight: () => preflight(config),
  });
  if ("launcherExit" in place) Deno.exit(place.launcherExit);
  const result = await train(config, { name, collective: place.collective });
  if (result.heldOut !== undefined && result.pixelBaseline !== undefined) {
    console.log(
      `held-out accuracy: ${(100 * result.heldOut).toFixed(2)}%  ` +
        `raw-pixel baseline: ${(100 * result.pixelBaseline).toFixed(2)}%`,
    );
  }
  place.finish();
} catch (e) {
  console.error(`train${rankLabel()}: ${(e as Error).message}`);
  if (place && "abort" in place) place.abort(); // MPI peers would wait in their next collective
  Deno.exit(1);
}

/** Removes `--nproc N` (or `--nproc=N`) from `args`; 1 when absent. */
function takeNproc(args: string[]): number {
  const i = args.findIndex((a) => a === "--nproc" || a.startsWith("--nproc="));
  if (i < 0) return 1;
  const eq = args[i].indexOf("=");
  const v = eq >= 0 ? args[i].slice(eq + 1) : args[i + 1];
  args.splice(i, eq >= 0 ? 1 : 2);
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1 || n > 256) {
    throw new Error(`--nproc ${v ?? "(missing)"}: give the number of processes, 1 to 256`);
  }
  return n;
}
