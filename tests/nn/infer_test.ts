// `deno task infer` and `deno task convert` as a user runs them: seeded mbf weights written as
// .pth, converted to .safetensors, embeddings of a closed-form input equal PyTorch's
// (tests/fixtures/parity_mbf.json), and images go through decode → resize → normalise.
import assert from "node:assert/strict";
import { encodePng } from "../../src/data/png.ts";
import { readNpy, writeNpy } from "../../src/io/npy.ts";
import { writePth } from "../../src/io/pth.ts";
import { createBackbone } from "../../src/nn/backbones/mod.ts";
import { relErr, setup } from "../util.ts";

await setup();
const root = new URL("../../", import.meta.url).pathname;

async function task(name: string, args: string[]) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", `${root}tasks/${name}.ts`, ...args],
    stdout: "piped",
    stderr: "piped",
  }).output();
  return {
    code: out.code,
    stdout: new TextDecoder().decode(out.stdout),
    stderr: new TextDecoder().decode(out.stderr),
  };
}

Deno.test("convert .pth → .safetensors → infer --input matches PyTorch's embedding", async () => {
  const dir = await Deno.makeTempDir();
  const fx = JSON.parse(
    await Deno.readTextFile(new URL("../fixtures/parity_mbf.json", import.meta.url)),
  );
  await writePth(`${dir}/mbf.pth`, await createBackbone("mbf", { seed: 7 }).stateDict());
  const conv = await task("convert", [`${dir}/mbf.pth`, `${dir}/mbf.safetensors`]);
  assert.equal(conv.code, 0, conv.stderr);
  const n = fx.batch, per = 3 * 112 * 112;
  const x = new Float32Array(n * per);
  for (let k = 0; k < n; k++) {
    for (let i = 0; i < per; i++) {
      x[k * per + i] = Math.sin(0.001 * i * (1 + 0.37 * k) + 0.5 + k) * 0.9;
    }
  }
  await writeNpy(`${dir}/x.npy`, { dtype: "float32", shape: [n, 3, 112, 112], data: x });
  const r = await task("infer", [
    "--network",
    "mbf",
    "--weight",
    `${dir}/mbf.safetensors`,
    "--input",
    `${dir}/x.npy`,
    "--out",
    `${dir}/emb.npy`,
  ]);
  assert.equal(r.code, 0, r.stderr);
  const emb = await readNpy(`${dir}/emb.npy`);
  assert.deepEqual(emb.shape, [n, 512]);
  const err = relErr(emb.data as Float32Array, fx.eval);
  assert.ok(err < 1e-4, `infer vs PyTorch relative error ${err}`);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("infer --img decodes, resizes and embeds; bad input gives one clear line", async () => {
  const dir = await Deno.makeTempDir();
  await writePth(`${dir}/mbf.pth`, await createBackbone("mbf", { seed: 3 }).stateDict());
  const rgb = new Uint8Array(120 * 100 * 3).map((_, i) => (i * 37) % 251);
  await Deno.writeFile(`${dir}/face.png`, encodePng(rgb, 120, 100));
  const ok = await task("infer", [
    "--network",
    "mbf",
    "--weight",
    `${dir}/mbf.pth`,
    "--img",
    `${dir}/face.png`,
  ]);
  assert.equal(ok.code, 0, ok.stderr);
  assert.match(ok.stdout, /face\.png: \[(-?\d+\.\d+, ){511}-?\d+\.\d+\]/);
  const noNet = await task("infer", ["--weight", `${dir}/mbf.pth`, "--img", `${dir}/face.png`]);
  assert.notEqual(noNet.code, 0);
  assert.match(noNet.stderr, /--network is required/);
  await Deno.writeTextFile(`${dir}/bad.jpg`, "not an image");
  const bad = await task("infer", [
    "--network",
    "mbf",
    "--weight",
    `${dir}/mbf.pth`,
    "--img",
    `${dir}/bad.jpg`,
  ]);
  assert.notEqual(bad.code, 0);
  assert.match(bad.stderr, /bad\.jpg: image 0 cannot be decoded/);
  const wrong = await task("infer", [
    "--network",
    "r18",
    "--weight",
    `${dir}/mbf.pth`,
    "--img",
    `${dir}/face.png`,
  ]);
  assert.notEqual(wrong.code, 0);
  assert.match(wrong.stderr, /cannot load .*mbf\.pth:\s+missing keys/);
  await Deno.remove(dir, { recursive: true });
});
