import assert from "node:assert/strict";
import { inspectDataset } from "../../src/data/inspect.ts";
import { packImageFolder } from "../../src/data/pack.ts";
import { RecordIODataset } from "../../src/data/recordio_dataset.ts";
import { assertBytesEqual, python, writeToyFolder } from "./helpers.ts";

const here = new URL(".", import.meta.url).pathname;
const root = new URL("../../", import.meta.url).pathname;

Deno.test("folder → pack → read: identical bytes and labels, classes in sorted name order", async () => {
  const dir = await Deno.makeTempDir();
  writeToyFolder(`${dir}/imgs`, 4, 3);
  // a class whose name sorts first but was created last, with a PNG in it
  Deno.mkdirSync(`${dir}/imgs/aaa`);
  Deno.copyFileSync(`${dir}/imgs/id002/01.jpg`, `${dir}/imgs/aaa/x.jpg`);
  const r = packImageFolder(`${dir}/imgs`, `${dir}/pack`, { verify: true });
  assert.equal(r.numImages, 13);
  assert.equal(r.numClasses, 5);
  assert.equal(r.verified, 13);
  const ds = RecordIODataset.open(`${dir}/pack`);
  assert.equal(ds.layout.hasHeader, true);
  assert.equal(ds.length, 13);
  assert.equal(ds.numClasses, 5);
  const classes = ["aaa", "id000", "id001", "id002", "id003"];
  let i = 0;
  for (let c = 0; c < classes.length; c++) {
    const files = [...Deno.readDirSync(`${dir}/imgs/${classes[c]}`)].map((e) => e.name).sort();
    for (const f of files) {
      const rec = ds.reader.readRecordSync(ds.key(i));
      assert.equal(rec.header.label, c, `label of ${classes[c]}/${f}`);
      assertBytesEqual(rec.image, Deno.readFileSync(`${dir}/imgs/${classes[c]}/${f}`), f);
      i++;
    }
  }
  ds.close();
  // the identity records and label counts as inspect sees them
  const rep = await inspectDataset(`${dir}/pack`);
  assert.equal(rep.kind, "recordio");
  assert.equal(rep.num_classes, 5);
  assert.equal(rep.num_images, 13);
  assert.deepEqual(rep.label_counts, [1, 3, 3, 3, 3]);
  assert.deepEqual(rep.problems, []);
  // and Python's independent reader agrees on the header and identity records
  const got = JSON.parse(await python([`${here}read_rec.py`, `${dir}/pack/train`]));
  assert.deepEqual(got[0].labels, [14, 19]);
  assert.deepEqual(got[14].labels, [1, 2]); // class 0 ("aaa"): key 1 only
  assert.deepEqual(got[18].labels, [11, 14]);
});

Deno.test("deno task pack and inspect --json from the command line", async () => {
  const dir = await Deno.makeTempDir();
  writeToyFolder(`${dir}/imgs`, 3, 2);
  const run = async (script: string, args: string[]) => {
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", `${root}tasks/${script}`, ...args],
      stdout: "piped",
      stderr: "piped",
    }).output();
    return {
      code: out.code,
      text: new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr),
    };
  };
  const p = await run("pack.ts", [`${dir}/imgs`, `${dir}/out`, "--verify"]);
  assert.equal(p.code, 0, p.text);
  assert.match(p.text, /packed 6 images of 3 classes.*verified 6 records/);
  const i = await run("inspect.ts", [`${dir}/out`, "--json"]);
  assert.equal(i.code, 0, i.text);
  const rep = JSON.parse(i.text);
  assert.equal(rep.num_classes, 3);
  assert.deepEqual(rep.label_counts, [2, 2, 2]);
  const t = await run("inspect.ts", ["toy:ids=7,per=3"]);
  assert.match(t.text, /num_classes\s+7[\s\S]*num_images\s+21/);
});
