import assert from "node:assert/strict";
import {
  frameRecord,
  packRecord,
  RecordIOReader,
  RecordIOWriter,
  scanRecordIOSync,
  unpackRecord,
} from "../../src/data/recordio.ts";
import { python } from "./helpers.ts";

const here = new URL(".", import.meta.url).pathname;
const hex = (b: Uint8Array) => Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");

interface Entry {
  key: number;
  flag: number;
  label: number;
  labels: number[];
  id: number;
  image: string;
}

Deno.test("packRecord/unpackRecord: scalar and array labels, ids", () => {
  const img = new Uint8Array([1, 2, 3, 4, 5]);
  const a = unpackRecord(packRecord({ label: 7, id: 42, id2: 9 }, img));
  assert.equal(a.header.flag, 0);
  assert.equal(a.header.label, 7);
  assert.equal(a.header.id, 42);
  assert.equal(a.header.id2, 9);
  assert.deepEqual([...a.image], [...img]);
  const b = unpackRecord(packRecord({ label: [3, 0.5, 9] }, img));
  assert.equal(b.header.flag, 3);
  assert.deepEqual([...b.header.labels], [3, 0.5, 9]);
  assert.deepEqual([...b.image], [...img]);
  assert.throws(() => unpackRecord(new Uint8Array(10)), /shorter than the 24-byte IRHeader/);
});

Deno.test("frameRecord splits at aligned magic numbers and the reader rejoins them", async () => {
  const dir = await Deno.makeTempDir();
  const w = RecordIOWriter.create(`${dir}/a.rec`, `${dir}/a.idx`);
  const payloads: Uint8Array[] = [];
  for (let k = 0; k < 5; k++) {
    const p = new Uint8Array(37 + 13 * k).map((_, i) => (i * 31 + k) & 0xff);
    if (k % 2 === 0) p.set([0x0a, 0x23, 0xd7, 0xce], 8); // magic at an aligned position
    if (k === 4) p.set([0x0a, 0x23, 0xd7, 0xce], 4 * 5);
    if (k === 3) p.set([0x0a, 0x23, 0xd7, 0xce], 5); // unaligned: no split
    payloads.push(p);
    w.write(10 + k, p);
  }
  w.close();
  // one part for k = 1, 3; two for 0, 2; three for 4
  assert.equal(frameRecord(payloads[1]).length, 8 + ((payloads[1].length + 3) & ~3));
  assert.equal(frameRecord(payloads[0]).length, 16 + ((payloads[0].length + 3) & ~3) - 4);
  const r = RecordIOReader.open(`${dir}/a.rec`);
  assert.equal(r.length, 5);
  for (let k = 0; k < 5; k++) assert.deepEqual(r.readSync(10 + k), payloads[k]);
  const scanned = scanRecordIOSync(`${dir}/a.rec`);
  assert.deepEqual([...scanned.offsets], [...r.index.offsets]);
  r.close();
});

Deno.test("reads an InsightFace-layout pack written by an independent Python writer", async () => {
  const dir = await Deno.makeTempDir();
  const manifest: Entry[] = JSON.parse(
    await python([`${here}write_rec.py`, `${dir}/train`, "insightface"]),
  );
  const r = RecordIOReader.open(`${dir}/train.rec`);
  const layout = r.layout();
  assert.equal(layout.hasHeader, true);
  assert.equal(layout.numImages, 8);
  assert.equal(layout.numClasses, 3);
  assert.deepEqual(layout.identityKeys, [9, 12]);
  for (const e of manifest) {
    const rec = r.readRecordSync(e.key);
    assert.equal(rec.header.flag, e.flag, `flag of key ${e.key}`);
    assert.equal(rec.header.label, e.label);
    assert.deepEqual([...rec.header.labels], e.labels);
    assert.equal(rec.header.id, e.id);
    assert.equal(hex(rec.image), e.image, `image bytes of key ${e.key}`);
  }
  // some of Python's records were multi-part
  const multi = manifest.filter((e) => e.image.includes("0a23d7ce"));
  assert.ok(multi.length >= 2);
  r.close();
});

Deno.test("reads an im2rec-style pack (no header, array labels) from Python", async () => {
  const dir = await Deno.makeTempDir();
  const manifest: Entry[] = JSON.parse(
    await python([`${here}write_rec.py`, `${dir}/train`, "im2rec"]),
  );
  const r = RecordIOReader.open(`${dir}/train.rec`, `${dir}/train.idx`);
  const layout = r.layout();
  assert.equal(layout.hasHeader, false);
  assert.equal(layout.numImages, 6);
  assert.equal(layout.numClasses, null);
  for (const e of manifest) {
    const rec = r.readRecordSync(e.key);
    assert.deepEqual([...rec.header.labels], e.labels);
    assert.equal(hex(rec.image), e.image);
  }
  r.close();
});

Deno.test("Python reads back what our writer wrote, multi-part records included", async () => {
  const dir = await Deno.makeTempDir();
  const w = RecordIOWriter.create(`${dir}/ours.rec`, `${dir}/ours.idx`);
  const want: { key: number; label: number | number[]; image: Uint8Array }[] = [];
  for (let k = 0; k < 7; k++) {
    const image = new Uint8Array(20 + 11 * k).map((_, i) => (i * 7 + k * 3) & 0xff);
    if (k % 3 === 0) image.set([0x0a, 0x23, 0xd7, 0xce], 4); // aligned inside the payload
    const label = k === 5 ? [5, 1.5] : k;
    w.write(k, packRecord({ label, id: k }, image));
    want.push({ key: k, label, image });
  }
  w.close();
  const got: (Entry & { id2: number })[] = JSON.parse(
    await python([`${here}read_rec.py`, `${dir}/ours`]),
  );
  assert.equal(got.length, want.length);
  for (let i = 0; i < want.length; i++) {
    assert.equal(got[i].key, want[i].key);
    if (Array.isArray(want[i].label)) {
      assert.equal(got[i].flag, 2);
      assert.deepEqual(got[i].labels, want[i].label);
    } else {
      assert.equal(got[i].flag, 0);
      assert.equal(got[i].label, want[i].label);
    }
    assert.equal(got[i].id, want[i].key);
    assert.equal(got[i].image, hex(want[i].image));
  }
});

Deno.test("keys that are not dense are found by binary search or map", async () => {
  const dir = await Deno.makeTempDir();
  const w = RecordIOWriter.create(`${dir}/s.rec`, `${dir}/s.idx`);
  const keys = [5, 17, 3, 1000];
  for (const k of keys) w.write(k, packRecord({ label: k }, new Uint8Array([k & 0xff])));
  w.close();
  const r = RecordIOReader.open(`${dir}/s.rec`);
  for (const k of keys) assert.equal(r.readRecordSync(k).header.label, k);
  assert.equal(r.has(4), false);
  assert.throws(() => r.readSync(4), /no record with this key.*key 4/);
  r.close();
});
