/**
 * `deno task infer --network r50 --weight FILE (--img a.jpg … | --input x.npy) [--out emb.npy]`:
 * embeddings of face images (decoded, RGB, resized to 112×112, normalised as the reference) or
 * of an N×3×112×112 float32 `.npy` that is already normalised; printed, or written as N×E
 * float32 `.npy`.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { WebGpuEngine } from "../src/eval/webgpu_engine.ts";
import { loadFaceImages } from "../src/eval/faces.ts";
import { readNpy, writeNpy } from "../src/io/npy.ts";
import { toFloat32 } from "../src/io/host_tensor.ts";

const { values, positionals } = parseArgs({
  args: Deno.args,
  options: {
    network: { type: "string" },
    weight: { type: "string" },
    img: { type: "string", multiple: true },
    input: { type: "string" },
    out: { type: "string" },
    batch: { type: "string", default: "32" },
  },
  allowPositionals: true,
});
const imgs = [...(values.img ?? []), ...positionals];
const fail = (msg: string): never => {
  console.error(`infer: ${msg}`);
  Deno.exit(2);
};
if (!values.network) fail("--network is required (r18, r34, r50, r100, r200, r2060, mbf)");
if (!values.weight) fail("--weight FILE (.pth or .safetensors) is required");
if (!values.input && imgs.length === 0) fail("give --img FILE … or --input x.npy");

try {
  const engine = await WebGpuEngine.load(values.network!, values.weight!);
  const batch = Number(values.batch);
  let emb: Float32Array, n: number;
  if (values.input) {
    const t = await readNpy(values.input);
    if (t.shape.length !== 4 || t.shape[1] !== 3 || t.shape[2] !== 112 || t.shape[3] !== 112) {
      fail(`${values.input}: shape [${t.shape}] must be N×3×112×112 (normalised float32)`);
    }
    n = t.shape[0];
    emb = await engine.embedFloats(toFloat32(t), n, batch);
  } else {
    n = imgs.length;
    emb = await engine.embedImages(await loadFaceImages(imgs), n, { batch });
  }
  const E = engine.embeddingSize;
  if (values.out) {
    await writeNpy(values.out, { dtype: "float32", shape: [n, E], data: emb });
    console.log(`wrote ${n}×${E} embeddings to ${values.out}`);
  } else {
    for (let i = 0; i < n; i++) {
      const row = Array.from(emb.subarray(i * E, (i + 1) * E), (v) => v.toFixed(6));
      console.log(`${values.input ? `#${i}` : imgs[i]}: [${row.join(", ")}]`);
    }
  }
} catch (e) {
  fail((e as Error).message);
}
