import assert from "node:assert/strict";
import { initGpu } from "../../src/gpu/device.ts";
import { checkModel, formatModelCheck } from "../../src/eval/model_check.ts";
import { exportOnnx } from "../../src/eval/onnx_export.ts";
import { randomBackbone, tinyModel, type TinyModelOptions } from "./onnx_fixtures.ts";

async function withDir<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await Deno.makeTempDir();
  try {
    return await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("check-model passes an exported mbf and measures it", async () => {
  await initGpu();
  await withDir(async (dir) => {
    const p = `${dir}/mbf.onnx`;
    await Deno.writeFile(
      p,
      (await exportOnnx(await randomBackbone("mbf", 4), { network: "mbf" })).bytes,
    );
    const r = await checkModel(p, { timingRuns: 3 });
    assert.deepEqual(r.failures, [], formatModelCheck(r));
    assert.ok(r.ok);
    assert.equal(r.featureDim, 512);
    assert.deepEqual(r.pixelNorm, { mean: 127.5, std: 127.5, source: "default" });
    assert.ok(r.msPerImage! > 0);
    assert.ok(r.checks.every((c) => c.status === "pass"), formatModelCheck(r));
    assert.match(formatModelCheck(r), /mbf\.onnx: passes \(feature dim 512/);
  });
});

const broken: [string, TinyModelOptions, string[]][] = [
  ["wrong rank", { inputDims: ["batch", 3, 12544] }, ["input-rank"]],
  ["fixed batch", { inputDims: [1, 3, 112, 112] }, ["dynamic-batch"]],
  ["two outputs", { twoOutputs: true }, ["one-output"]],
  ["feature dim 1024", { dim: 1024 }, ["feature-dim"]],
  ["fp16 initialiser", { fp16Bias: true }, ["fp32-weights"]],
  ["wrong size", { inputDims: ["batch", 3, 224, 224] }, ["input-size"]],
];

Deno.test("check-model passes the tiny model and names each broken rule", async () => {
  await withDir(async (dir) => {
    const ok = `${dir}/ok.onnx`;
    await Deno.writeFile(ok, tinyModel());
    const r0 = await checkModel(ok, { timingRuns: 2 });
    assert.deepEqual(r0.failures, [], formatModelCheck(r0));
    for (const [what, opts, expected] of broken) {
      const p = `${dir}/${what.replaceAll(" ", "_")}.onnx`;
      await Deno.writeFile(p, tinyModel(opts));
      const r = await checkModel(p, { timingRuns: 2 });
      assert.deepEqual(r.failures, expected, `${what}:\n${formatModelCheck(r)}`);
      const text = formatModelCheck(r);
      for (const name of expected) assert.match(text, new RegExp(`FAIL  ${name}`));
      assert.match(text, new RegExp(`${p}: fails ${expected.join(", ")}$`));
    }
  });
});

Deno.test("check-model: file size limit, graph size, and a file that is not ONNX", async () => {
  await withDir(async (dir) => {
    const p = `${dir}/m.onnx`;
    await Deno.writeFile(p, tinyModel());
    const r = await checkModel(p, { maxFileBytes: 1000, static: true });
    assert.deepEqual(r.failures, ["file-size"]);
    assert.equal(r.checks.find((c) => c.name === "batch-inference")!.status, "skip");
    const bad = `${dir}/bad.onnx`;
    await Deno.writeFile(bad, new TextEncoder().encode("\x0fnot a protobuf at all \xff\xff\xff"));
    const rb = await checkModel(bad);
    assert.deepEqual(rb.failures, ["onnx-file"]);
    assert.match(rb.checks[0].detail, new RegExp(`^${bad}: not an ONNX model`));
    assert.equal(formatModelCheck(rb).split("\n").length, 2);
    const missing = await checkModel(`${dir}/none.onnx`);
    assert.equal(
      missing.checks[0].detail,
      `${dir}/none.onnx: cannot read the model (no such file)`,
    );
  });
});

Deno.test("pixel normalisation: pixel_norm.txt, a leading Sub+Mul, or the default", async () => {
  await withDir(async (dir) => {
    const p = `${dir}/m.onnx`;
    await Deno.writeFile(p, tinyModel({ normalizes: true }));
    let r = await checkModel(p, { static: true });
    assert.deepEqual(r.pixelNorm, { mean: 0, std: 1, source: "graph" });
    await Deno.writeTextFile(`${dir}/pixel_norm.txt`, "127.5\n128\n");
    r = await checkModel(p, { static: true });
    assert.deepEqual(r.pixelNorm, { mean: 127.5, std: 128, source: "pixel_norm.txt" });
    await Deno.writeTextFile(`${dir}/pixel_norm.txt`, "127.5\n");
    r = await checkModel(p, { static: true });
    assert.deepEqual(r.failures, ["pixel-norm"]);
    assert.match(
      r.checks.find((c) => c.name === "pixel-norm")!.detail,
      /pixel_norm\.txt: must hold two lines/,
    );
  });
});
