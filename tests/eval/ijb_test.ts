import assert from "node:assert/strict";
import { initGpu } from "../../src/gpu/device.ts";
import { readNpy, writeNpy } from "../../src/io/npy.ts";
import { imageFeatures, pairScores, tarTable, templateFeatures } from "../../src/eval/ijb.ts";
import { readIjbMeta } from "../../src/eval/ijb_meta.ts";
import { embedIjbImages, parseIjbArgs, runIjbTask } from "../../src/eval/ijb_task.ts";
import { openEngine } from "../../src/eval/engine.ts";
import { exportOnnx } from "../../src/eval/onnx_export.ts";
import { EVAL_TARGETS } from "../../src/eval/targets.ts";
import { writeIjbSet } from "../../src/eval/testsets.ts";
import { rand, randn, SEED } from "../util.ts";
import { randomBackbone } from "./onnx_fixtures.ts";

const PYTHON = "/usr/bin/python3";
const REF = new URL("./roc_ref.py", import.meta.url).pathname;
const REF_IJB = new URL("./ijb_ref.py", import.meta.url).pathname;
const ROOT = new URL("../../", import.meta.url).pathname;

/** The protocol written out plainly: maps, nested loops, no sorting tricks. */
function straightforward(
  raw: Float32Array,
  flipped: Float32Array | null,
  det: Float32Array,
  templates: Int32Array,
  medias: Int32Array,
  dim: number,
  normImage: boolean,
  useDet: boolean,
): Map<number, number[]> {
  const n = det.length;
  const img: number[][] = [];
  for (let i = 0; i < n; i++) {
    const f: number[] = [];
    for (let j = 0; j < dim; j++) {
      f.push(Math.fround(raw[i * dim + j] + (flipped ? flipped[i * dim + j] : 0)));
    }
    const norm = Math.hypot(...f);
    img.push(f.map((v) => (normImage && norm > 0 ? v / norm : v) * (useDet ? det[i] : 1)));
  }
  const byTemplate = new Map<number, Map<number, number[][]>>();
  for (let i = 0; i < n; i++) {
    const t = byTemplate.get(templates[i]) ?? new Map<number, number[][]>();
    byTemplate.set(templates[i], t);
    const m = t.get(medias[i]) ?? [];
    t.set(medias[i], m);
    m.push(img[i]);
  }
  const out = new Map<number, number[]>();
  for (const [t, ms] of byTemplate) {
    const sum = new Array(dim).fill(0);
    for (const rows of ms.values()) {
      for (let j = 0; j < dim; j++) {
        let s = 0;
        for (const r of rows) s += r[j];
        sum[j] += s / rows.length;
      }
    }
    const norm = Math.hypot(...sum);
    out.set(t, sum.map((v) => (norm > 0 ? v / norm : v)));
  }
  return out;
}

Deno.test("template pooling and pair scores equal a straightforward implementation", () => {
  const n = 300;
  const dim = 24;
  const raw = randn(n * dim);
  const flipped = randn(n * dim);
  const det = Float32Array.from({ length: n }, () => 0.2 + 0.8 * rand());
  const templates = new Int32Array(n);
  const medias = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    // non-contiguous ids, negative ones too; media ids shared across templates; runs
    templates[i] = [-7, 3, 11, 12, 40, 1000, 77777][Math.floor(rand() * 7)];
    medias[i] = Math.floor(rand() * 9) * 13;
  }
  // a template of one zero image: its feature stays zero, its scores 0
  templates[0] = 5;
  raw.fill(0, 0, dim);
  flipped.fill(0, 0, dim);
  const P = 500;
  const ids = [...new Set(templates)];
  const t1 = Int32Array.from({ length: P }, () => ids[Math.floor(rand() * ids.length)]);
  const t2 = Int32Array.from({ length: P }, () => ids[Math.floor(rand() * ids.length)]);
  for (const flip of [true, false]) {
    for (const normImage of [false, true]) {
      for (const useDet of [true, false]) {
        const what = `flip ${flip} normImage ${normImage} detector ${useDet} (seed ${SEED})`;
        const f = imageFeatures(raw, flip ? flipped : null, det, {
          normImage,
          detectorScore: useDet,
        });
        const tf = templateFeatures(f, dim, templates, medias);
        const ref = straightforward(
          raw,
          flip ? flipped : null,
          det,
          templates,
          medias,
          dim,
          normImage,
          useDet,
        );
        assert.deepEqual(Array.from(tf.ids), [...ref.keys()].sort((a, b) => a - b), what);
        for (let r = 0; r < tf.ids.length; r++) {
          const want = ref.get(tf.ids[r])!;
          for (let j = 0; j < dim; j++) {
            assert.ok(Math.abs(tf.feats[r * dim + j] - want[j]) < 1e-6, `${what}: ${r},${j}`);
          }
        }
        const s = pairScores(tf, t1, t2);
        for (let i = 0; i < P; i++) {
          const a = ref.get(t1[i])!;
          const b = ref.get(t2[i])!;
          const dot = a.reduce((acc, v, j) => acc + v * b[j], 0);
          assert.ok(Math.abs(s[i] - dot) < 1e-6, `${what}: pair ${i}`);
          if (t1[i] === 5 || t2[i] === 5) assert.equal(s[i], 0);
        }
      }
    }
  }
  // the switches matter: detector scores change scores only when features are not normalised
  // away, and normImage makes the per-image weights equal
  const plain = imageFeatures(raw, flipped, det, { detectorScore: false });
  const withDet = imageFeatures(raw, flipped, det);
  assert.equal(withDet[dim + 3], Math.fround(plain[dim + 3] * det[1]));
  const inPlace = raw.slice();
  const normed = imageFeatures(raw, flipped, det, { normImage: true });
  assert.equal(imageFeatures(inPlace, flipped, det, { normImage: true }, inPlace), inPlace);
  assert.deepEqual(inPlace, normed);
  assert.throws(
    () =>
      pairScores(
        templateFeatures(plain, dim, templates, medias),
        Int32Array.of(4),
        Int32Array.of(5),
      ),
    /template 4 has no image features/,
  );
  assert.throws(() => imageFeatures(raw, flipped.subarray(1), det), /flipped embeddings/);
});

/** Writes the three meta files; returns the IJBC root. */
async function writeMeta(
  dir: string,
  points: string,
  tidMid: string,
  pairs: string,
): Promise<string> {
  const root = `${dir}/IJBC`;
  await Deno.mkdir(`${root}/meta`, { recursive: true });
  await Deno.writeTextFile(`${root}/meta/ijbc_name_5pts_score.txt`, points);
  await Deno.writeTextFile(`${root}/meta/ijbc_face_tid_mid.txt`, tidMid);
  await Deno.writeTextFile(`${root}/meta/ijbc_template_pair_label.txt`, pairs);
  return root;
}

const LM = "10 20 30 20 20 30 12 40 28 40";
const POINTS = `1.jpg ${LM} 0.9\n2.jpg ${LM} 0.8\n3.jpg ${LM} 0.7\n`;
const TIDMID = "1.jpg 10 100\n2.jpg 10 101\n3.jpg 20 102\n";
const PAIRS = "10 20 0\n10 10 1\n";

Deno.test("IJB meta: parsed and matched by name; bad files name file, line and fix", async () => {
  const dir = await Deno.makeTempDir({ prefix: "ijbmeta_" });
  try {
    const pf = (root: string) => `${root}/meta/ijbc_name_5pts_score.txt`;
    const tf = (root: string) => `${root}/meta/ijbc_face_tid_mid.txt`;
    const qf = (root: string) => `${root}/meta/ijbc_template_pair_label.txt`;
    // good, the tid_mid file in another order (CRLF, blank line, tabs) is matched by name
    let root = await writeMeta(
      dir,
      POINTS,
      "3.jpg 20 102\r\n\r\n1.jpg\t10 100\r\n2.jpg 10 101\r\n",
      PAIRS,
    );
    const m = await readIjbMeta(root, "ijbc");
    assert.deepEqual(m.names, ["1.jpg", "2.jpg", "3.jpg"]);
    assert.deepEqual(Array.from(m.templates), [10, 10, 20]);
    assert.deepEqual(Array.from(m.medias), [100, 101, 102]);
    assert.deepEqual(Array.from(m.detectorScores), [0.9, 0.8, 0.7].map(Math.fround));
    assert.deepEqual(Array.from(m.landmarks.subarray(10, 20)), LM.split(" ").map(Number));
    assert.deepEqual([...m.t1, ...m.t2, ...m.labels], [10, 10, 20, 10, 0, 1]);

    const bad = async (points: string, tid: string, pairs: string, re: RegExp | string) => {
      await Deno.remove(`${dir}/IJBC`, { recursive: true });
      root = await writeMeta(dir, points, tid, pairs);
      await assert.rejects(readIjbMeta(root, "ijbc"), (e: Error) => {
        const ok = typeof re === "string" ? e.message === re : re.test(e.message);
        if (!ok) throw new Error(`unexpected message: ${e.message}`);
        return true;
      });
    };
    await bad(
      `1.jpg ${LM} 0.9\n\n2.jpg ${LM}\n`,
      TIDMID,
      PAIRS,
      `${
        pf(`${dir}/IJBC`)
      }:3: 11 fields, expected 12 ("name x1 y1 x2 y2 x3 y3 x4 y4 x5 y5 detector_score")`,
    );
    await bad(
      `1.jpg ${LM} 0.9\n2.jpg 10 abc ${LM.slice(6)} 0.8\n`,
      TIDMID,
      PAIRS,
      new RegExp(`^${pf(`${dir}/IJBC`)}:2: landmark y1 "abc" is not a finite number$`),
    );
    await bad(
      POINTS,
      "1.jpg 10 100\n2.jpg 10\n3.jpg 20 102\n",
      PAIRS,
      new RegExp(
        `^${
          tf(`${dir}/IJBC`)
        }:2: 2 fields, expected 3 \\("name template_id media_id"; line: "2.jpg 10"\\)$`,
      ),
    );
    await bad(
      POINTS,
      TIDMID,
      "10 20 0\n10 1.5 1\n",
      new RegExp(`^${qf(`${dir}/IJBC`)}:2: template2 "1.5" is not an integer`),
    );
    await bad(
      POINTS,
      TIDMID,
      "10 20 0\n10 10 2\n",
      new RegExp(`^${qf(`${dir}/IJBC`)}:2: label 2: labels must be 1`),
    );
    await bad(
      POINTS,
      TIDMID,
      "10 20 0\n10 20 1 7\n",
      new RegExp(`^${qf(`${dir}/IJBC`)}:2: 4 fields, expected 3`),
    );
    await bad(
      POINTS,
      TIDMID,
      "10 20 0\n30 10 1\n999 30 0\n",
      `${qf(`${dir}/IJBC`)}: 2 template id(s) of the pairs have no image in ${
        tf(`${dir}/IJBC`)
      }: 30, 999 (first at pair 2)`,
    );
    await bad(
      POINTS,
      "1.jpg 10 100\n2.jpg 10 101\n4.jpg 20 102\n",
      PAIRS,
      `the two image lists differ: 3.jpg (1 in all) in ${pf(`${dir}/IJBC`)} but not in ${
        tf(`${dir}/IJBC`)
      }; 4.jpg (1 in all) in ${tf(`${dir}/IJBC`)} but not in ${
        pf(`${dir}/IJBC`)
      }; both files must list the same images`,
    );
    await bad(
      POINTS,
      "1.jpg 10 100\n2.jpg 10 101\n",
      PAIRS,
      /^the two image lists differ: 3\.jpg \(1 in all\) in .* but not in /,
    );
    // a missing file names the path and the expected layout
    await Deno.remove(qf(`${dir}/IJBC`));
    await assert.rejects(
      readIjbMeta(`${dir}/IJBC`, "ijbc"),
      (e: Error) =>
        e.message.startsWith(
          `${qf(`${dir}/IJBC`)}: no such file; --data must be the IJBC folder`,
        ) &&
        e.message.includes("loose_crop/"),
    );
    await assert.rejects(
      readIjbMeta(`${dir}/nope`, "ijbb"),
      /nope: no such folder; --data must be the IJBB folder of the InsightFace IJB release \(e\.g\. IJB_release\/IJBB\)/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("eval ijbc end to end on a generated set: table equals scikit-learn on the written scores", async () => {
  await initGpu();
  const dir = await Deno.makeTempDir({ prefix: "ijbtask_" });
  try {
    const set = await writeIjbSet(dir, {
      target: "IJBC",
      seed: SEED,
      identities: 8,
      templatesPerIdentity: 2,
      mediasPerTemplate: 2,
      imagesPerMedia: 2,
    });
    const model = await randomBackbone("toy", 3);
    await Deno.writeFile(`${dir}/toy.onnx`, (await exportOnnx(model, { network: "toy" })).bytes);
    const logs: string[] = [];
    const opts = parseIjbArgs(
      [
        "--model",
        `${dir}/toy.onnx`,
        "--data",
        dir,
        "--batch",
        "12",
        "--threads",
        "1",
        "--out",
        `${dir}/res`,
        "--quiet",
      ],
      "ijbc",
    );
    assert.equal(opts.flip, true);
    assert.equal(opts.detectorScore, true);
    assert.equal(opts.normImage, false);
    const t0 = performance.now();
    const r = await runIjbTask(opts, (s) => logs.push(s));
    console.log(
      `eval ijbc: ${((performance.now() - t0) / 1e3).toFixed(1)} s, ${set.images} images`,
    );
    assert.equal(r.counts.images, set.images);
    assert.equal(r.counts.pairs, set.pairs);
    assert.equal(r.counts.templates, set.templates);
    assert.equal(r.data, `${dir}/IJBC`);

    // the written scores are the report's; push them with the labels through scikit-learn
    const npy = await readNpy(`${dir}/res/ijbc.npy`);
    assert.equal(npy.dtype, "float64");
    assert.deepEqual(Array.from(npy.data as Float64Array), Array.from(r.scores));
    const meta = await readIjbMeta(`${dir}/IJBC`, "ijbc");
    await writeNpy(`${dir}/labels_0.npy`, {
      dtype: "int64",
      shape: [meta.labels.length],
      data: BigInt64Array.from(meta.labels, (x) => BigInt(x)),
    });
    await writeNpy(`${dir}/scores_0.npy`, npy);
    const out = await new Deno.Command(PYTHON, { args: [REF, dir, "1"] }).output();
    assert.ok(out.success, new TextDecoder().decode(out.stderr));
    const ref = JSON.parse(new TextDecoder().decode(out.stdout)).cases[0];
    const printed = logs.find((l) => l.startsWith("FAR"));
    assert.ok(printed, logs.join("\n"));
    const cells = printed.split("\n")[1].split("|").map((c) => c.trim());
    assert.deepEqual(cells, ["ijbc", ...ref.table]);
    assert.equal(r.table.auc, Number(ref.auc));
    assert.deepEqual(tarTable(meta.labels, r.scores).rows.map((x) => x.text), ref.table);

    const json = JSON.parse(await Deno.readTextFile(`${dir}/res/ijbc_result.json`));
    assert.equal(json.target, "ijbc");
    assert.deepEqual(json.table.map((x: { tarPercent: string }) => x.tarPercent), ref.table);
    assert.equal(json.counts.pairs, set.pairs);
    assert.deepEqual(json.options, {
      flip: true,
      detectorScore: true,
      normImage: false,
      batch: 12,
    });
    assert.ok(json.timings.embed > 0 && json.engine.length > 0);
    assert.match(await Deno.readTextFile(`${dir}/res/ijbc_roc.svg`), /<polyline[\s\S]*<\/svg>/);

    // steps 3-4 of the reference in numpy over the same embeddings, for three switch sets
    const engine = await openEngine(`${dir}/toy.onnx`, { batch: 12, threads: 1 });
    const i64 = (a: Int32Array) => ({
      dtype: "int64" as const,
      shape: [a.length],
      data: BigInt64Array.from(a, (x) => BigInt(x)),
    });
    await writeNpy(`${dir}/det.npy`, {
      dtype: "float32",
      shape: [meta.detectorScores.length],
      data: meta.detectorScores,
    });
    await writeNpy(`${dir}/templates.npy`, i64(meta.templates));
    await writeNpy(`${dir}/medias.npy`, i64(meta.medias));
    await writeNpy(`${dir}/p1.npy`, i64(meta.t1));
    await writeNpy(`${dir}/p2.npy`, i64(meta.t2));
    const runs = [
      { flip: true, normImage: false, detectorScore: true, report: r },
      { flip: false, normImage: false, detectorScore: true, report: null },
      { flip: true, normImage: true, detectorScore: false, report: null },
    ];
    try {
      for (const c of runs) {
        const rep = c.report ?? await runIjbTask({ ...opts, ...c, out: `${dir}/res2` }, () => {});
        const e = await embedIjbImages(engine, meta, { flip: c.flip });
        await writeNpy(`${dir}/feats.npy`, {
          dtype: "float32",
          shape: [meta.names.length, e.dim],
          data: e.raw,
        });
        const py = await new Deno.Command(PYTHON, {
          args: [REF_IJB, dir, c.normImage ? "1" : "0", c.detectorScore ? "1" : "0"],
        }).output();
        assert.ok(py.success, new TextDecoder().decode(py.stderr));
        const want = (await readNpy(`${dir}/ref_scores.npy`)).data as Float64Array;
        let worst = 0;
        for (let i = 0; i < want.length; i++) {
          worst = Math.max(worst, Math.abs(rep.scores[i] - want[i]));
        }
        assert.ok(worst < 1e-6, `${JSON.stringify(c)}: scores differ from numpy by ${worst}`);
        if (!c.flip) assert.ok(rep.scores.some((s, i) => s !== r.scores[i]));
      }
    } finally {
      await engine.close();
    }
    assert.ok(["ijbc", "ijbb"].every((t) => t in EVAL_TARGETS));

    // a missing image names its path and line
    await Deno.remove(`${dir}/IJBC/loose_crop/3.jpg`);
    await assert.rejects(
      runIjbTask({ ...opts, out: `${dir}/res3` }, () => {}),
      new RegExp(`${dir}/IJBC/loose_crop/3.jpg: cannot read image 3 of .*ijbc_name_5pts_score.txt`),
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("deno task eval ijbb: the command line runs and prints the table", async () => {
  await initGpu();
  const dir = await Deno.makeTempDir({ prefix: "ijbcli_" });
  try {
    await writeIjbSet(dir, {
      target: "IJBB",
      seed: 1,
      identities: 4,
      templatesPerIdentity: 2,
      mediasPerTemplate: 1,
      imagesPerMedia: 2,
    });
    const model = await randomBackbone("toy", 4);
    await Deno.writeFile(`${dir}/toy.onnx`, (await exportOnnx(model, { network: "toy" })).bytes);
    const res = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        `${ROOT}eval.ts`,
        "ijbb",
        "--model",
        `${dir}/toy.onnx`,
        "--data",
        `${dir}/IJBB`,
        "--out",
        `${dir}/o`,
        "--no-detector-score",
        "--norm-image",
      ],
      cwd: ROOT,
    }).output();
    const stdout = new TextDecoder().decode(res.stdout);
    assert.equal(res.code, 0, new TextDecoder().decode(res.stderr));
    assert.match(stdout, /^FAR\s+\|\s+1e-6 \| 1e-5 \| 1e-4 \| 1e-3 \| 1e-2 \| 1e-1$/m);
    assert.match(stdout, /^ijbb\s+\|( +\d+\.\d\d \|){5} +\d+\.\d\d$/m);
    assert.match(stdout, /^AUC: \d+\.\d{4} %$/m);
    const json = JSON.parse(await Deno.readTextFile(`${dir}/o/ijbb_result.json`));
    assert.deepEqual(json.options, {
      flip: true,
      detectorScore: false,
      normImage: true,
      batch: 32,
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
