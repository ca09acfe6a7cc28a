import assert from "node:assert/strict";
import { initGpu } from "../../src/gpu/device.ts";
import { writeWeights } from "../../src/nn/weights.ts";
import { toyPairs } from "../../src/data/toy_faces.ts";
import { writeToyBin } from "../../src/data/toy_bin.ts";
import { writeNpy } from "../../src/io/npy.ts";
import { readVerificationBin, writeVerificationBin } from "../../src/eval/bin.ts";
import { openEngine } from "../../src/eval/engine.ts";
import { exportOnnx } from "../../src/eval/onnx_export.ts";
import { Progress } from "../../src/eval/progress.ts";
import { EVAL_TARGETS } from "../../src/eval/targets.ts";
import { embedBin } from "../../src/eval/verify.ts";
import {
  parseVerificationArgs,
  resolveBins,
  runVerificationTask,
} from "../../src/eval/verify_task.ts";
import { evaluateVerification } from "../../src/eval/verification.ts";
import { randomBackbone } from "./onnx_fixtures.ts";

const PYTHON = "/usr/bin/python3";
const REF = new URL("./verification_ref.py", import.meta.url).pathname;
const ROOT = new URL("../../", import.meta.url).pathname;
const DENO = Deno.execPath();

/** A temp dir with lfw.bin (20 toy pairs), a toy checkpoint and its ONNX export. */
async function fixture() {
  await initGpu();
  const dir = await Deno.makeTempDir({ prefix: "evaltask_" });
  await writeToyBin(`${dir}/lfw.bin`, toyPairs({ seed: 5, numPairs: 20, numIdentities: 8 }), "png");
  const model = await randomBackbone("toy", 8);
  await writeWeights(`${dir}/toy.safetensors`, await model.stateDict());
  await Deno.writeFile(`${dir}/toy.onnx`, (await exportOnnx(model, { network: "toy" })).bytes);
  return dir;
}

Deno.test("eval verification: both engines give identical accuracy, equal to an independent implementation", async () => {
  const dir = await fixture();
  try {
    const logs: string[] = [];
    const common = { data: [dir], sets: ["lfw"], batch: 8, quiet: true };
    const gpu = await runVerificationTask(
      { ...common, model: `${dir}/toy.safetensors`, network: "toy", out: `${dir}/gpu.json` },
      (s) => logs.push(s),
    );
    const onnx = await runVerificationTask(
      { ...common, model: `${dir}/toy.onnx`, threads: 1, out: `${dir}/onnx.json` },
      (s) => logs.push(s),
    );
    const a = gpu.sets[0].result;
    const b = onnx.sets[0].result;
    assert.equal(a.pairs, 20);
    assert.equal(a.accuracy, b.accuracy);
    assert.equal(a.std, b.std);
    assert.deepEqual(a.foldAccuracies, b.foldAccuracies);
    assert.deepEqual(a.foldThresholds, b.foldThresholds);
    assert.equal(a.bestThreshold, b.bestThreshold);
    assert.ok(Math.abs(a.xnorm - b.xnorm) / a.xnorm < 1e-5);

    // the JSON result and the table
    const j = JSON.parse(await Deno.readTextFile(`${dir}/onnx.json`));
    assert.equal(j.target, "verification");
    assert.equal(j.sets[0].name, "lfw");
    assert.equal(j.sets[0].accuracy, b.accuracy);
    assert.equal(j.sets[0].foldAccuracies.length, 10);
    assert.ok(logs.some((l) => /^lfw\s+20\s+\d\.\d{5} ± \d\.\d{5}/m.test(l)), logs.join("\n"));

    // an independent implementation (numpy + scikit-learn) over the same embeddings
    const engine = await openEngine(`${dir}/toy.onnx`, { batch: 8, threads: 1 });
    const bin = await readVerificationBin(`${dir}/lfw.bin`);
    const e = await embedBin(engine, bin);
    await engine.close();
    assert.deepEqual(
      evaluateVerification(e.emb, e.flip, e.dim, bin.issame).foldAccuracies,
      b.foldAccuracies,
    );
    const rows = bin.images.length;
    await writeNpy(`${dir}/emb.npy`, { dtype: "float32", shape: [rows, e.dim], data: e.emb });
    await writeNpy(`${dir}/flip.npy`, { dtype: "float32", shape: [rows, e.dim], data: e.flip });
    await writeNpy(`${dir}/issame.npy`, {
      dtype: "bool",
      shape: [bin.issame.length],
      data: Uint8Array.from(bin.issame, Number),
    });
    const out = await new Deno.Command(PYTHON, { args: [REF, dir] }).output().catch(() => null);
    if (!out?.success) {
      console.warn(`skipped the reference comparison: ${PYTHON} lacks numpy/sklearn`);
      return;
    }
    const [ref] = JSON.parse(new TextDecoder().decode(out.stdout));
    for (const k of ["accuracy", "std", "xnorm", "bestThreshold"] as const) {
      assert.ok(Math.abs(b[k] - ref[k]) <= 1e-6, `${k}: ${b[k]} vs reference ${ref[k]}`);
    }
    for (let f = 0; f < 10; f++) {
      assert.ok(Math.abs(b.foldAccuracies[f] - ref.foldAccuracies[f]) <= 1e-6);
      assert.ok(Math.abs(b.foldThresholds[f] - ref.foldThresholds[f]) <= 1e-6);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("bad input: a .bin that is not a pickle, an image that does not decode, a missing set", async () => {
  const dir = await fixture();
  try {
    await Deno.writeFile(`${dir}/cfp_fp.bin`, new TextEncoder().encode("PK\x03\x04 not a pickle"));
    await assert.rejects(
      runVerificationTask(
        { model: `${dir}/toy.onnx`, data: [`${dir}/cfp_fp.bin`], quiet: true },
        () => {},
      ),
      (e: Error) =>
        e.message.startsWith(`${dir}/cfp_fp.bin: not a verification .bin`) &&
        !e.message.includes("\n"),
    );
    const bin = await readVerificationBin(`${dir}/lfw.bin`);
    bin.images[3] = new TextEncoder().encode("GIF89a this is no face");
    await writeVerificationBin(`${dir}/agedb_30.bin`, bin);
    await assert.rejects(
      runVerificationTask(
        { model: `${dir}/toy.onnx`, data: [`${dir}/agedb_30.bin`], quiet: true },
        () => {},
      ),
      (e: Error) =>
        e.message.startsWith(`${dir}/agedb_30.bin: image 3 cannot be decoded (not a JPEG or PNG`),
    );
    await assert.rejects(
      resolveBins([dir], ["calfw"]),
      (e: Error) => e.message === `${dir}/calfw.bin: no such file (looked for calfw.bin in ${dir})`,
    );
    const empty = await Deno.makeTempDir();
    await assert.rejects(
      resolveBins([empty]),
      new RegExp(`^Error: ${empty}: none of lfw.bin, cfp_fp.bin`),
    );
    await Deno.remove(empty);
    assert.deepEqual((await resolveBins([dir])).map((b) => b.name), ["lfw", "cfp_fp", "agedb_30"]);
    assert.deepEqual(parseVerificationArgs(["--model", "m.onnx", "--data", dir], "lfw").sets, [
      "lfw",
    ]);
    assert.throws(() => parseVerificationArgs(["--data", dir]), /--model FILE is required/);
    assert.ok(
      ["verification", "lfw", "cfp_fp", "agedb_30", "calfw", "cplfw"].every((t) =>
        t in EVAL_TARGETS
      ),
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("deno task eval: the lfw shorthand runs; a checkpoint without --network is one line", async () => {
  const dir = await fixture();
  try {
    const run = (args: string[]) =>
      new Deno.Command(DENO, { args: ["run", "-A", `${ROOT}eval.ts`, ...args], cwd: ROOT })
        .output();
    const ok = await run([
      "lfw",
      "--model",
      `${dir}/toy.onnx`,
      "--data",
      dir,
      "--batch",
      "8",
      "--out",
      `${dir}/r.json`,
    ]);
    const stdout = new TextDecoder().decode(ok.stdout);
    assert.equal(ok.code, 0, new TextDecoder().decode(ok.stderr));
    assert.match(stdout, /accuracy ± std/);
    assert.equal(JSON.parse(await Deno.readTextFile(`${dir}/r.json`)).sets[0].pairs, 20);
    const bad = await run(["lfw", "--model", `${dir}/toy.safetensors`, "--data", dir]);
    assert.equal(bad.code, 1);
    const err = new TextDecoder().decode(bad.stderr).split("\n").filter((l) =>
      l.startsWith("eval")
    );
    assert.deepEqual(err, [
      `eval lfw: ${dir}/toy.safetensors: a checkpoint needs --network (one of r18, r34, r50, r100, r200, r2060, mbf, toy)`,
    ]);
    const unknown = await run(["nosuch"]);
    assert.equal(unknown.code, 2);
    assert.match(
      new TextDecoder().decode(unknown.stderr),
      /unknown target "nosuch"[\s\S]*verification[\s\S]*ijbc/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("progress reports images/s only on long runs", () => {
  const lines: string[] = [];
  const p = new Progress({ label: "lfw", write: (s) => lines.push(s), tty: false });
  p.update(100, 1000, 1); // too early
  p.update(200, 1000, 2.5);
  p.update(300, 1000, 3); // within 10 s of the last line
  p.update(1000, 1000, 9); // the end is always shown
  assert.deepEqual(lines, [
    "lfw: 200/1000 images (20%), 80.0 images/s 10 s left\n",
    "lfw: 1000/1000 images (100%), 111.1 images/s 0 s left\n",
  ]);
});
