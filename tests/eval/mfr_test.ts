import assert from "node:assert/strict";
import { initGpu } from "../../src/gpu/device.ts";
import { EmbeddingStore } from "../../src/eval/embedding_store.ts";
import { openEngine } from "../../src/eval/engine.ts";
import { FaceDecoder } from "../../src/eval/face_bytes.ts";
import { parseMfrList, planMfr, readMfrList, skippedWarning } from "../../src/eval/mfr.ts";
import { parseMfrArgs, runMfrTask } from "../../src/eval/mfr_task.ts";
import { exportOnnx } from "../../src/eval/onnx_export.ts";
import { EVAL_TARGETS } from "../../src/eval/targets.ts";
import { writeMfrSet } from "../../src/eval/testsets.ts";
import { randomBackbone } from "./onnx_fixtures.ts";
import { SEED } from "../util.ts";

Deno.test("mfr list: parse errors name file:line; identities without pairs are warned about", async () => {
  const bad = (text: string, re: RegExp) => assert.throws(() => parseMfrList(text, "L.txt"), re);
  bad("a.jpg 1 0\nb.jpg 2 0 extra\n", /L\.txt:2: expected .*got 4 fields/);
  bad("a.jpg\n", /L\.txt:1: expected .*got 1 fields/);
  bad("a.jpg 1 0\n\nb.jpg 1 yes\n", /L\.txt:3: masked must be 0 or 1, got "yes"/);
  bad(
    "a.jpg 1 0\nb.jpg 2 1\na.jpg 3 1\n",
    /L\.txt:3: duplicate image a\.jpg \(first listed on line 1\)/,
  );
  const ok = parseMfrList("# comment\na.jpg 7 0\r\nb.jpg 7 1\nc.jpg x 1\nd.jpg y 0\n", "L.txt");
  assert.deepEqual(ok.map((i) => [i.path, i.identity, i.masked, i.line]), [
    ["a.jpg", "7", false, 2],
    ["b.jpg", "7", true, 3],
    ["c.jpg", "x", true, 4],
    ["d.jpg", "y", false, 5],
  ]);
  const list = { root: ".", file: "L.txt", images: ok };
  const mask = planMfr(list, "mfr-mask");
  assert.deepEqual([mask.query, mask.gallery], [[1, 2], [0, 3]]);
  assert.equal(mask.skippedIdentities, 2); // x (masked only) and y (unmasked only)
  assert.match(
    skippedWarning(mask)!,
    /2 of 3 identities have no masked or no unmasked image.*2 images/,
  );
  const all = planMfr(list, "mfr-all");
  assert.equal(all.skippedIdentities, 2);
  assert.match(skippedWarning(all)!, /2 of 3 identities have a single image/);
  const two = { root: ".", file: "T.txt", images: parseMfrList("a.jpg 1\nb.jpg 1\n", "T.txt") };
  assert.equal(planMfr(two, "mfr-all").skippedIdentities, 0);
  assert.equal(skippedWarning(planMfr(two, "mfr-all")), null);
  assert.throws(() => planMfr(two, "mfr-mask"), /T\.txt:1: mfr-mask needs the masked field/);

  const dir = await Deno.makeTempDir({ prefix: "mfrlist_" });
  try {
    await assert.rejects(readMfrList(dir), /mfr_list\.txt: no such file/);
    await Deno.writeTextFile(`${dir}/a.jpg`, "x");
    await Deno.writeTextFile(`${dir}/mfr_list.txt`, "a.jpg 1 0\nsub/missing.jpg 1 1\n");
    await assert.rejects(
      readMfrList(dir),
      /sub\/missing\.jpg: image listed on .*mfr_list\.txt:2 does not exist/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
  assert.throws(
    () => parseMfrArgs(["--model", "m.onnx", "--data", "d", "--far", "0"], "mfr-mask"),
    /--far/,
  );
  assert.ok(EVAL_TARGETS["mfr-mask"] && EVAL_TARGETS["mfr-all"]);
});

Deno.test("eval mfr-mask / mfr-all end to end on a generated set: TAR equals brute force over independent embeddings", async () => {
  await initGpu();
  const dir = await Deno.makeTempDir({ prefix: "mfrtask_" });
  try {
    const root = `${dir}/mfr`;
    await writeMfrSet(root, {
      seed: SEED % 1000,
      identities: 12,
      unmaskedPerIdentity: 2,
      maskedPerIdentity: 1,
    });
    // one extra identity with only a masked image: warned about, its image still a negative
    const extra = (await Deno.readTextFile(`${root}/mfr_list.txt`)).split("\n")[2].split(" ")[0];
    await Deno.copyFile(`${root}/${extra}`, `${root}/lonely.jpg`);
    await Deno.writeTextFile(`${root}/mfr_list.txt`, "lonely.jpg solo 1\n", { append: true });
    const model = await randomBackbone("toy", 3);
    await Deno.writeFile(`${dir}/toy.onnx`, (await exportOnnx(model, { network: "toy" })).bytes);

    const logs: string[] = [];
    const fars = [1e-2, 0.1, 0.5];
    const rep = await runMfrTask({
      protocol: "mfr-mask",
      model: `${dir}/toy.onnx`,
      data: root,
      out: `${dir}/out`,
      threads: 1,
      batch: 8,
      fars,
      keepEmbeddings: true,
      quiet: true,
      blockRows: 7,
    }, (s) => logs.push(s));
    assert.match(
      logs.join("\n"),
      /warning: 1 of 13 identities have no masked or no unmasked image/,
    );
    assert.match(logs.join("\n"), /FAR\s+threshold\s+accepted neg\s+TAR %/);
    const json = JSON.parse(await Deno.readTextFile(`${dir}/out/mfr-mask_result.json`));
    assert.equal(json.positives, 24);
    assert.equal(rep.scoring.positives, 24);
    assert.equal(rep.skippedIdentities, 1);
    assert.equal(json.negatives, 13 * 24 - 24);

    // independent embeddings: engine + decoder directly, flip-summed, normalised in float64
    const list = await readMfrList(root);
    const plan = planMfr(list, "mfr-mask");
    const engine = await openEngine(`${dir}/toy.onnx`, { batch: 8, threads: 1 });
    const dec = await FaceDecoder.create(112);
    const order = [...plan.query, ...plan.gallery];
    const E = engine.embeddingSize;
    const emb: Float64Array[] = [];
    for (const i of order) {
      const img = await dec.decode(
        [await Deno.readFile(`${root}/${list.images[i].path}`)],
        0,
        1,
        "t",
      );
      const a = await engine.embed(img, 1), b = await engine.embed(img, 1, { flip: true });
      const v = Float64Array.from(a, (x, k) => x + b[k]);
      const n = Math.hypot(...v);
      emb.push(v.map((x) => x / n));
    }
    dec.close();
    await engine.close();
    const kept = await EmbeddingStore.open(`${dir}/out/mfr-mask_embeddings.npy`);
    const stored = await kept.read(0, kept.rows);
    kept.close();
    let maxd = 0;
    emb.forEach((v, r) =>
      v.forEach((x, k) => maxd = Math.max(maxd, Math.abs(x - stored[r * E + k])))
    );
    assert.ok(maxd < 1e-5, `stored embeddings differ from independent ones by ${maxd}`);

    const nq = plan.query.length;
    const pos: number[] = [], neg: number[] = [];
    for (let i = 0; i < nq; i++) {
      for (let j = nq; j < order.length; j++) {
        let s = 0;
        for (let k = 0; k < E; k++) s += emb[i][k] * emb[j][k];
        (plan.queryLabels[i] === plan.galleryLabels[j - nq] ? pos : neg).push(s);
      }
    }
    neg.sort((a, b) => b - a);
    for (const [f, r] of fars.map((f, i) => [f, json.results[i]] as const)) {
      const k = Math.floor(f * neg.length + 1e-9);
      const t = neg[k];
      assert.equal(r.k, k);
      assert.ok(Math.abs(r.threshold - t) < 1e-5, `FAR ${f}: threshold ${r.threshold} vs ${t}`);
      const near = pos.filter((s) => Math.abs(s - t) < 1e-5).length;
      const tp = pos.filter((s) => s > t).length;
      assert.ok(Math.abs(r.acceptedPositives - tp) <= near, `FAR ${f} (seed ${SEED})`);
      if (near === 0) assert.equal((100 * r.tar).toFixed(4), (100 * tp / pos.length).toFixed(4));
    }

    // mfr-all on the same set (the kept embeddings are removed without --keep-embeddings)
    const all = await runMfrTask({
      protocol: "mfr-all",
      model: `${dir}/toy.onnx`,
      data: root,
      out: `${dir}/out`,
      threads: 1,
      batch: 16,
      noFlip: true,
      quiet: true,
    }, () => {});
    const n = order.length;
    assert.equal(all.scoring.pairs, n * (n - 1) / 2);
    assert.equal(all.scoring.positives, 12 * 3);
    assert.deepEqual(all.scoring.results.map((r) => r.far), [1e-6, 1e-5, 1e-4]);
    await assert.rejects(Deno.stat(`${dir}/out/mfr-all_embeddings.npy`));
    assert.ok((await Deno.stat(`${dir}/out/mfr-all_result.json`)).isFile);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
