/**
 * The multi-process launcher of `train.ts`: one Deno subprocess per rank, started with its
 * rank, local rank, world size, the job's shared-memory name and its own pid in the
 * environment (`ARCFACE_RANK`, `ARCFACE_LOCAL_RANK`, `ARCFACE_WORLD`, `ARCFACE_SHM`,
 * `ARCFACE_LAUNCHER`; a rank whose launcher dies gets SIGTERM), and supervised: the
 * first rank to exit with an error stops the others (SIGTERM, then SIGKILL after a grace
 * period) and the launcher reports which rank failed and how. A SIGTERM to the launcher is
 * passed on to every rank (each saves a checkpoint and stops); a terminal's SIGINT already
 * reaches every rank of the process group, so it is not forwarded twice.
 *
 * @module
 */
import type { Collective } from "./collective.ts";
import { mpiEnv } from "./mpi.ts";
import { MpiCollective } from "./mpi_collective.ts";
import { ShmCollective } from "./shm_collective.ts";
import { SharedRegion, terminateWithParent } from "./shm.ts";

/** A rank's place in a launched job, from its environment. */
export interface RankEnv {
  /** Global rank. */
  rank: number;
  /** Rank within this machine (selects the adapter). */
  localRank: number;
  /** Number of ranks. */
  world: number;
  /** Shared-memory object name of this machine's ranks. */
  shm: string;
  /** The launcher's pid (0 when not given). */
  launcher: number;
}

/**
 * The rank environment set by `launch`, or null in a process it did not start.
 * @throws when the variables are present but inconsistent
 */
export function rankEnv(env: { get(key: string): string | undefined } = Deno.env): RankEnv | null {
  const r = env.get("ARCFACE_RANK");
  if (r === undefined) return null;
  const world = Number(env.get("ARCFACE_WORLD"));
  const rank = Number(r);
  const localRank = Number(env.get("ARCFACE_LOCAL_RANK") ?? r);
  const shm = env.get("ARCFACE_SHM") ?? "";
  if (
    !Number.isInteger(world) || world < 1 || !Number.isInteger(rank) || rank < 0 ||
    rank >= world || !Number.isInteger(localRank) || localRank < 0 || !shm
  ) {
    throw new Error(
      `ARCFACE_RANK=${r} ARCFACE_LOCAL_RANK=${env.get("ARCFACE_LOCAL_RANK")} ` +
        `ARCFACE_WORLD=${env.get("ARCFACE_WORLD")} ARCFACE_SHM=${shm}: ranks are set by ` +
        "`deno task train … --nproc N`; unset these variables to train in one process",
    );
  }
  return { rank, localRank, world, shm, launcher: Number(env.get("ARCFACE_LAUNCHER") ?? 0) };
}

/**
 * Attaches this rank to its job's shared-memory collective; the rank gets SIGTERM (saves and
 * stops) if its launcher dies.
 * @throws when the launcher is already gone
 */
export function connectRank(env: RankEnv): Promise<ShmCollective> {
  if (env.launcher > 0 && !terminateWithParent(env.launcher)) {
    throw new Error(`the launcher (pid ${env.launcher}) exited before rank ${env.rank} started`);
  }
  return ShmCollective.connect({ name: env.shm, rank: env.rank, world: env.world });
}

/** Options of `launch`. */
export interface LaunchOptions {
  /** Processes to start. */
  nproc: number;
  /** The script every rank runs (a path or URL). */
  script: string;
  /** Its arguments. */
  args: string[];
  /** Seconds between SIGTERM and SIGKILL when stopping ranks (default 10). */
  graceSeconds?: number;
}

/**
 * Runs `nproc` ranks of `script` and waits for them; resolves with the job's exit code (0
 * when every rank succeeded). Failures are reported on stderr, naming the rank.
 */
export async function launch(opts: LaunchOptions): Promise<number> {
  const { nproc } = opts;
  const shm = `/arcface-${Deno.pid}-${Date.now().toString(36)}`;
  const children = Array.from({ length: nproc }, (_, r) =>
    new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", opts.script, ...opts.args],
      env: {
        ARCFACE_RANK: String(r),
        ARCFACE_LOCAL_RANK: String(r),
        ARCFACE_WORLD: String(nproc),
        ARCFACE_SHM: shm,
        ARCFACE_LAUNCHER: String(Deno.pid),
      },
      stdin: "null",
    }).spawn());
  const onTerm = () => {
    for (const c of children) {
      try {
        c.kill("SIGTERM");
      } catch { /* already gone */ }
    }
  };
  const onInt = () => {}; // the terminal signals every rank itself
  Deno.addSignalListener("SIGTERM", onTerm);
  Deno.addSignalListener("SIGINT", onInt);
  const done = new Array<Deno.CommandStatus | null>(nproc).fill(null);
  let failed: { rank: number; status: Deno.CommandStatus } | null = null;
  let stopTimer: ReturnType<typeof setTimeout> | undefined;
  try {
    await Promise.all(children.map(async (c, r) => {
      const status = await c.status;
      done[r] = status;
      if (status.success || failed) return;
      failed = { rank: r, status };
      for (let o = 0; o < nproc; o++) {
        if (done[o]) continue;
        try {
          children[o].kill("SIGTERM");
        } catch { /* gone */ }
      }
      stopTimer = setTimeout(() => {
        for (let o = 0; o < nproc; o++) {
          if (done[o]) continue;
          try {
            children[o].kill("SIGKILL");
          } catch { /* gone */ }
        }
      }, (opts.graceSeconds ?? 10) * 1000);
    }));
  } finally {
    clearTimeout(stopTimer);
    Deno.removeSignalListener("SIGTERM", onTerm);
    Deno.removeSignalListener("SIGINT", onInt);
    try {
      SharedRegion.unlink(shm); // in case rank 0 died before it unlinked the name
    } catch { /* no shared memory on this system: the ranks reported it */ }
  }
  if (failed) {
    const { rank, status } = failed as { rank: number; status: Deno.CommandStatus };
    const how = status.signal
      ? `was killed by ${status.signal}`
      : `exited with code ${status.code}`;
    console.error(
      `train: rank ${rank} of ${nproc} (pid ${children[rank].pid}) ${how}; stopped the other ranks`,
    );
    return 1;
  }
  return 0;
}

/** This process's place in a training job, as `joinJob` found it. */
export type JobPlace =
  | {
    /** This process was the launcher; its ranks have finished with this exit code. */
    launcherExit: number;
  }
  | {
    /** The ranks' collective (undefined: a world of one). */
    collective: Collective | undefined;
    /** Ends the job's communication after a successful run. */
    finish(): void;
    /** Ends every process of the job after an error here (MPI; the launcher does it else). */
    abort(): void;
  };

/**
 * Where this process stands in a training job: started by `mpirun -np N` (a rank over MPI),
 * by a launcher (a rank over shared memory), or neither: with `nproc` > 1 it checks the
 * input once (`preflight`), becomes the launcher of `nproc` ranks of `script` and returns
 * when they have finished; else a world of one.
 * @throws on `--nproc` under mpirun, inconsistent rank variables, or a failed attach
 */
export async function joinJob(opts: {
  nproc: number;
  script: string;
  args: string[];
  preflight: () => Promise<unknown>;
}): Promise<JobPlace> {
  const m = mpiEnv();
  if (m && m.size > 1) {
    if (opts.nproc > 1) {
      throw new Error(
        "--nproc under mpirun: let mpirun start the processes (-np N), drop --nproc",
      );
    }
    const mpi = new MpiCollective();
    return { collective: mpi, finish: () => mpi.close(), abort: () => mpi.abort(1) };
  }
  const env = rankEnv();
  if (env) {
    const shm = await connectRank(env);
    return { collective: shm, finish: () => shm.close(), abort: () => {} };
  }
  if (opts.nproc > 1) {
    await opts.preflight(); // bad input: one line here, not one per rank
    return { launcherExit: await launch(opts) };
  }
  return { collective: undefined, finish: () => {}, abort: () => {} };
}

/** " (rank r)" when this process is a rank of a job (from its environment), else "". */
export function rankLabel(): string {
  const r = Deno.env.get("ARCFACE_RANK") ?? Deno.env.get("OMPI_COMM_WORLD_RANK");
  return r === undefined ? "" : ` (rank ${r})`;
}
