/**
 * training.log lines (checked against Python's own %-formatting of the reference's format
 * strings), the logging timer, metrics.jsonl and the progress bar.
 */
import assert from "node:assert/strict";
import {
  asctime,
  formatRecord,
  formatTrainLine,
  formatValidationLines,
  LogTimer,
  pyFixed,
  pyFloatRepr,
  requiredHours,
} from "../../src/train/log_line.ts";
import { MetricsLog, type MetricsRecord, readMetrics, TrainingLog } from "../../src/train/logs.ts";
import { formatDuration, ProgressBar, progressLine } from "../../src/train/progress.ts";

const PYTHON = "/usr/bin/python3";

/** Runs `code` in Python with `input` as JSON on stdin; returns the parsed JSON it prints. */
async function py<T>(code: string, input: unknown): Promise<T> {
  const child = new Deno.Command(PYTHON, {
    args: ["-c", code],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const w = child.stdin.getWriter();
  await w.write(new TextEncoder().encode(JSON.stringify(input)));
  await w.close();
  const out = await child.output();
  if (!out.success) throw new Error(new TextDecoder().decode(out.stderr));
  return JSON.parse(new TextDecoder().decode(out.stdout));
}

// JSON cannot carry NaN/Infinity/-0: send them as strings and rebuild them in Python.
const enc = (x: number) => Object.is(x, -0) ? "-0.0" : Number.isFinite(x) ? x : String(x);
const PY_NUM = "num = lambda v: float(v) if isinstance(v, str) else v\n";

const VALUES = [
  0,
  -0,
  0.5,
  1.5,
  2.5,
  3.5,
  0.125,
  0.375,
  1.005,
  2.675,
  0.045,
  1e-7,
  -0.001,
  -1.5,
  16384,
  65536.49999999999,
  123456789.98765432,
  5e-324,
  2.2250738585072014e-308,
  1e21,
  5e20,
  1e300,
  0.1,
  0.7,
  1 / 3,
  2 / 3,
  9.995,
  99.995,
  0.00005,
  0.00015,
  12.3456785,
  Infinity,
  -Infinity,
  NaN,
];

Deno.test("pyFixed rounds exactly like Python's %f (ties to even on the binary value)", async () => {
  const cases: [number, number, number][] = [];
  for (const v of VALUES) for (const p of [0, 1, 2, 4, 5, 6]) cases.push([v, p, 0]);
  cases.push([16384, 0, 2], [2, 0, 2], [0.4, 0, 1], [31.6, 0, 1], [123.456, 2, 10], [NaN, 2, 6]);
  const want = await py<string[]>(
    PY_NUM + "import json,sys\nprint(json.dumps([('%' + str(w if w else '') + '.' + str(p) + 'f')" +
      " % num(v) for v, p, w in json.load(sys.stdin)]))",
    cases.map(([v, p, w]) => [enc(v), p, w]),
  );
  const got = cases.map(([v, p, w]) => pyFixed(v, p, w));
  for (let i = 0; i < cases.length; i++) {
    assert.deepStrictEqual(got[i], want[i], `pyFixed(${cases[i].join(", ")})`);
  }
  // toFixed differs on ties: the reason pyFixed exists.
  assert.deepStrictEqual(pyFixed(0.125, 2), "0.12");
  assert.deepStrictEqual(pyFixed(2.5, 0), "2");
});

Deno.test("pyFloatRepr matches Python's repr(float)", async () => {
  const vs = [
    ...VALUES,
    5e-4,
    2e-4,
    1e-4,
    1e-5,
    0.1,
    1.0,
    93431,
    1e16,
    1e15,
    123456789012345680,
    -2.5e-9,
    0.30000000000000004,
  ];
  const want = await py<string[]>(
    PY_NUM +
      "import json,sys\nprint(json.dumps([repr(float(num(v))) for v in json.load(sys.stdin)]))",
    vs.map(enc),
  );
  assert.deepStrictEqual(vs.map(pyFloatRepr), want);
});

// The reference's format strings (arcface_torch 2021, utils/utils_callbacks.py CallBackLogging).
const FMT_FP16 = "Speed %.2f samples/sec   Loss %.4f   LearningRate %.4f   Epoch: %d   " +
  "Global Step: %d   Fp16 Grad Scale: %2.f   Required: %1.f hours";
const FMT_FP32 = "Speed %.2f samples/sec   Loss %.4f   LearningRate %.4f   Epoch: %d   " +
  "Global Step: %d   Required: %1.f hours";

Deno.test("the step line is the reference's, with and without fp16", async () => {
  const rows = [
    {
      speed: 5512.3456,
      loss: 45.123456,
      lr: 0.1,
      epoch: 0,
      globalStep: 100,
      gradScale: 16384,
      requiredHours: 31.49,
    },
    {
      speed: 0.125,
      loss: 0.00005,
      lr: 0.0125,
      epoch: 3,
      globalStep: 2000,
      gradScale: 2,
      requiredHours: 0.5,
    },
    {
      speed: Infinity,
      loss: NaN,
      lr: 1e-5,
      epoch: 24,
      globalStep: 1011600,
      gradScale: 128,
      requiredHours: 2.5,
    },
  ];
  const want = await py<string[][]>(
    PY_NUM + "import json,sys\nF16, F32, rows = json.load(sys.stdin)\nprint(json.dumps([[" +
      "F16 % (num(r['speed']), num(r['loss']), r['lr'], r['epoch'], r['globalStep'], r['gradScale'], r['requiredHours'])," +
      "F32 % (num(r['speed']), num(r['loss']), r['lr'], r['epoch'], r['globalStep'], r['requiredHours'])] for r in rows]))",
    [FMT_FP16, FMT_FP32, rows.map((r) => ({ ...r, speed: enc(r.speed), loss: enc(r.loss) }))],
  );
  rows.forEach((r, i) => {
    assert.deepStrictEqual(formatTrainLine(r), want[i][0]);
    assert.deepStrictEqual(formatTrainLine({ ...r, gradScale: undefined }), want[i][1]);
    assert.deepStrictEqual(formatTrainLine({ ...r, gradScale: null }), want[i][1]);
  });
  assert.deepStrictEqual(
    formatTrainLine(rows[0]),
    "Speed 5512.35 samples/sec   Loss 45.1235   LearningRate 0.1000   Epoch: 0   " +
      "Global Step: 100   Fp16 Grad Scale: 16384   Required: 31 hours",
  );
  assert.match(formatTrainLine(rows[1], { lrPrecision: 6 }), /LearningRate 0\.012500 {3}/);
});

Deno.test("validation lines are the reference's", async () => {
  const v = {
    target: "lfw",
    globalStep: 2000,
    xnorm: 22.123456789,
    acc: 0.9968333,
    std: 0.00312,
    highest: 0.99700001,
  };
  const want = await py<string[]>(
    "import json,sys\nv = json.load(sys.stdin)\nn, s = v['target'], v['globalStep']\n" +
      "print(json.dumps(['[%s][%d]XNorm: %f' % (n, s, v['xnorm']), " +
      "'[%s][%d]Accuracy-Flip: %1.5f+-%1.5f' % (n, s, v['acc'], v['std']), " +
      "'[%s][%d]Accuracy-Highest: %1.5f' % (n, s, v['highest'])]))",
    v,
  );
  assert.deepStrictEqual(formatValidationLines(v), want);
});

Deno.test("records carry Python logging's asctime", async () => {
  const t = 1628599296.25; // exact in binary: Python's msecs is exactly 250
  const want = await py<string>(
    "import json,sys,logging\nt = json.load(sys.stdin)\n" +
      "r = logging.LogRecord('x', logging.INFO, 'f', 1, 'hello', None, None)\n" +
      "r.created = t; r.msecs = int((t - int(t)) * 1000)\n" +
      "print(json.dumps(logging.Formatter('Training: %(asctime)s-%(message)s').format(r)))",
    t,
  );
  assert.deepStrictEqual(formatRecord("hello", new Date(t * 1000)), want);
  assert.deepStrictEqual(asctime(new Date(2021, 7, 10, 9, 5, 3, 7)), "2021-08-10 09:05:03,007");
});

Deno.test("LogTimer: every `frequent` steps, silent first, speed over all ranks, hours left", () => {
  let t = 0;
  const timer = new LogTimer({
    frequent: 10,
    totalSteps: 100,
    batchSize: 32,
    worldSize: 2,
    now: () => t,
  });
  const got: (ReturnType<LogTimer["due"]>)[] = [];
  for (let step = 1; step <= 30; step++) {
    t += 500; // 0.5 s per step
    const r = timer.due(step);
    if (step % 10 !== 0) assert.deepStrictEqual(r, null);
    else got.push(r);
  }
  assert.deepStrictEqual(got[0], null); // the reference only starts its clock at the first due step
  assert.deepStrictEqual(got[1]!.speed, 10 * 32 * 2 / 5);
  assert.deepStrictEqual(got[2]!.requiredHours, requiredHours(15, 30, 100));
  assert.ok(Math.abs(requiredHours(3600, 99, 100)) < 1e-12);
  const eager = new LogTimer({
    frequent: 5,
    totalSteps: 10,
    batchSize: 1,
    worldSize: 1,
    skipFirst: false,
    now: () => t,
  });
  t += 1000;
  assert.deepStrictEqual(eager.due(5)!.speed, 5);
});

Deno.test("TrainingLog appends timestamped records", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const when = new Date(2021, 7, 10, 12, 0, 0, 0);
    for (let run = 0; run < 2; run++) {
      const log = await TrainingLog.open(`${dir}/out`, { echo: false, now: () => when });
      log.info(`run ${run}`, ": network                  r50");
      log.close();
    }
    const lines = (await Deno.readTextFile(`${dir}/out/training.log`)).trimEnd().split("\n");
    assert.deepStrictEqual(lines, [
      "Training: 2021-08-10 12:00:00,000-run 0",
      "Training: 2021-08-10 12:00:00,000-: network                  r50",
      "Training: 2021-08-10 12:00:00,000-run 1",
      "Training: 2021-08-10 12:00:00,000-: network                  r50",
    ]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("metrics.jsonl round-trips records, non-finite numbers and a torn line", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/run/metrics.jsonl`;
    const recs: MetricsRecord[] = [
      {
        kind: "train",
        step: 50,
        epoch: 0,
        loss: 40.5,
        lr: 0.1,
        speed: 512.5,
        grad_scale: 128,
        eta_hours: 1,
        time: 1,
      },
      {
        kind: "train",
        step: 100,
        epoch: 0,
        loss: NaN,
        lr: 0.1,
        speed: Infinity,
        eta_hours: -Infinity,
        time: 2,
      },
      {
        kind: "val",
        step: 100,
        target: "lfw",
        acc: 0.9,
        std: 0.01,
        xnorm: 20,
        highest: 0.9,
        time: 3,
      },
    ];
    let m = await MetricsLog.open(path);
    for (const r of recs) m.append(r);
    m.close();
    // Every line is valid JSON for other tools too.
    for (const line of (await Deno.readTextFile(path)).trim().split("\n")) JSON.parse(line);
    // A killed writer's torn line: the next run starts on a fresh line, the reader skips it.
    await Deno.writeTextFile(path, '{"kind":"train","st', { append: true });
    m = await MetricsLog.open(path);
    m.append({ ...recs[0], step: 150 });
    m.close();
    const back = await readMetrics(path);
    assert.deepStrictEqual(back.length, 4);
    assert.deepStrictEqual(back.slice(0, 3), recs);
    assert.deepStrictEqual(back[3].step, 150);
    await Deno.writeTextFile(path, "{oops}\n", { append: true });
    let err = "";
    await readMetrics(path).catch((e) => err = e.message);
    assert.match(err, /metrics\.jsonl:6: not a JSON object/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

function fakeSink(tty: boolean) {
  const chunks: string[] = [];
  return {
    chunks,
    isTerminal: () => tty,
    writeSync: (p: Uint8Array) => {
      chunks.push(new TextDecoder().decode(p));
      return p.length;
    },
  };
}

Deno.test("progress bar: silent without a terminal, one redrawn line with one", () => {
  const quiet = fakeSink(false);
  const off = new ProgressBar({ total: 10, sink: quiet });
  off.update(1, { loss: 1 });
  off.clear();
  off.done();
  assert.deepStrictEqual(off.enabled, false);
  assert.deepStrictEqual(quiet.chunks, []);

  let t = 0;
  const tty = fakeSink(true);
  const bar = new ProgressBar({
    total: 100,
    sink: tty,
    columns: 100,
    now: () => t,
    intervalMs: 200,
  });
  t = 1000;
  bar.update(10, { samplesPerSec: 256, loss: 12.3456789, epoch: 0 });
  t = 1100;
  bar.update(11, { loss: 12 }); // throttled
  assert.deepStrictEqual(tty.chunks.length, 1);
  const first = tty.chunks[0];
  assert.ok(first.startsWith("\r") && first.endsWith("\x1b[K"), JSON.stringify(first));
  assert.match(
    first,
    /epoch 0 10\/100 \[#+\.+\] +10\.0% {2}256\.0 samples\/s {2}ETA 0:00:09 {2}loss 12\.3457/,
  );
  bar.clear();
  assert.deepStrictEqual(tty.chunks.at(-1), "\r\x1b[K");
  t = 1150;
  bar.update(12, {}); // redraws at once after a clear
  assert.match(tty.chunks.at(-1)!, /12\/100/);
  bar.done();
  assert.deepStrictEqual(tty.chunks.at(-1), "\n");
});

Deno.test("progress line fits its width; durations read h:mm:ss", () => {
  for (const cols of [20, 60, 80, 200]) {
    const line = progressLine(5, 1000, 3725, { samplesPerSec: 1234.5, loss: 3.2, epoch: 2 }, cols);
    assert.ok(line.length <= cols - 1, `${cols}: ${line}`);
  }
  assert.deepStrictEqual(formatDuration(3725), "1:02:05");
  assert.deepStrictEqual(formatDuration(NaN), "-");
});
