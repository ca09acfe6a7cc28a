import assert from "node:assert/strict";
import { bestThresholdAccuracy, pixelBaseline } from "../../src/data/pixel_baseline.ts";
import { TOY_IMAGE_BYTES, ToyFaces, toyPairs } from "../../src/data/toy_faces.ts";
import { writeToyBin } from "../../src/data/toy_bin.ts";
import { assertBytesEqual, python } from "./helpers.ts";

Deno.test("toy faces are deterministic, labelled by identity, and vary between images", () => {
  const a = new ToyFaces({ seed: 5, numIdentities: 30, imagesPerIdentity: 4 });
  const b = new ToyFaces({ seed: 5, numIdentities: 30, imagesPerIdentity: 4 });
  const x = new Uint8Array(TOY_IMAGE_BYTES), y = new Uint8Array(TOY_IMAGE_BYTES);
  assert.equal(a.renderInto(17, x), 4);
  assert.equal(b.renderInto(17, y), 4);
  assertBytesEqual(x, y, "same seed, same image");
  b.renderInto(16, y); // same identity, another image
  assert.ok(x.some((v, i) => v !== y[i]));
  new ToyFaces({ seed: 6, numIdentities: 30, imagesPerIdentity: 4 }).renderInto(17, y);
  assert.ok(x.some((v, i) => v !== y[i]));
  assert.throws(() => a.renderInto(120, x), /out of range/);
});

Deno.test("rendering is fast enough to generate a training set on the fly", () => {
  const f = new ToyFaces({ seed: 1, numIdentities: 100, imagesPerIdentity: 10 });
  const out = new Uint8Array(TOY_IMAGE_BYTES);
  const t0 = performance.now();
  for (let i = 0; i < 300; i++) f.renderInto(i, out);
  const perSec = 300 / ((performance.now() - t0) / 1000);
  console.log(`toy faces: ${perSec.toFixed(0)} images/s on one thread`);
  assert.ok(perSec > 300, `${perSec} images/s`);
});

Deno.test("best-threshold accuracy picks the separating threshold", () => {
  const r = bestThresholdAccuracy([0.9, 0.2, 0.3, 0.1, 0.7], [true, true, false, false, false]);
  assert.equal(r.accuracy, 0.8);
  assert.ok(r.threshold > 0.7 && r.threshold < 0.9);
  assert.deepEqual(bestThresholdAccuracy([0.9, 0.1], [true, false]).accuracy, 1);
});

Deno.test("held-out pairs: raw-pixel cosine baseline stays below 75 %", () => {
  const pairs = toyPairs({ seed: 0, numIdentities: 200, numPairs: 800 });
  assert.equal(pairs.images.length, 1600);
  assert.equal(pairs.issame.filter(Boolean).length, 400);
  const b = pixelBaseline(pairs.images, pairs.issame);
  console.log(
    `toy faces raw-pixel cosine verification baseline: ${(100 * b.accuracy).toFixed(1)} % ` +
      `(best threshold ${b.threshold.toFixed(3)}, 800 held-out pairs)`,
  );
  assert.ok(b.accuracy < 0.75, `baseline ${b.accuracy}`);
  assert.ok(b.accuracy >= 0.5);
});

Deno.test("the toy .bin is a pickle Python reads: PNG images equal our pixels", async () => {
  const dir = await Deno.makeTempDir();
  const pairs = toyPairs({ seed: 2, numIdentities: 20, numPairs: 6 });
  await writeToyBin(`${dir}/toy.bin`, pairs);
  await writeToyBin(`${dir}/toy_jpeg.bin`, pairs, "jpeg");
  const code = [
    "import sys, pickle, io, json",
    "from PIL import Image",
    "for path in sys.argv[1:]:",
    "    with open(path, 'rb') as f:",
    "        bins, issame = pickle.load(f, encoding='bytes')",
    "    ims = [Image.open(io.BytesIO(b)) for b in bins]",
    "    print(json.dumps({'n': len(bins), 'issame': issame, 'fmt': ims[0].format,",
    "        'size': ims[0].size, 'px': ims[3].convert('RGB').tobytes().hex()}))",
  ].join("\n");
  const [png, jpg] = (await python(["-c", code, `${dir}/toy.bin`, `${dir}/toy_jpeg.bin`]))
    .trim().split("\n").map((l) => JSON.parse(l));
  assert.equal(png.n, 12);
  assert.deepEqual(png.issame, pairs.issame);
  assert.equal(png.fmt, "PNG");
  assert.deepEqual(png.size, [112, 112]);
  const px = Uint8Array.from(png.px.match(/../g), (h: string) => parseInt(h, 16));
  assertBytesEqual(px, pairs.images[3], "image 3 as Python decodes it");
  assert.equal(jpg.fmt, "JPEG");
  assert.deepEqual(jpg.issame, pairs.issame);
});
