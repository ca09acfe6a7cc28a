import assert from "node:assert/strict";
import { DataError } from "../../src/data/errors.ts";
import { inspectDataset } from "../../src/data/inspect.ts";
import { ImageFolderDataset } from "../../src/data/image_folder.ts";
import { DataLoader } from "../../src/data/loader.ts";
import { packImageFolder } from "../../src/data/pack.ts";
import { packRecord, RecordIOReader, RecordIOWriter } from "../../src/data/recordio.ts";
import { RecordIODataset } from "../../src/data/recordio_dataset.ts";
import { encodePng } from "../../src/data/png.ts";
import { writeToyFolder } from "./helpers.ts";

/** A packed toy folder: 3 classes × 4 JPEGs; returns the pack dir and record offsets. */
async function makePack() {
  const dir = await Deno.makeTempDir();
  writeToyFolder(`${dir}/imgs`, 3, 4);
  packImageFolder(`${dir}/imgs`, `${dir}/pack`);
  const r = RecordIOReader.open(`${dir}/pack/train.rec`);
  const offsets = [...r.index.offsets];
  const size = r.fileSize;
  r.close();
  return { dir, rec: `${dir}/pack/train.rec`, idx: `${dir}/pack/train.idx`, offsets, size };
}

function assertLocated(e: unknown, file: string, key: number, offset: number, re: RegExp) {
  assert.ok(e instanceof DataError, `expected a DataError, got ${e}`);
  assert.equal(e.file, file);
  assert.equal(e.key, key);
  assert.equal(e.offset, offset);
  assert.match(e.message, re);
  assert.match(e.message, new RegExp(`file .*key ${key}, offset ${offset}`));
}

Deno.test("truncated .rec: the error names file, key and offset; inspect lists it", async () => {
  const p = await makePack();
  // cut inside image key 12 (the last image)
  const f = Deno.openSync(p.rec, { write: true });
  f.truncateSync(p.offsets[12] + 100);
  f.close();
  const r = RecordIOReader.open(p.rec, p.idx);
  let err: unknown;
  try {
    r.readSync(12);
  } catch (e) {
    err = e;
  }
  assertLocated(err, p.rec, 12, p.offsets[12], /truncated record/);
  r.close();
  const rep = await inspectDataset(p.rec);
  assert.ok(rep.num_problems >= 1);
  assert.match(rep.problems.join("\n"), /truncated record:.*key 12/);
});

Deno.test(".idx pointing past the end of the .rec: reads of that key fail with its location", async () => {
  const p = await makePack();
  Deno.writeTextFileSync(p.idx, `0\t0\n1\t${p.offsets[1]}\n2\t${p.size + 4000}\n`);
  const r = RecordIOReader.open(p.rec, p.idx);
  assert.equal(r.readRecordSync(1).header.label, 0);
  let err: unknown;
  try {
    r.readSync(2);
  } catch (e) {
    err = e;
  }
  r.close();
  assertLocated(err, p.rec, 2, p.size + 4000, /\.idx points past the end of the \.rec/);
  const rep = await inspectDataset(p.rec);
  assert.match(rep.problems.join("\n"), /points past the end.*key 2/);
});

Deno.test("bad magic: loader with workers rejects naming file, key and offset (no hang)", async () => {
  const p = await makePack();
  const bytes = Deno.readFileSync(p.rec);
  bytes[p.offsets[5]] ^= 0xff;
  Deno.writeFileSync(p.rec, bytes);
  const ds = RecordIODataset.open(p.rec);
  const loader = await DataLoader.create(ds, { batchSize: 4, workers: 2, prefetch: 1 });
  let err: unknown;
  try {
    for await (const _ of loader.epoch()) { /* consume */ }
  } catch (e) {
    err = e;
  } finally {
    loader.close();
    ds.close();
  }
  assertLocated(err, p.rec, 5, p.offsets[5], /bad magic 0x/);
});

Deno.test("undecodable image: error with location; --skip-bad counts, warns and replaces", async () => {
  const dir = await Deno.makeTempDir();
  writeToyFolder(`${dir}/imgs`, 2, 4);
  const bad = `${dir}/imgs/id001/02.jpg`;
  const jpeg = Deno.readFileSync(bad);
  Deno.writeFileSync(bad, jpeg.subarray(0, 200)); // truncated JPEG: header fine, data cut
  const ds = ImageFolderDataset.open(`${dir}/imgs`);
  const strict = await DataLoader.create(ds, { batchSize: 8, workers: 2, seed: 1 });
  let err: unknown;
  try {
    for await (const _ of strict.epoch()) { /* consume */ }
  } catch (e) {
    err = e;
  } finally {
    strict.close();
  }
  assertLocated(err, bad, 6, 0, /JPEG/);
  const warnings: string[] = [];
  const lenient = await DataLoader.create(ds, {
    batchSize: 8,
    workers: 2,
    skipBad: true,
    onWarning: (m) => warnings.push(m),
  });
  let batches = 0;
  for await (const b of lenient.epoch()) {
    batches++;
    assert.ok(!b.indices.includes(6) || b.labels.every((l) => l === 0 || l === 1));
    assert.ok(b.labels.every((l) => l >= 0));
  }
  assert.equal(batches, 1);
  assert.equal(lenient.stats().skipped, 1);
  assert.equal(warnings.length, 1);
  assert.match(warnings[0], /skipped bad sample 6 .*02\.jpg/);
  lenient.close();
  // garbage bytes are reported as such too, inline (no workers)
  Deno.writeFileSync(bad, new TextEncoder().encode("this is not an image at all"));
  const inline = await DataLoader.create(ds, { batchSize: 8, workers: 0 });
  await assert.rejects(async () => {
    for await (const _ of inline.epoch()) { /* consume */ }
  }, /not a JPEG or PNG image .*file .*02\.jpg, key 6, offset 0/);
  inline.close();
});

Deno.test("label outside the class range is an error, never a silent wrong label", async () => {
  const dir = await Deno.makeTempDir();
  const jpeg = (() => {
    const d = `${dir}/one`;
    writeToyFolder(d, 1, 1);
    return Deno.readFileSync(`${d}/id000/00.jpg`);
  })();
  // an InsightFace header saying 2 classes, but image 3 labelled 7
  const w = RecordIOWriter.create(`${dir}/t.rec`, `${dir}/t.idx`);
  w.write(0, packRecord({ label: [4, 6] }, new Uint8Array(0)));
  w.write(1, packRecord({ label: 0 }, jpeg));
  w.write(2, packRecord({ label: 1 }, jpeg));
  const off3 = w.write(3, packRecord({ label: 7 }, jpeg));
  w.write(4, packRecord({ label: [1, 3] }, new Uint8Array(0)));
  w.write(5, packRecord({ label: [3, 4] }, new Uint8Array(0)));
  w.close();
  const ds = RecordIODataset.open(`${dir}/t.rec`);
  assert.equal(ds.numClasses, 2);
  const loader = await DataLoader.create(ds, { batchSize: 3, workers: 1, prefetch: 0 });
  let err: unknown;
  try {
    for await (const _ of loader.epoch()) { /* consume */ }
  } catch (e) {
    err = e;
  } finally {
    loader.close();
  }
  assertLocated(err, `${dir}/t.rec`, 3, off3, /label 7 is outside the class range \[0, 2\)/);
  const rep = await inspectDataset(`${dir}/t.rec`);
  assert.match(rep.problems.join("\n"), /label 7 outside the class range/);
  // a config that disagrees with the data is refused up front
  await assert.rejects(
    () => DataLoader.create(ds, { batchSize: 3, workers: 0, numClasses: 3 }),
    /config num_classes = 3 but the recordio dataset has 2 classes \(set num_classes = 2/,
  );
  ds.close();
});

Deno.test("image that is not 112×112: pack refuses (or skips), loader rejects", async () => {
  const dir = await Deno.makeTempDir();
  writeToyFolder(`${dir}/imgs`, 2, 2);
  const odd = `${dir}/imgs/id000/99.png`;
  Deno.writeFileSync(odd, encodePng(new Uint8Array(100 * 90 * 3), 100, 90));
  assert.throws(
    () => packImageFolder(`${dir}/imgs`, `${dir}/pack`),
    /image is 100x90, expected 112x112 \(file .*99\.png, key 2, offset 0\)/,
  );
  const warnings: string[] = [];
  const r = packImageFolder(`${dir}/imgs`, `${dir}/pack`, {
    skipBad: true,
    verify: true,
    onWarning: (m) => warnings.push(m),
  });
  assert.equal(r.numImages, 4);
  assert.equal(r.skipped.length, 1);
  assert.equal(warnings.length, 1);
  const ds = ImageFolderDataset.open(`${dir}/imgs`);
  const loader = await DataLoader.create(ds, { batchSize: 5, workers: 1 });
  await assert.rejects(async () => {
    for await (const _ of loader.epoch()) { /* consume */ }
  }, /image is 100x90, expected 112x112 \(file .*99\.png, key 2, offset 0\)/);
  loader.close();
});

Deno.test("worker failures reject instead of hanging: init, vanished files, closed pool", async () => {
  const { DecodePool } = await import("../../src/data/pool.ts");
  const images = new SharedArrayBuffer(4 * 112 * 112 * 3);
  const labels = new SharedArrayBuffer(16);
  const dir = await Deno.makeTempDir();
  // a pack whose .rec is gone: every worker fails while opening it
  await assert.rejects(
    () =>
      DecodePool.create({
        spec: {
          kind: "recordio",
          rec: `${dir}/missing.rec`,
          idx: null,
          keys: new Float64Array(1),
          offsets: new Float64Array(1),
          hasHeader: false,
          numImages: 1,
          numClasses: null,
        },
        workers: 2,
        images,
        labels,
        numClasses: null,
      }),
    /decode worker \d: .*missing\.rec/,
  );
  // files that vanish after the pool started
  writeToyFolder(`${dir}/imgs`, 1, 2);
  const ds = ImageFolderDataset.open(`${dir}/imgs`);
  const pool = await DecodePool.create({
    spec: ds.spec(),
    workers: 1,
    images,
    labels,
    numClasses: 1,
  });
  Deno.removeSync(`${dir}/imgs`, { recursive: true });
  await assert.rejects(() => pool.load(0, Int32Array.of(0, 1)), /No such file|not found/i);
  pool.close();
  await assert.rejects(() => pool.load(0, Int32Array.of(0)), /decode pool closed/);
});
