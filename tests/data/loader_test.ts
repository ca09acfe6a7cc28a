import assert from "node:assert/strict";
import { IMAGE_BYTES } from "../../src/data/dataset.ts";
import { DataLoader } from "../../src/data/loader.ts";
import { DistributedSampler } from "../../src/data/sampler.ts";
import { SyntheticDataset } from "../../src/data/synthetic.ts";
import { ToyFacesDataset } from "../../src/data/toy_dataset.ts";
import { ImageFolderDataset } from "../../src/data/image_folder.ts";
import { openDataset } from "../../src/data/open.ts";
import { assertBytesEqual, writeToyFolder } from "./helpers.ts";

async function collect(loader: DataLoader) {
  const out: { images: Uint8Array; labels: number[]; indices: number[]; step: number }[] = [];
  for await (const b of loader.epoch()) {
    out.push({
      images: b.images.slice(),
      labels: [...b.labels],
      indices: [...b.indices],
      step: b.step,
    });
  }
  return out;
}

Deno.test("toy dataset through 2 workers: every sample rendered exactly as inline", async () => {
  const ds = new ToyFacesDataset({ seed: 4, numIdentities: 10, imagesPerIdentity: 5 });
  const a = await DataLoader.create(ds, { batchSize: 8, workers: 2, prefetch: 3, seed: 2 });
  const b = await DataLoader.create(ds, { batchSize: 8, workers: 0, seed: 2 });
  const [x, y] = [await collect(a), await collect(b)];
  assert.equal(x.length, 6); // 50 samples, drop_last
  assert.equal(a.batchesPerEpoch, 6);
  for (let k = 0; k < x.length; k++) {
    assert.deepEqual(x[k].indices, y[k].indices);
    assert.deepEqual(x[k].labels, x[k].indices.map((i) => Math.floor(i / 5)));
    assertBytesEqual(x[k].images, y[k].images, `batch ${k}`);
  }
  const one = new Uint8Array(IMAGE_BYTES);
  ds.load(x[2].indices[3], one, 0);
  assertBytesEqual(x[2].images.subarray(3 * IMAGE_BYTES, 4 * IMAGE_BYTES), one, "one sample");
  assert.equal(a.state().epoch, 1);
  assert.equal(a.stats().images, 48);
  assert.match(a.report(), /images\/s .*2 workers/);
  a.close();
  b.close();
});

Deno.test("resume mid-epoch yields exactly the remaining batches", async () => {
  const ds = new ToyFacesDataset({ seed: 1, numIdentities: 6, imagesPerIdentity: 4 });
  const full = await DataLoader.create(ds, { batchSize: 4, workers: 0, seed: 7 });
  full.restore({ epoch: 3, position: 0 });
  const all = await collect(full);
  const part = await DataLoader.create(ds, { batchSize: 4, workers: 0, seed: 7 });
  part.restore({ epoch: 3, position: 0 });
  const it = part.epoch();
  await it.next();
  await it.next();
  await it.return(undefined); // stop after two batches (as a crash would)
  const saved = part.state();
  assert.deepEqual(saved, { epoch: 3, position: 8 });
  const resumed = await DataLoader.create(ds, { batchSize: 4, workers: 1, seed: 7 });
  resumed.restore(saved);
  const rest = await collect(resumed);
  assert.deepEqual(rest.map((b) => b.indices), all.slice(2).map((b) => b.indices));
  assert.deepEqual(rest.map((b) => b.step), [2, 3, 4, 5]);
  assert.deepEqual(resumed.state(), { epoch: 4, position: 0 });
  resumed.close();
});

Deno.test("two ranks see disjoint halves; CPU flip mirrors the chosen samples", async () => {
  const ds = openDataset("toy:ids=4,per=4,seed=2");
  const seen: number[] = [];
  for (const rank of [0, 1]) {
    const sampler = new DistributedSampler({ length: ds.length, rank, worldSize: 2, seed: 3 });
    const l = await DataLoader.create(ds, { batchSize: 4, workers: 0, sampler });
    for (const b of await collect(l)) seen.push(...b.indices);
  }
  assert.equal(new Set(seen).size, 16);
  const flipped = await DataLoader.create(ds, { batchSize: 16, workers: 1, flip: true, seed: 5 });
  const [batch] = await collect(flipped);
  flipped.close();
  const plain = new Uint8Array(IMAGE_BYTES);
  let mirrored = 0;
  for (let j = 0; j < 16; j++) {
    ds.load(batch.indices[j], plain, 0, null);
    const got = batch.images.subarray(j * IMAGE_BYTES, (j + 1) * IMAGE_BYTES);
    const same = got.every((v, i) => v === plain[i]);
    // pixel (y, x) of a mirrored image is pixel (y, 111 − x) of the original
    const mirror = got.every((v, i) => {
      const p = Math.floor(i / 3), c = i % 3, y = Math.floor(p / 112), x = p % 112;
      return v === plain[(y * 112 + 111 - x) * 3 + c];
    });
    assert.ok(same || mirror, `sample ${j} is neither the original nor its mirror`);
    if (mirror && !same) mirrored++;
  }
  assert.ok(mirrored > 2 && mirrored < 14, `${mirrored} of 16 flipped`);
});

Deno.test("image folder and synthetic datasets; config mismatch is a clear error", async () => {
  const dir = await Deno.makeTempDir();
  writeToyFolder(dir, 3, 2);
  const folder = ImageFolderDataset.open(dir);
  assert.equal(folder.numClasses, 3);
  const l = await DataLoader.create(folder, {
    batchSize: 3,
    workers: 2,
    numClasses: 3,
    numImages: 6,
  });
  const batches = await collect(l);
  l.close();
  assert.deepEqual(batches.flatMap((b) => b.labels).sort(), [0, 0, 1, 1, 2, 2]);
  await assert.rejects(
    () => DataLoader.create(folder, { batchSize: 3, numImages: 7 }),
    /config num_image = 7 but the folder dataset has 6 images/,
  );
  const syn = new SyntheticDataset({ numImages: 10, numClasses: 5 });
  const s = await DataLoader.create(syn, { batchSize: 5, workers: 0 });
  const sb = await collect(s);
  assert.equal(sb.length, 2);
  assert.deepEqual(sb[0].labels, [1, 1, 1, 1, 1]);
  assertBytesEqual(sb[1].images.subarray(IMAGE_BYTES, 2 * IMAGE_BYTES), syn.image);
  assert.ok(syn.image.some((v) => v > 200) && syn.image.some((v) => v < 50));
});
