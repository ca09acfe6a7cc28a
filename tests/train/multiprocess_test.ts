// `train.ts --nproc 2`: two real rank processes exchanging gradients through shared memory.
// The replicas end bit-identical (checked by the job itself: a rank skipping the gradient
// average would fail it), a rank killed with SIGKILL stops the job with its rank named and no
// hang, the killed job resumes from its per-rank shards and then logs exactly the losses of an
// uninterrupted two-process run, and resuming with another process count is refused.
import assert from "node:assert/strict";
import { readMetrics } from "../../src/train/logs.ts";
import { readSafetensors } from "../../src/io/safetensors.ts";

const root = new URL("../../", import.meta.url).pathname;
const COMMON = [
  "configs/toy.ts",
  "--rec",
  "toy:ids=8,per=8,seed=1,pairs=40",
  "--num_classes",
  "8",
  "--num_image",
  "64",
  "--batch_size",
  "8",
  "--num_epoch",
  "4",
  "--decay_epoch",
  "2",
  "--frequent",
  "2",
  "--verbose",
  "1000",
  "--num_workers",
  "1",
  "--save_every",
  "4",
  "--nproc",
  "2",
];

function train(args: string[]) {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", `${root}train.ts`, ...args],
    cwd: root,
    stdout: "piped",
    stderr: "piped",
  });
}
async function run(args: string[]) {
  const out = await train(args).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}
const losses = async (dir: string) =>
  new Map(
    (await readMetrics(`${dir}/metrics.jsonl`)).flatMap((r) =>
      r.kind === "train" ? [[r.step, r.loss] as const] : []
    ),
  );

Deno.test("two ranks: identical replicas; SIGKILL of a rank stops the job; resume continues exactly", async () => {
  const a = await Deno.makeTempDir(), b = await Deno.makeTempDir();
  const full = await run([...COMMON, "--output", a]);
  assert.equal(full.code, 0, full.stderr);
  // 64 images, global batch 16: 4 steps per epoch, 16 steps
  const log0 = await Deno.readTextFile(`${a}/training.log`);
  const log1 = await Deno.readTextFile(`${a}/rank1/training.log`);
  const hash = /replicas identical on 2 ranks \(parameter hash ([0-9a-f]+)\)/;
  assert.match(log0, hash);
  assert.equal(log1.match(hash)?.[1], log0.match(hash)?.[1]);
  assert.match(log0, /rank 0 of 2/);
  assert.match(log0, /Global Step: 16 /);
  assert.match(full.stdout, /held-out accuracy: \d+\.\d\d%/);
  const shard = await readSafetensors(`${a}/checkpoint.rank1.safetensors`);
  assert.deepEqual(JSON.parse(shard.metadata.shard), { rank: 1, world: 2, step: 16 });
  // 8 classes over 2 ranks: 4 centres of 128 each
  assert.deepEqual(shard.tensors.get("pfc.weight")?.shape, [4, 128]);
  const la = await losses(a);
  assert.deepEqual(
    [...la.keys()],
    [4, 6, 8, 10, 12, 14, 16],
    "one train record per 2 steps, rank 0 only",
  );

  // kill rank 1 once the step-8 checkpoint exists
  const child = train([...COMMON, "--output", b]).spawn();
  const deadline = Date.now() + 180_000;
  let pid = 0;
  while (Date.now() < deadline) {
    const l0 = await Deno.readTextFile(`${b}/training.log`).catch(() => "");
    const l1 = await Deno.readTextFile(`${b}/rank1/training.log`).catch(() => "");
    pid = Number(l1.match(/rank 1 of 2 \(pid (\d+)\)/)?.[1] ?? 0);
    if (pid && /at step 8\b/.test(l0)) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.ok(pid > 0, "rank 1 never logged its pid");
  const t0 = Date.now();
  Deno.kill(pid, "SIGKILL");
  const killed = await child.output();
  const err = new TextDecoder().decode(killed.stderr);
  assert.equal(killed.code, 1, err);
  assert.match(err, new RegExp(`train: rank 1 of 2 \\(pid ${pid}\\) was killed by SIGKILL`));
  assert.ok(Date.now() - t0 < 30_000, `the job took ${Date.now() - t0} ms to stop`);

  const other = await run([...COMMON.slice(0, -2), "--output", b, "--resume"]);
  assert.equal(other.code, 1);
  assert.match(other.stderr, /saved by 2 process\(es\); resume with --nproc 2/);

  const resumed = await run([...COMMON, "--output", b, "--resume"]);
  assert.equal(resumed.code, 0, resumed.stderr);
  assert.match(await Deno.readTextFile(`${b}/training.log`), /resumed from .* at step (8|12)/);
  assert.match(
    await Deno.readTextFile(`${b}/rank1/training.log`),
    /resumed from .* at step (8|12)/,
  );
  const lb = await losses(b);
  const after = [...la.keys()].filter((s) => s > 12 && lb.has(s));
  assert.ok(after.length >= 1, `no common logged steps after the resume (${[...lb.keys()]})`);
  for (const s of after) assert.equal(lb.get(s), la.get(s), `loss at step ${s}`);
});

Deno.test("--nproc takes 1 to 256 processes; a bad value is one line", async () => {
  for (const v of ["0", "1.5", "x", "300"]) {
    const r = await run(["configs/toy.ts", "--nproc", v]);
    assert.equal(r.code, 1, `--nproc ${v}`);
    assert.equal(
      r.stderr.trim(),
      `train: --nproc ${v}: give the number of processes, 1 to 256`,
    );
  }
  const r = await run(["configs/toy.ts", "--nproc"]);
  assert.match(r.stderr, /--nproc \(missing\): give the number of processes/);
});
