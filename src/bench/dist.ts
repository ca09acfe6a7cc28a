/**
 * `deno task bench dist`: all-reduce (f32 sum) between W processes of this machine, ours
 * (src/dist/shm_collective.ts: shared memory and futexes; and src/dist/mpi_collective.ts:
 * Open MPI through FFI, under mpirun) beside PyTorch's gloo backend
 * (`torch.distributed.all_reduce` on CPU tensors, src/bench/dist_torch.py) at the same sizes
 * in the same run. Unit: GB/s of algorithm bandwidth (n·4 bytes / time, as nccl-tests'
 * "algbw"), so small sizes show latency. Flags: `--world 2` (default 2), `--quick` (two
 * sizes).
 *
 * @module
 */
import { parseArgs } from "node:util";
import { type BenchReport, type BenchRow, row } from "./report.ts";
import type { SuiteOptions } from "./suites.ts";

const PYTHON = "/usr/bin/python3";
const HERE = new URL(".", import.meta.url);
const REPS_MS = 300;

async function runRanks(
  world: number,
  cmd: (rank: number) => [string, string[]],
): Promise<Record<string, number>> {
  const procs = Array.from({ length: world }, (_, r) => {
    const [exe, args] = cmd(r);
    return new Deno.Command(exe, { args, stdout: "piped", stderr: "piped" }).spawn();
  });
  const outs = await Promise.all(procs.map((p) => p.output()));
  outs.forEach((o, r) => {
    if (o.code !== 0) {
      throw new Error(`rank ${r} exited ${o.code}: ${new TextDecoder().decode(o.stderr)}`);
    }
  });
  return JSON.parse(new TextDecoder().decode(outs[0].stdout).trim().split("\n").pop()!);
}

/** Runs the suite. */
export async function run(opts: SuiteOptions): Promise<BenchReport> {
  const { values } = parseArgs({
    args: opts.args,
    options: { world: { type: "string", default: "2" }, quick: { type: "boolean" } },
    strict: false,
  });
  const world = Number(values.world);
  if (!Number.isInteger(world) || world < 2 || world > 64) {
    throw new Error(`--world ${values.world}: give 2 to 64 processes`);
  }
  const sizes = opts.quick ? [1024, 65536] : [1024, 65536, 1 << 20, 16 << 20];
  const list = sizes.join(",");
  const name = `/arcface-bench-${Deno.pid}`;
  const ours = await runRanks(world, (r) => [Deno.execPath(), [
    "run",
    "-A",
    new URL("dist_worker.ts", HERE).pathname,
    name,
    String(r),
    String(world),
    list,
    String(REPS_MS),
  ]]);
  let viaMpi: Record<string, number> | null = null;
  try {
    viaMpi = await runRanks(1, () => ["mpirun", [
      ...["--allow-run-as-root", "--oversubscribe", "--mca", "mpi_yield_when_idle", "1"],
      ...["-np", String(world), Deno.execPath(), "run", "-A"],
      new URL("dist_worker.ts", HERE).pathname,
      "mpi",
      "0",
      String(world),
      list,
      String(REPS_MS),
    ]]);
  } catch (e) {
    console.error(`mpirun rows unavailable: ${(e as Error).message}`);
  }
  let peer: Record<string, number> | null = null;
  const init = await Deno.makeTempFile({ prefix: "gloo-init-" });
  await Deno.remove(init);
  try {
    peer = await runRanks(world, (r) => [PYTHON, [
      new URL("dist_torch.py", HERE).pathname,
      init,
      String(r),
      String(world),
      list,
      String(REPS_MS),
    ]]);
  } catch (e) {
    console.error(`torch gloo peer unavailable: ${(e as Error).message}`);
  } finally {
    await Deno.remove(init).catch(() => {});
  }
  const gbs = (n: number, ms: number | undefined) => (ms === undefined ? null : n * 4 / ms / 1e6);
  const rows: BenchRow[] = [];
  for (const [kind, res] of [["shm", ours], ["mpi", viaMpi]] as const) {
    if (!res) continue;
    for (const n of sizes) {
      rows.push(
        row(`allreduce f32 ${n} x${world} ${kind}`, "GB/s", gbs(n, res[n])!, gbs(n, peer?.[n]), {
          shape: `${n}`,
          oursMs: res[n],
          peerMs: peer?.[n] ?? null,
          note: "peer = torch.distributed gloo (CPU)",
        }),
      );
    }
  }
  return { suite: "dist", adapter: "host (shared memory)", rows };
}
