// The MPI collective between real processes under Open MPI's `mpirun` (tests/dist/shm_worker.ts
// in its mpi mode): every operation on GPU tensors over 3 ranks against a recomputation (MPI
// chooses its own summation order, so f32 sums within 1e-6, and every rank must get the same
// bits); and `train.ts` under `mpirun -np 2` logs exactly the losses and ends with exactly the
// parameters of the same job run with `--nproc 2` over shared memory.
import assert from "node:assert/strict";
import { readMetrics } from "../../src/train/logs.ts";
import { SEED } from "../util.ts";
import { rankData, SIZES } from "./shm_data.ts";

const root = new URL("../../", import.meta.url).pathname;
const MPIRUN = ["--allow-run-as-root", "--oversubscribe", "--mca", "mpi_yield_when_idle", "1"];

async function mpirun(np: number, args: string[]) {
  const out = await new Deno.Command("mpirun", {
    args: [...MPIRUN, "-np", String(np), Deno.execPath(), "run", "-A", ...args],
    cwd: root,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

Deno.test("MPI collectives of GPU tensors over 3 processes match a recomputation", async () => {
  const W = 3, dir = await Deno.makeTempDir();
  const r = await mpirun(W, [
    `${root}tests/dist/shm_worker.ts`,
    `mpi:${dir}`,
    "0",
    "0",
    String(SEED),
    "ops",
  ]);
  assert.equal(r.code, 0, r.stderr);
  const res: Record<string, number[]>[] = [];
  for (let k = 0; k < W; k++) res.push(JSON.parse(await Deno.readTextFile(`${dir}/rank${k}.json`)));
  const close = (got: number[], want: number[], what: string) => {
    assert.equal(got.length, want.length, what);
    got.forEach((v, i) =>
      assert.ok(
        Math.abs(v - want[i]) <= 1e-6 * Math.max(1, Math.abs(want[i])),
        `${what}[${i}]: ${v} vs ${want[i]}`,
      )
    );
  };
  for (const n of SIZES) {
    const data = (tag: number, len: number, i32 = false) =>
      Array.from({ length: W }, (_, r) => rankData(SEED, r, tag, len, i32));
    const sum = Array.from({ length: n }, (_, i) => data(n, n).reduce((s, a) => s + a[i], 0));
    const imax = Array.from(
      { length: n },
      (_, i) => Math.max(...data(50 + n, n, true).map((a) => a[i])),
    );
    const gather = data(100 + n, n).flatMap((a) => Array.from(a));
    const bigs = data(200 + n, n * W);
    const bcast = Array.from(rankData(SEED, 1, 300 + n, n));
    res.forEach((r, rank) => {
      const at = `n ${n}, rank ${rank} (seed ${SEED})`;
      close(r[`sum${n}`], sum, `all-reduce sum, ${at}`);
      assert.deepEqual(r[`sum${n}`], res[0][`sum${n}`], `every rank the same sum bits, ${at}`);
      assert.deepEqual(r[`imax${n}`], imax, `all-reduce i32 max, ${at}`);
      assert.deepEqual(r[`gather${n}`], gather, `all-gather, ${at}`);
      const part = Array.from(
        { length: n },
        (_, i) => bigs.reduce((s, b) => s + b[rank * n + i], 0),
      );
      close(r[`rssum${n}`], part, `reduce-scatter, ${at}`);
      assert.deepEqual(r[`bcast${n}`], bcast, `broadcast from rank 1, ${at}`);
    });
  }
});

Deno.test("train.ts under mpirun -np 2 equals --nproc 2 over shared memory, step for step", async () => {
  const tiny = [
    "configs/toy.ts",
    ...["--rec", "toy:ids=8,per=8,seed=1,pairs=40", "--num_classes", "8", "--num_image", "64"],
    ...["--batch_size", "8", "--num_epoch", "2", "--decay_epoch", "1", "--frequent", "2"],
    ...["--verbose", "1000", "--num_workers", "1"],
  ];
  const a = await Deno.makeTempDir(), b = await Deno.makeTempDir();
  const viaMpi = await mpirun(2, [`${root}train.ts`, ...tiny, "--output", a]);
  assert.equal(viaMpi.code, 0, viaMpi.stderr);
  const viaShm = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", `${root}train.ts`, ...tiny, "--output", b, "--nproc", "2"],
    cwd: root,
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(viaShm.code, 0, new TextDecoder().decode(viaShm.stderr));
  const losses = async (dir: string) =>
    (await readMetrics(`${dir}/metrics.jsonl`)).flatMap((r) =>
      r.kind === "train" ? [[r.step, r.loss]] : []
    );
  const [la, lb] = [await losses(a), await losses(b)];
  assert.ok(la.length >= 3, `${la.length} train records`);
  assert.deepEqual(la, lb, "the same loss at every logged step");
  const hash = /replicas identical on 2 ranks \(parameter hash ([0-9a-f]+)\)/;
  const ha = (await Deno.readTextFile(`${a}/training.log`)).match(hash)?.[1];
  const hb = (await Deno.readTextFile(`${b}/training.log`)).match(hash)?.[1];
  assert.ok(ha, "the MPI job checked its replicas");
  assert.equal(ha, hb, "the same final parameters");
});
