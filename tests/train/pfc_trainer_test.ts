// Partial FC inside `train.ts` (subprocesses, tiny toy data, sample_rate 0.5 so that negatives
// are drawn): `--pfc_offload` logs the same losses as the resident layer; a run stopped and
// resumed at sample_rate < 1 continues exactly as an uninterrupted one (the class sampler is
// reseeded per step); and with gradient_acc 2 the class centres step every micro-batch while the
// backbone steps every second one (the checkpoint's step counters).
import assert from "node:assert/strict";
import { readSafetensors } from "../../src/io/safetensors.ts";
import { readMetrics } from "../../src/train/logs.ts";

const root = new URL("../../", import.meta.url).pathname;
const ARGS = [
  "configs/toy.ts",
  "--rec",
  "toy:ids=32,per=2,seed=1,pairs=20",
  "--num_classes",
  "32",
  "--num_image",
  "64",
  "--batch_size",
  "8",
  "--num_epoch",
  "1",
  "--sample_rate",
  "0.5",
  "--gradient_acc",
  "2",
  "--frequent",
  "1",
  "--verbose",
  "1000",
  "--num_workers",
  "1",
];

async function run(args: string[]): Promise<void> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", `${root}train.ts`, ...ARGS, ...args],
    cwd: root,
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
}

const losses = async (dir: string) =>
  new Map(
    (await readMetrics(`${dir}/metrics.jsonl`)).flatMap((r) =>
      r.kind === "train" ? [[r.step, r.loss] as const] : []
    ),
  );

Deno.test("train.ts: --pfc_offload equals resident, resume at sample_rate 0.5 is exact, gradient_acc 2 steps the centres per micro-batch", async () => {
  const dir = await Deno.makeTempDir();
  try {
    // the offloaded run stops at step 4 (checkpoint) and is resumed to step 6
    await Promise.all([
      run(["--max_steps", "6", "--output", `${dir}/resident`]),
      run(["--max_steps", "4", "--pfc_offload", "--output", `${dir}/offload`]),
    ]);
    await run(["--max_steps", "6", "--pfc_offload", "--resume", "--output", `${dir}/offload`]);
    const [a, o] = [await losses(`${dir}/resident`), await losses(`${dir}/offload`)];
    assert.deepEqual([...a.keys()], [2, 3, 4, 5, 6]); // the first line comes at step 2
    // the logger's first line after a resume is one step later (it times from there)
    assert.deepEqual([...o.keys()], [2, 3, 4, 6]);
    for (const [s, ref] of a) {
      assert.ok(Number.isFinite(ref));
      if (!o.has(s)) continue;
      const what = s <= 4 ? "offloaded" : "offloaded and resumed";
      assert.ok(
        Math.abs(o.get(s)! - ref) <= 1e-6 * ref,
        `${what}, step ${s}: ${o.get(s)} vs ${ref}`,
      );
    }
    const { tensors, metadata } = await readSafetensors(`${dir}/resident/checkpoint.safetensors`);
    assert.equal(JSON.parse(metadata.trainer).step, 6);
    const t = (k: string) => (tensors.get(k)!.data as Int32Array)[0];
    assert.equal(t("pfc.ctl"), 6, "Partial FC updates its centres every micro-batch");
    assert.equal(t("optim.ctl"), 3, "the backbone steps once per gradient_acc micro-batches");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
