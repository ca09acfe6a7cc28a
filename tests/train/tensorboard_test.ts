/**
 * TensorBoard event files: CRC-32C against published vectors, the Event encoding byte for
 * byte, and a written file read back by an independent Python reader (tests/train/
 * read_events.py: its own CRC and wire parsing, plus the google.protobuf runtime when present).
 */
import assert from "node:assert/strict";
import {
  crc32c,
  encodeScalarEvent,
  EventWriter,
  maskedCrc32c,
  tfRecord,
} from "../../src/train/tensorboard.ts";
import { MetricsLog } from "../../src/train/logs.ts";

const PYTHON = "/usr/bin/python3";
const READER = new URL("./read_events.py", import.meta.url).pathname;

interface PyEvent {
  wall_time: number;
  step: number;
  file_version?: string;
  values: [string, number][];
}

async function hasProtobuf(): Promise<boolean> {
  const out = await new Deno.Command(PYTHON, { args: ["-c", "import google.protobuf"] }).output();
  return out.success;
}

async function readEvents(path: string): Promise<PyEvent[]> {
  const args = [READER, path];
  if (await hasProtobuf()) args.push("--protobuf");
  const out = await new Deno.Command(PYTHON, { args, stdout: "piped", stderr: "piped" }).output();
  if (!out.success) throw new Error(new TextDecoder().decode(out.stderr));
  return JSON.parse(new TextDecoder().decode(out.stdout));
}

const bytes = (n: number, f: (i: number) => number) =>
  Uint8Array.from({ length: n }, (_, i) => f(i));

Deno.test("CRC-32C matches the published check values (RFC 3720 B.4, '123456789')", () => {
  assert.equal(crc32c(new TextEncoder().encode("123456789")), 0xe3069283);
  assert.equal(crc32c(new Uint8Array(0)), 0);
  assert.equal(crc32c(bytes(32, () => 0)), 0x8a9136aa);
  assert.equal(crc32c(bytes(32, () => 0xff)), 0x62a8ab43);
  assert.equal(crc32c(bytes(32, (i) => i)), 0x46dd794e);
  assert.equal(crc32c(bytes(32, (i) => 31 - i)), 0x113fdb5c);
  // The mask is a rotation plus a constant: undo it and get the CRC back.
  const data = new TextEncoder().encode("brain.Event:2");
  const m = maskedCrc32c(data);
  const rot = (m - 0xa282ead8) >>> 0;
  assert.equal(((rot >>> 17) | (rot << 15)) >>> 0, crc32c(data));
});

Deno.test("a scalar Event is encoded field by field", () => {
  const ev = encodeScalarEvent(1.5, 3, { a: 0.5 });
  assert.deepStrictEqual(
    [...ev],
    [
      0x09,
      0,
      0,
      0,
      0,
      0,
      0,
      0xf8,
      0x3f, // wall_time = 1.5 (field 1, fixed64)
      0x10,
      0x03, // step = 3 (field 2, varint)
      0x2a,
      0x0a, // summary (field 5, 10 bytes)
      0x0a,
      0x08, // Summary.value (field 1, 8 bytes)
      0x0a,
      0x01,
      0x61, // tag = "a"
      0x15,
      0,
      0,
      0,
      0x3f, // simple_value = 0.5 (field 2, fixed32)
    ],
  );
  const rec = tfRecord(ev);
  assert.equal(rec.length, ev.length + 16);
  const view = new DataView(rec.buffer);
  assert.equal(view.getBigUint64(0, true), BigInt(ev.length));
  assert.equal(view.getUint32(8, true), maskedCrc32c(rec.subarray(0, 8)));
  assert.equal(view.getUint32(12 + ev.length, true), maskedCrc32c(ev));
});

Deno.test("an event file reads back in Python with the right tags, steps and values", async () => {
  const dir = await Deno.makeTempDir();
  try {
    let t = 1628599296.5;
    const w = await EventWriter.create(`${dir}/tb`, { hostname: "testhost", now: () => t });
    assert.match(w.path, /\/tb\/events\.out\.tfevents\.1628599296\.testhost$/);
    const expected: { step: number; values: Record<string, number> }[] = [];
    for (let step = 50; step <= 500; step += 50) {
      t += 1;
      const values = {
        loss: 40 / step,
        learning_rate: 0.1 * 0.9 ** step,
        grad_scale: 2 ** (step / 50),
      };
      w.addScalars(step, values);
      expected.push({ step, values });
    }
    t += 1;
    w.addScalar("lfw", 0.99683, 2000);
    expected.push({ step: 2000, values: { lfw: 0.99683 } });
    w.addScalar("big", -1.25, 2 ** 40 + 7); // a many-byte varint
    expected.push({ step: 2 ** 40 + 7, values: { big: -1.25 } });
    w.close();

    // A second writer in the same second gets its own file.
    const w2 = await EventWriter.create(`${dir}/tb`, {
      hostname: "testhost",
      now: () => 1628599296.9,
    });
    assert.notEqual(w2.path, w.path);
    w2.close();

    const events = await readEvents(w.path);
    assert.equal(events[0].file_version, "brain.Event:2");
    assert.equal(events[0].wall_time, 1628599296.5);
    const scalars = events.slice(1);
    assert.equal(scalars.length, expected.length);
    scalars.forEach((ev, i) => {
      assert.equal(ev.step, expected[i].step);
      assert.equal(ev.wall_time, i < 10 ? 1628599297.5 + i : 1628599307.5);
      assert.deepStrictEqual(
        ev.values,
        Object.entries(expected[i].values).map(([k, v]) => [k, Math.fround(v)]),
      );
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("metrics records reach TensorBoard under the reference's tags", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const w = await EventWriter.create(dir, { hostname: "h", now: () => 100 });
    const m = await MetricsLog.open(`${dir}/metrics.jsonl`, w);
    m.append({
      kind: "train",
      step: 50,
      epoch: 0,
      loss: 12.5,
      lr: 0.1,
      speed: 300,
      grad_scale: 64,
      eta_hours: 2,
      time: 101,
    });
    m.append({
      kind: "train",
      step: 100,
      epoch: 0,
      loss: 11.5,
      lr: 0.1,
      speed: 310,
      eta_hours: 1.5,
      time: 102,
    });
    m.append({
      kind: "val",
      step: 100,
      target: "agedb_30",
      acc: 0.75,
      std: 0.02,
      xnorm: 21,
      highest: 0.75,
      time: 103,
    });
    m.close();
    w.close();
    const events = await readEvents(w.path);
    assert.deepStrictEqual(events.slice(1).map((e) => [e.step, e.wall_time, e.values]), [
      [50, 101, [["loss", 12.5], ["learning_rate", Math.fround(0.1)], ["time_for_end", 2], [
        "speed",
        300,
      ], ["grad_scale", 64]]],
      [100, 102, [["loss", 11.5], ["learning_rate", Math.fround(0.1)], ["time_for_end", 1.5], [
        "speed",
        310,
      ]]],
      [100, 103, [["agedb_30", 0.75]]],
    ]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

// TensorBoard itself is not a Debian package; with a Python that has it (e.g. a venv with
// `pip install tensorboard`), set TENSORBOARD_PYTHON to check that its loader reads our files.
const TB_PYTHON = Deno.env.get("TENSORBOARD_PYTHON");

Deno.test({
  name: "TensorBoard's own EventAccumulator reads our scalars (TENSORBOARD_PYTHON)",
  ignore: !TB_PYTHON,
  fn: async () => {
    const dir = await Deno.makeTempDir();
    try {
      const w = await EventWriter.create(dir, { hostname: "h" });
      for (let step = 10; step <= 30; step += 10) {
        w.addScalars(step, { loss: 100 / step, lfw: step / 40 });
      }
      w.close();
      const code = "import json,sys\n" +
        "from tensorboard.backend.event_processing.event_accumulator import EventAccumulator\n" +
        "ea = EventAccumulator(sys.argv[1]); ea.Reload()\n" +
        "print(json.dumps({t: [[e.step, e.value] for e in ea.Scalars(t)] for t in ea.Tags()['scalars']}))";
      const out = await new Deno.Command(TB_PYTHON!, {
        args: ["-c", code, dir],
        stdout: "piped",
        stderr: "piped",
      })
        .output();
      if (!out.success) throw new Error(new TextDecoder().decode(out.stderr));
      assert.deepStrictEqual(JSON.parse(new TextDecoder().decode(out.stdout)), {
        loss: [[10, 10], [20, 5], [30, Math.fround(100 / 30)]],
        lfw: [[10, 0.25], [20, 0.5], [30, 0.75]],
      });
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
