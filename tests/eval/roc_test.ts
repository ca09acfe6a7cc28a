import assert from "node:assert/strict";
import { readNpy, writeNpy } from "../../src/io/npy.ts";
import { auc, IJB_FARS, pyFixed, rocCurve, tarAtFar } from "../../src/eval/roc.ts";
import { curvePoints, rocSvg } from "../../src/eval/roc_svg.ts";
import { rand, randn, SEED } from "../util.ts";

const PYTHON = "/usr/bin/python3";
const REF = new URL("./roc_ref.py", import.meta.url).pathname;

interface Case {
  what: string;
  labels: Uint8Array;
  scores: Float64Array;
}

/** n pairs, a fraction `posRate` genuine, genuine scores shifted up; `q` quantises (ties). */
function makeCase(what: string, n: number, posRate: number, q = 0, integer = false): Case {
  const labels = new Uint8Array(n);
  const scores = new Float64Array(n);
  const noise = randn(n);
  for (let i = 0; i < n; i++) {
    labels[i] = rand() < posRate ? 1 : 0;
    let s = noise[i] * 0.15 + (labels[i] ? 0.45 : 0.05);
    if (integer) s = Math.round(s * 20);
    else if (q > 0) s = Math.round(s / q) * q;
    scores[i] = s;
  }
  // both classes present
  labels[0] = 1;
  labels[n - 1] = 0;
  return { what, labels, scores };
}

function cases(): Case[] {
  const out: Case[] = [
    { what: "two pairs", labels: Uint8Array.of(1, 0), scores: Float64Array.of(0.3, 0.7) },
    { what: "all tied", labels: Uint8Array.of(0, 1, 1, 0, 1), scores: new Float64Array(5) },
    {
      what: "±0 and ties",
      labels: Uint8Array.of(0, 1, 1, 0, 1, 0),
      scores: Float64Array.of(-0, 0, 0.5, 0.5, -1, 0),
    },
  ];
  for (let n = 3; n <= 12; n++) out.push(makeCase(`tiny ${n}`, n, 0.5));
  out.push(makeCase("ties (quantised 0.05)", 2000, 0.3, 0.05));
  out.push(makeCase("integer scores", 5000, 0.2, 0, true));
  out.push(makeCase("continuous 20k", 20000, 0.1));
  // enough negatives for FAR 1e-6 to be reachable; some ties through a 1e-4 grid
  out.push(makeCase("1.2M pairs, quantised 1e-4", 1_200_000, 0.01, 1e-4));
  out.push(makeCase("1.2M pairs, continuous", 1_200_000, 0.02));
  return out;
}

function bitsEqual(a: Float64Array, b: Float64Array, what: string) {
  assert.equal(a.length, b.length, `${what}: length ${a.length} vs sklearn ${b.length}`);
  for (let i = 0; i < a.length; i++) {
    if (!(a[i] === b[i] || (Number.isNaN(a[i]) && Number.isNaN(b[i])))) {
      assert.fail(`${what}[${i}]: ${a[i]} vs sklearn ${b[i]} (seed ${SEED})`);
    }
  }
}

Deno.test("rocCurve / tarAtFar / auc equal scikit-learn 1.2 and the reference's table bit for bit", async () => {
  const dir = await Deno.makeTempDir({ prefix: "roc_" });
  try {
    const cs = cases();
    for (const [k, c] of cs.entries()) {
      await writeNpy(`${dir}/labels_${k}.npy`, {
        dtype: "int64",
        shape: [c.labels.length],
        data: BigInt64Array.from(c.labels, (x) => BigInt(x)),
      });
      await writeNpy(`${dir}/scores_${k}.npy`, {
        dtype: "float64",
        shape: [c.scores.length],
        data: c.scores,
      });
    }
    // Python's '%.2f' on TAR-like values, many of them exact ties (k/800·100 = x.xx5)
    const fmt = new Float64Array(3000);
    for (let i = 0; i < fmt.length; i++) {
      const P = [8, 40, 200, 800, 1000, 1600, 3][i % 7];
      fmt[i] = (Math.floor(rand() * (P + 1)) / P) * 100;
    }
    fmt.set([12.125, 0.125, 2.675, 0.005, 99.995, 100, 0, 1.5e-7], 0);
    await writeNpy(`${dir}/format.npy`, { dtype: "float64", shape: [fmt.length], data: fmt });

    const t0 = performance.now();
    const out = await new Deno.Command(PYTHON, { args: [REF, dir, String(cs.length)] }).output();
    assert.ok(out.success, new TextDecoder().decode(out.stderr));
    const ref = JSON.parse(new TextDecoder().decode(out.stdout));
    console.log(`sklearn: ${((performance.now() - t0) / 1e3).toFixed(1)} s`);

    for (const [k, c] of cs.entries()) {
      const t1 = performance.now();
      const roc = rocCurve(c.labels, c.scores);
      const ms = performance.now() - t1;
      if (c.scores.length > 1e6) console.log(`${c.what}: rocCurve ${ms.toFixed(0)} ms`);
      bitsEqual(
        roc.fpr,
        (await readNpy(`${dir}/fpr_${k}.npy`)).data as Float64Array,
        `${c.what} fpr`,
      );
      bitsEqual(
        roc.tpr,
        (await readNpy(`${dir}/tpr_${k}.npy`)).data as Float64Array,
        `${c.what} tpr`,
      );
      bitsEqual(
        roc.thresholds,
        (await readNpy(`${dir}/thr_${k}.npy`)).data as Float64Array,
        `${c.what} thresholds`,
      );
      const table = tarAtFar(roc, IJB_FARS).map((r) => pyFixed(r.tar * 100, 2));
      assert.deepEqual(table, ref.cases[k].table, `${c.what}: TAR table (seed ${SEED})`);
      assert.equal(auc(roc.fpr, roc.tpr), Number(ref.cases[k].auc), `${c.what}: AUC`);
      let pos = 0;
      for (const l of c.labels) pos += l;
      assert.equal(roc.positives, pos);
      assert.equal(roc.negatives, c.labels.length - pos);
    }
    assert.deepEqual(Array.from(fmt, (x) => pyFixed(x, 2)), ref.format);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("tarAtFar: nearest fpr, the largest tpr among equal fprs; bad input throws", () => {
  // fpr 0 at three points: the reference's reversed search takes the last (largest tpr)
  const roc = rocCurve([1, 1, 1, 0, 1, 0, 0, 0], [9, 8, 7, 6, 5, 4, 3, 2]);
  assert.deepEqual(Array.from(roc.fpr), [0, 0, 0, 0.25, 0.25, 1]);
  assert.deepEqual(Array.from(roc.tpr), [0, 0.25, 0.75, 0.75, 1, 1]);
  const [a, b] = tarAtFar(roc, [1e-6, 0.3]);
  assert.equal(a.index, 2);
  assert.equal(a.tar, 0.75);
  assert.equal(b.index, 4);
  assert.equal(b.tar, 1);
  // without intermediate dropping every distinct score is a point
  assert.equal(rocCurve([1, 1, 1, 0], [4, 3, 2, 1], { dropIntermediate: false }).fpr.length, 5);
  assert.equal(rocCurve([1, 1, 1, 0], [4, 3, 2, 1]).fpr.length, 4);
  assert.throws(() => rocCurve([1, 2], [0, 1]), /label 1 is 2; labels must be 0/);
  assert.throws(() => rocCurve([1, 0], [0, NaN]), /score 1 is NaN/);
  assert.throws(() => rocCurve([1, 0, 1], [0, 1]), /3 labels but 2 scores/);
  assert.throws(() => rocCurve([], []), /no scores/);
  assert.ok(Number.isNaN(rocCurve([1, 1], [0, 1]).fpr[0]));
  assert.equal(auc([0, 0.5, 1], [0, 1, 1]), 0.75);
  assert.equal(auc([1, 0.5, 0], [1, 1, 0]), 0.75);
  assert.throws(() => auc([0, 1, 0.5], [0, 1, 1]), /neither increasing nor decreasing/);
  assert.equal(pyFixed(-0, 2), "-0.00");
  assert.equal(pyFixed(0.125, 2), "0.12");
  assert.equal(pyFixed(0.375, 2), "0.38");
  assert.equal(pyFixed(-2.5, 0), "-2");
});

Deno.test("rocSvg: a well-formed document, thinned polyline within its point bounds", () => {
  const n = 200_000;
  const labels = new Uint8Array(n);
  const scores = new Float64Array(n);
  const z = randn(n);
  for (let i = 0; i < n; i++) {
    labels[i] = rand() < 0.05 ? 1 : 0;
    scores[i] = z[i] + (labels[i] ? 2 : 0);
  }
  const roc = rocCurve(labels, scores);
  const [r4] = tarAtFar(roc, [1e-4]);
  const W = 500, H = 300;
  const svg = rocSvg([
    { name: "model <a&b>", fpr: roc.fpr, tpr: roc.tpr, tarAt1e4: r4.tar },
    { name: "diagonal", fpr: [0, 1], tpr: [0, 1] },
  ], { width: W, height: H, title: "ROC on IJB-C" });
  assert.ok(svg.startsWith("<?xml"));
  assert.match(svg, /<svg xmlns="http:\/\/www.w3.org\/2000\/svg"[^>]*>/);
  assert.ok(svg.trimEnd().endsWith("</svg>"));
  // tags balance: every opened non-self-closing element is closed
  const stack: string[] = [];
  for (const m of svg.matchAll(/<(\/?)([a-z]+)[^>]*?(\/?)>/g)) {
    if (m[3] === "/") continue;
    if (m[1] === "/") assert.equal(stack.pop(), m[2]);
    else stack.push(m[2]);
  }
  assert.deepEqual(stack, []);
  // text between tags holds no raw markup characters
  const text = svg.replace(/<[^<>]*>/g, "");
  assert.ok(!/[<>]|&(?!amp;|lt;|gt;|quot;)/.test(text), text);
  assert.match(svg, /model &lt;a&amp;b&gt; \(TAR@FAR=1e-4: \d+\.\d\d%\)/);
  assert.match(svg, /ROC on IJB-C/);
  for (const e of [-6, -5, -4, -3, -2, -1, 0]) assert.ok(svg.includes(`>1e${e}<`));
  const lines = [...svg.matchAll(/<polyline[^>]*points="([^"]*)"/g)].map((m) =>
    m[1].split(" ").map((p) => p.split(",").map(Number))
  );
  assert.equal(lines.length, 2);
  assert.ok(roc.fpr.length > 5000, `${roc.fpr.length} ROC points`);
  const pts = lines[0];
  assert.ok(pts.length >= 50 && pts.length <= 2 * (W + H) + 2, `${pts.length} points`);
  for (const [x, y] of pts) assert.ok(x >= 0 && x <= W && y >= 0 && y <= H, `${x},${y}`);
  // ends at (FAR 1, TAR 1) = top right; the diagonal keeps both ends
  assert.deepEqual(pts[pts.length - 1], [W, 0]);
  assert.deepEqual(lines[1], [[0, H], [W, 0]]);
  assert.equal(curvePoints([0, 1e-3, 1], [0.5, 0.8, 1], W, H).length, 6);
});
