/**
 * The end-of-run SVG: well-formed XML (parsed by Python's ElementTree), one loss polyline and
 * one accuracy polyline per target with the right number of points, ticks and labels, and
 * a resumed run's metrics plotted once.
 */
import assert from "node:assert/strict";
import type { MetricsRecord } from "../../src/train/logs.ts";
import { niceTicks, plotFromMetrics, renderPlot, writePlot } from "../../src/train/plot.ts";

const PYTHON = "/usr/bin/python3";

interface Parsed {
  root: string;
  polylines: { cls: string; series: string; points: number }[];
  texts: string[];
}

/** Parses the SVG with Python's XML parser (an independent well-formedness check). */
async function parseSvg(path: string): Promise<Parsed> {
  const code = "import json,sys\nimport xml.etree.ElementTree as ET\n" +
    "NS = '{http://www.w3.org/2000/svg}'\nroot = ET.parse(sys.argv[1]).getroot()\n" +
    "pl = [{'cls': e.get('class'), 'series': e.get('data-series'), " +
    "'points': len(e.get('points').split())} for e in root.iter(NS + 'polyline')]\n" +
    "print(json.dumps({'root': root.tag, 'polylines': pl, " +
    "'texts': [e.text for e in root.iter(NS + 'text')]}))";
  const out = await new Deno.Command(PYTHON, {
    args: ["-c", code, path],
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!out.success) throw new Error(new TextDecoder().decode(out.stderr));
  return JSON.parse(new TextDecoder().decode(out.stdout));
}

function train(step: number, loss: number): MetricsRecord {
  return { kind: "train", step, epoch: 0, loss, lr: 0.1, speed: 100, eta_hours: 1, time: step };
}

function val(step: number, target: string, acc: number): MetricsRecord {
  return { kind: "val", step, target, acc, std: 0, xnorm: 1, highest: acc, time: step };
}

Deno.test("the plot is well-formed SVG with loss and per-target accuracy polylines", async () => {
  const records: MetricsRecord[] = [];
  for (let s = 50; s <= 3000; s += 50) records.push(train(s, 45 * Math.exp(-s / 1000) + 2));
  for (let s = 500; s <= 3000; s += 500) {
    records.push(val(s, "lfw", 0.9 + s / 40000), val(s, "cfp_fp", 0.8 + s / 30000));
  }
  records.push(val(3000, "a<b&c", 0.5)); // names are escaped
  const data = plotFromMetrics(records, "ms1mv3_r50");
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/training.svg`;
    await writePlot(path, data);
    const p = await parseSvg(path);
    assert.equal(p.root, "{http://www.w3.org/2000/svg}svg");
    assert.deepStrictEqual(p.polylines, [
      { cls: "loss", series: "loss", points: 60 },
      { cls: "accuracy", series: "lfw", points: 6 },
      { cls: "accuracy", series: "cfp_fp", points: 6 },
      { cls: "accuracy", series: "a<b&c", points: 1 },
    ]);
    for (
      const label of ["ms1mv3_r50", "loss", "validation accuracy (%)", "step", "lfw", "cfp_fp"]
    ) {
      assert.ok(p.texts.includes(label), `missing text "${label}"`);
    }
    // Step ticks, shared by both panels, end at or beyond the last step.
    assert.ok(p.texts.includes("0") && p.texts.includes("3000"), p.texts.join("|"));
    // Accuracy is in percent, clamped to at most 100.
    const pct = p.texts.map(Number).filter((v) => Number.isFinite(v) && v > 0 && v <= 100);
    assert.ok(pct.length > 0);
    assert.ok(!p.texts.includes("110"));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a resumed run's repeated steps replace the interrupted run's; NaN is skipped", () => {
  const records = [
    train(10, 5),
    train(20, 4),
    train(30, 3.5), // written after the last checkpoint, then killed
    val(20, "toy", 0.7),
    val(30, "toy", 0.75), // ditto
    train(30, 3.4), // the resumed run repeats step 30
    val(30, "toy", 0.76),
    train(40, NaN),
    train(50, 3),
  ];
  const d = plotFromMetrics(records);
  assert.deepStrictEqual(d.loss, [[10, 5], [20, 4], [30, 3.4], [40, NaN], [50, 3]]);
  assert.deepStrictEqual(d.accuracy, [{ name: "toy", points: [[20, 0.7], [30, 0.76]] }]);
  const svg = renderPlot(d);
  const loss = svg.match(/<polyline class="loss"[^>]*points="([^"]*)"/)![1];
  assert.equal(loss.split(" ").length, 4);
});

Deno.test("a run without validation still plots, saying so", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await writePlot(`${dir}/p.svg`, plotFromMetrics([train(1, 2)]));
    const p = await parseSvg(`${dir}/p.svg`);
    assert.deepStrictEqual(p.polylines, [{ cls: "loss", series: "loss", points: 1 }]);
    assert.ok(p.texts.includes("no data"));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
  const empty = renderPlot({ loss: [], accuracy: [] });
  assert.equal(empty.match(/>no data</g)?.length, 2);
});

Deno.test("ticks are round numbers 1, 2, 5 × 10^k apart covering the range", () => {
  assert.deepStrictEqual(niceTicks(0, 3000, 6), [0, 500, 1000, 1500, 2000, 2500, 3000]);
  assert.deepStrictEqual(niceTicks(0.93, 1.0, 5), [0.94, 0.96, 0.98, 1]);
  assert.deepStrictEqual(niceTicks(2, 2), [2]);
});
