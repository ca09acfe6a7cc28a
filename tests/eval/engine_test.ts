import assert from "node:assert/strict";
import { initGpu } from "../../src/gpu/device.ts";
import { writeWeights } from "../../src/nn/weights.ts";
import { toyPairs } from "../../src/data/toy_faces.ts";
import { openEngine } from "../../src/eval/engine.ts";
import { OnnxEngine } from "../../src/eval/onnx_engine.ts";
import { exportOnnx } from "../../src/eval/onnx_export.ts";
import { imagesToNchw } from "../../src/eval/pixels.ts";
import { randomBackbone, relL2, tinyModel } from "./onnx_fixtures.ts";

async function withDir<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await Deno.makeTempDir();
  try {
    return await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

function faces(n: number): Uint8Array {
  const p = toyPairs({ seed: 3, numPairs: Math.ceil(n / 2), numIdentities: 4 });
  const out = new Uint8Array(n * 112 * 112 * 3);
  for (let i = 0; i < n; i++) out.set(p.images[i], i * 112 * 112 * 3);
  return out;
}

Deno.test("imagesToNchw normalises (x − 127.5)/127.5 per channel plane and mirrors rows", () => {
  const img = new Uint8Array(112 * 112 * 3);
  img[0] = 255; // pixel (0, 0) red
  img[(5 * 112 + 111) * 3 + 2] = 0; // pixel (5, 111) blue stays 0
  img[(5 * 112 + 111) * 3 + 1] = 51; // pixel (5, 111) green
  const x = imagesToNchw(img, 1);
  const P = 112 * 112;
  assert.equal(x[0], 1);
  assert.equal(x[P], -1);
  assert.equal(
    x[P + 5 * 112 + 111],
    Math.fround(Math.fround(Math.fround(51 / 255) - Math.fround(0.5)) / Math.fround(0.5)),
  );
  const f = imagesToNchw(img, 1, { flip: true });
  assert.equal(f[111], 1);
  assert.equal(f[0], -1);
  assert.equal(f[P + 5 * 112], x[P + 5 * 112 + 111]);
  const raw = imagesToNchw(img, 1, { norm: { mean: 0, std: 1 } });
  assert.ok(Math.abs(raw[0] - 255) < 1e-4); // f32 steps as on the GPU
});

Deno.test("onnx and webgpu engines agree on images and mirror images, at any batch", async () => {
  await initGpu();
  await withDir(async (dir) => {
    const model = await randomBackbone("toy", 6);
    const ck = `${dir}/toy.safetensors`;
    await writeWeights(ck, await model.stateDict());
    const onnxPath = `${dir}/toy.onnx`;
    await Deno.writeFile(onnxPath, (await exportOnnx(model, { network: "toy" })).bytes);
    const n = 5;
    const imgs = faces(n);
    const gpuE = await openEngine(ck, { network: "toy", batch: 2 });
    const ortE = await openEngine(onnxPath, { batch: 3, threads: 1 });
    assert.equal(gpuE.kind, "webgpu");
    assert.equal(ortE.kind, "onnx");
    assert.equal(ortE.embeddingSize, 128);
    for (const flip of [false, true]) {
      const a = await gpuE.embed(imgs, n, { flip });
      const b = await ortE.embed(imgs, n, { flip });
      assert.equal(a.length, n * 128);
      const err = relL2(b, a);
      assert.ok(err < 1e-4, `flip ${flip}: relative L2 ${err}`);
    }
    // batching does not change the result
    ortE.batch = 5;
    const whole = await ortE.embed(imgs, n);
    ortE.batch = 1;
    assert.deepEqual(await ortE.embed(imgs, n), whole);
    // mirrored embeddings differ from plain ones
    assert.ok(relL2(await ortE.embed(imgs, n, { flip: true }), whole) > 1e-3);
    await ortE.close();
    await gpuE.close();
  });
});

Deno.test("onnx engine honours a fixed batch dimension and the graph's own normalisation", async () => {
  await withDir(async (dir) => {
    const fixed = `${dir}/fixed.onnx`;
    await Deno.writeFile(fixed, tinyModel({ inputDims: [2, 3, 112, 112] }));
    const free = `${dir}/free.onnx`;
    await Deno.writeFile(free, tinyModel());
    const imgs = faces(3);
    const a = await OnnxEngine.load(fixed, { batch: 32 });
    const b = await OnnxEngine.load(free, { batch: 32 });
    assert.equal(a.batch, 2);
    assert.deepEqual(await a.embed(imgs, 3), await b.embed(imgs, 3));
    await a.close();
    await b.close();
    const norm = `${dir}/norm.onnx`;
    await Deno.writeFile(norm, tinyModel({ normalizes: true }));
    const c = await OnnxEngine.load(norm);
    assert.deepEqual(c.pixelNorm, { mean: 0, std: 1 });
    await c.close();
  });
});

Deno.test("engine errors are one line naming the file", async () => {
  await withDir(async (dir) => {
    const cases: [string, Uint8Array | null, Parameters<typeof openEngine>[1], RegExp][] = [
      [
        "rank.onnx",
        tinyModel({ inputDims: ["batch", 3, 12544] }),
        {},
        /rank\.onnx: input "input" has rank 3 \[batch, 3, 12544\]; expected 4-D \[N, 3, 112, 112\]$/,
      ],
      [
        "size.onnx",
        tinyModel({ inputDims: ["batch", 3, 224, 224] }),
        {},
        /size\.onnx: input "input" is \[batch, 3, 224, 224\]; expected \[N, 3, 112, 112\]$/,
      ],
      ["junk.onnx", new TextEncoder().encode("\x0fjunk\xff"), {}, /junk\.onnx: not an ONNX model/],
      [
        "model.pth",
        new Uint8Array(8),
        {},
        /model\.pth: a checkpoint needs --network \(one of r18, .*mbf, toy\)$/,
      ],
      [
        "model.onnx",
        tinyModel(),
        { engine: "webgpu" },
        /model\.onnx: the webgpu engine runs checkpoints/,
      ],
      [
        "missing.safetensors",
        null,
        { network: "toy" },
        /missing\.safetensors: cannot read the checkpoint \(no such file\)$/,
      ],
      ["weights.h5", new Uint8Array(1), {}, /weights\.h5: unknown model format/],
    ];
    for (const [name, bytes, opts, re] of cases) {
      const p = `${dir}/${name}`;
      if (bytes) await Deno.writeFile(p, bytes);
      const e = await openEngine(p, opts).then(() => null, (e) => e as Error);
      assert.ok(e, `${name}: expected an error`);
      assert.match(e.message, re);
      assert.ok(e.message.startsWith(p), e.message);
      assert.ok(!e.message.includes("\n"), e.message);
    }
  });
});
