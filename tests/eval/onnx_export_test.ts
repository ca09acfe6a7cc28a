import assert from "node:assert/strict";
// deno-lint-ignore no-import-prefix -- pinned inline so the module also runs from a URL
import * as ort from "npm:onnxruntime-node@1.31.1";
import { initGpu } from "../../src/gpu/device.ts";
import { createBackbone } from "../../src/nn/backbones/mod.ts";
import { writeWeights } from "../../src/nn/weights.ts";
import { exportCheckpoint, exportOnnx } from "../../src/eval/onnx_export.ts";
import { decodeOnnx, summarizeOnnx } from "../../src/eval/onnx_inspect.ts";
import { WebGpuEngine } from "../../src/eval/webgpu_engine.ts";
import { randomBackbone, relL2, uniform } from "./onnx_fixtures.ts";

const PYTHON = "/usr/bin/python3";

async function ortForward(bytes: Uint8Array, x: Float32Array, n: number): Promise<Float32Array> {
  const s = await ort.InferenceSession.create(bytes);
  try {
    const out = await s.run({ input: new ort.Tensor("float32", x, [n, 3, 112, 112]) });
    return out.embedding.data as Float32Array;
  } finally {
    await s.release();
  }
}

function inputs(n: number, seed: number): Float32Array {
  const r = uniform(seed);
  return Float32Array.from({ length: n * 3 * 112 * 112 }, () => 2 * r() - 1);
}

/** Runs onnx.checker.check_model (full check) on each file; null when python3 lacks onnx. */
async function pythonCheck(paths: string[]): Promise<string | null> {
  const probe = await new Deno.Command(PYTHON, { args: ["-c", "import onnx"], stderr: "null" })
    .output().catch(() => null);
  if (!probe?.success) return null;
  const code = "import onnx, sys\nfor p in sys.argv[1:]:\n" +
    "    onnx.checker.check_model(onnx.load(p), full_check=True)\n    print('ok', p)";
  const out = await new Deno.Command(PYTHON, { args: ["-c", code, ...paths] }).output();
  const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
  assert.ok(out.success, `onnx.checker rejected the export:\n${text}`);
  return text;
}

for (
  const [net, fold] of [["toy", true], ["toy", false], ["mbf", true], ["r18", true]] as const
) {
  Deno.test(`export ${net} (fold ${fold}) runs in onnxruntime and equals our WebGPU forward`, async () => {
    await initGpu();
    const model = await randomBackbone(net, 3);
    const ex = await exportOnnx(model, { network: net, foldBatchNorm: fold });
    const E = net === "toy" ? 128 : 512;
    assert.equal(ex.embeddingSize, E);
    // BatchNorms that follow a conv fold into it; the rest stay (toy: the head's; r18: each
    // block's bn1, which follows an Add or a PReLU, and bn2)
    const unfolded = { toy: 1, mbf: 0, r18: 9 }[net];
    if (fold) assert.equal(ex.ops.BatchNormalization ?? 0, unfolded);
    else assert.ok(ex.ops.BatchNormalization >= 5);
    const n = 2;
    const x = inputs(n, 11);
    const ours = await WebGpuEngine.fromModel(model, E).embedFloats(x, n, n);
    const theirs = await ortForward(ex.bytes, x, n);
    const err = relL2(theirs, ours);
    assert.ok(err < 1e-4, `relative L2 ${err}`);
  });
}

Deno.test("export writes the plain interface: input [batch,3,112,112], one fp32 output, [C,1,1] slopes", async () => {
  await initGpu();
  const model = await randomBackbone("mbf", 2);
  const ex = await exportOnnx(model, { network: "mbf" });
  const m = decodeOnnx(ex.bytes, "mbf.onnx");
  const s = summarizeOnnx(m, "mbf.onnx", ex.bytes.length);
  assert.deepEqual(s.inputs, [{
    name: "input",
    elemType: "float32",
    dims: ["batch", 3, 112, 112],
  }]);
  assert.deepEqual(s.outputs, [{ name: "embedding", elemType: "float32", dims: ["batch", 512] }]);
  assert.equal(s.opsets[""], 17);
  assert.ok(s.initialisers.every((t) => t.dataType === "float32"));
  const g = m.graph!;
  const slopes = g.node!.filter((n) => n.opType === "PRelu").map((n) => n.input![1]);
  const dims = new Map(g.initializer!.map((t) => [t.name, (t.dims ?? []).map(Number)]));
  assert.ok(slopes.length > 0);
  for (const k of slopes) {
    const d = dims.get(k)!;
    assert.deepEqual(d.slice(1), [1, 1], `${k} is [${d}]`);
  }
  assert.deepEqual(
    new Set(g.node!.map((n) => n.opType)),
    new Set(["Conv", "PRelu", "Add", "Flatten", "Gemm"]),
  );
});

Deno.test("exported toy, mbf and r18 pass Python's onnx.checker; opset is configurable", async () => {
  await initGpu();
  const dir = await Deno.makeTempDir();
  try {
    const paths = [];
    for (const [net, opset] of [["toy", 17], ["mbf", 17], ["r18", 17], ["toy", 13]] as const) {
      const ex = await exportOnnx(await randomBackbone(net, 5), { network: net, opset });
      const p = `${dir}/${net}_${opset}.onnx`;
      await Deno.writeFile(p, ex.bytes);
      paths.push(p);
    }
    const text = await pythonCheck(paths);
    if (text === null) console.warn("skipped: /usr/bin/python3 has no onnx");
    else assert.equal(text.match(/^ok /gm)?.length, 4);
    await assert.rejects(
      exportOnnx(createBackbone("toy"), { opset: 9 }),
      /opset 9 is not supported \(13 … 21\)/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("exportCheckpoint writes atomically; a wrong network or a missing file is one line naming it", async () => {
  await initGpu();
  const dir = await Deno.makeTempDir();
  try {
    const ck = `${dir}/toy.safetensors`;
    const model = await randomBackbone("toy", 9);
    await writeWeights(ck, await model.stateDict());
    const out = `${dir}/toy.onnx`;
    const ex = await exportCheckpoint(ck, "toy", out);
    assert.deepEqual(await Deno.readFile(out), ex.bytes);
    assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name).sort(), [
      "toy.onnx",
      "toy.safetensors",
    ]);
    const x = inputs(1, 4);
    const err = relL2(
      await ortForward(ex.bytes, x, 1),
      await WebGpuEngine.fromModel(model, 128).embedFloats(x, 1),
    );
    assert.ok(err < 1e-4, `relative L2 ${err}`);

    const wrong = await exportCheckpoint(ck, "mbf", `${dir}/x.onnx`).catch((e) => e as Error);
    assert.ok(wrong instanceof Error);
    assert.match(
      wrong.message,
      new RegExp(`^${ck}: does not match network mbf: \\d+ missing keys`),
    );
    assert.ok(!wrong.message.includes("\n"), wrong.message);
    await assert.rejects(
      exportCheckpoint(`${dir}/none.pth`, "r18", `${dir}/y.onnx`),
      (e: Error) => e.message === `${dir}/none.pth: cannot read the checkpoint (no such file)`,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
