import assert from "node:assert/strict";
import {
  type NumpyArray,
  pickle,
  PickleFloat,
  PickleGlobal,
  PickleReduce,
  PickleTuple,
  unpickle,
} from "../../src/io/pickle.ts";

const PYTHON = "/usr/bin/python3";
const dec = new TextDecoder();

async function python(script: string, ...args: string[]): Promise<string> {
  const out = await new Deno.Command(PYTHON, { args: ["-c", script, ...args] }).output();
  assert.equal(out.code, 0, dec.decode(out.stderr));
  return dec.decode(out.stdout);
}

/** What the Python value below reads as, in our data model. */
const EXPECTED = new Map<unknown, unknown>([
  ["ints", [
    0,
    1,
    -1,
    255,
    256,
    65535,
    65536,
    -2147483648,
    2147483647,
    2 ** 40,
    2n ** 70n,
    -(2n ** 70n),
  ]],
  ["floats", [1.5, -0.0, 1e300, Infinity]],
  ["consts", [true, false, null]],
  ["text", ["", "héllo ☃ \u{1F600}", "a\nb\\c"]],
  ["bytes", [new Uint8Array([0, 255, 10, 92]), new Uint8Array(0), new Uint8Array(300).fill(7)]],
  ["bytearray", new Uint8Array([1, 2, 3])],
  ["tuples", [[], [1], [1, 2], [1, 2, 3], [1, 2, 3, 4]]],
  ["sets", [new Set([1, 2]), new Set(["x"])]],
  [7, "int key"],
  ["shared", [[9, 9], [9, 9]]],
]);

const PY_VALUE = `
big = 2 ** 70
shared = [9, 9]
value = {
  "ints": [0, 1, -1, 255, 256, 65535, 65536, -2**31, 2**31 - 1, 2**40, big, -big],
  "floats": [1.5, -0.0, 1e300, float("inf")],
  "consts": [True, False, None],
  "text": ["", "h\\u00e9llo \\u2603 \\U0001F600", "a\\nb\\\\c"],
  "bytes": [b"\\x00\\xff\\n\\\\", b"", b"\\x07" * 300],
  "bytearray": bytearray(b"\\x01\\x02\\x03"),
  "tuples": [(), (1,), (1, 2), (1, 2, 3), (1, 2, 3, 4)],
  "sets": [{1, 2}, frozenset(["x"])],
  7: "int key",
  "shared": [shared, shared],
}
`;

Deno.test("unpickle reads what Python's pickle writes, protocols 0 to 5", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await python(
      PY_VALUE + `
import pickle, sys
for p in range(6):
    open(f"{sys.argv[1]}/p{p}.pkl", "wb").write(pickle.dumps(value, protocol=p))
`,
      dir,
    );
    for (let p = 0; p <= 5; p++) {
      const { value, end } = unpickle(await Deno.readFile(`${dir}/p${p}.pkl`), { name: `p${p}` });
      const bytes = await Deno.readFile(`${dir}/p${p}.pkl`);
      assert.equal(end, bytes.length);
      assert.deepEqual(value, EXPECTED, `protocol ${p}`);
      const shared = (value as Map<string, unknown[]>).get("shared")!;
      assert.equal(shared[0], shared[1], `protocol ${p}: memoised object is shared`);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("Python 2 str: latin1 strings by default, bytes on request", () => {
  // Python 2: pickle.dumps(["\\xff\\x00a"], 2) and protocol 0 pickle.dumps("\\xffz")
  const p2 = new Uint8Array([0x80, 2, 0x5d, 0x71, 0, 0x55, 3, 0xff, 0, 0x61, 0x61, 0x2e]);
  assert.deepEqual(unpickle(p2).value, ["\xff\x00a"]);
  assert.deepEqual(unpickle(p2, { strings: "bytes" }).value, [new Uint8Array([0xff, 0, 0x61])]);
  const p0 = new TextEncoder().encode("S'\\xffz'\np0\n.");
  assert.deepEqual(unpickle(p0, { strings: "bytes" }).value, new Uint8Array([0xff, 0x7a]));
  // BINSTRING (4-byte length)
  const bin = new Uint8Array([0x80, 2, 0x54, 2, 0, 0, 0, 0x41, 0x42, 0x2e]);
  assert.equal(unpickle(bin).value, "AB");
});

Deno.test("numpy arrays and scalars are read as data", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await python(
      `
import pickle, sys, numpy as np
v = [np.array([[1.5, -2], [3, 4]], dtype=np.float32), np.array([True, False]), np.bool_(True), np.int64(-3)]
for p in (2, 4, 5):
    open(f"{sys.argv[1]}/n{p}.pkl", "wb").write(pickle.dumps(v, protocol=p))
`,
      dir,
    );
    for (const p of [2, 4, 5]) {
      const v = unpickle(await Deno.readFile(`${dir}/n${p}.pkl`)).value as unknown[];
      const a = v[0] as NumpyArray;
      assert.equal(a.kind, "numpy.ndarray");
      assert.deepEqual(a.shape, [2, 2]);
      assert.match(a.descr, /f4$/);
      assert.deepEqual(Array.from(new Float32Array(a.bytes.slice().buffer)), [1.5, -2, 3, 4]);
      assert.deepEqual(Array.from((v[1] as NumpyArray).bytes), [1, 0]);
      assert.equal(v[2], true);
      assert.equal(v[3], -3);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a pickle asking for os.system (or any other global) is refused and never runs", async () => {
  const marker = await Deno.makeTempFile();
  await Deno.remove(marker);
  const dir = await Deno.makeTempDir();
  try {
    await python(
      `
import os, pickle, sys, builtins
class Evil:
    def __reduce__(self):
        return (os.system, ("touch " + sys.argv[2],))
class Eval:
    def __reduce__(self):
        return (builtins.eval, ("1+1",))
for p in range(6):
    open(f"{sys.argv[1]}/evil{p}.pkl", "wb").write(pickle.dumps({"x": [Evil()]}, protocol=p))
open(f"{sys.argv[1]}/eval.pkl", "wb").write(pickle.dumps(Eval(), protocol=4))
`,
      dir,
      marker,
    );
    for (let p = 0; p <= 5; p++) {
      assert.throws(
        () => unpickle(Deno.readFileSync(`${dir}/evil${p}.pkl`), { name: `evil${p}.pkl` }),
        /evil\d\.pkl: pickle error at byte \d+ \(opcode (STACK_)?GLOBAL\): the pickle asks for the global "posix\.system".*never imports or runs code/,
      );
    }
    assert.throws(() => unpickle(Deno.readFileSync(`${dir}/eval.pkl`)), /"builtins\.eval"/);
    // protocol 0 INST opcode
    assert.throws(
      () => unpickle(new TextEncoder().encode("(S'ls'\nios\nsystem\n.")),
      /"os\.system"/,
    );
    // an allowed *value* global cannot be called
    assert.throws(
      () => unpickle(new TextEncoder().encode("ctorch\nFloatStorage\n(tR.")),
      /torch\.FloatStorage" is data only and cannot be called/,
    );
    assert.equal(await Deno.stat(marker).then(() => true, () => false), false);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("truncated and corrupt pickles give errors naming source, byte and opcode", () => {
  const good = pickle([new Uint8Array(100), "abc"], { protocol: 4 });
  assert.throws(
    () => unpickle(good.subarray(0, 50), { name: "cut.pkl" }),
    /cut\.pkl: pickle error at byte \d+ \(opcode SHORT_BINBYTES\): truncated: needs 100 bytes/,
  );
  assert.throws(
    () => unpickle(good.subarray(0, good.length - 1), { name: "cut.pkl" }),
    /cut\.pkl: .*truncated: the data ends at offset \d+ before the STOP opcode/,
  );
  assert.throws(
    () => unpickle(new Uint8Array([0x80, 2, 0xff]), { name: "x.bin" }),
    /x\.bin: pickle error at byte 2 .*unknown opcode 0xff/,
  );
  assert.throws(() => unpickle(new Uint8Array([0x80, 2, 0x61, 0x2e])), /stack underflow/);
  assert.throws(
    () => unpickle(new Uint8Array([0x80, 2, 0x68, 5, 0x2e])),
    /memo key 5 is not defined/,
  );
});

Deno.test("pickle output is read back by Python, protocols 2 to 4", async () => {
  const value = new Map<unknown, unknown>([
    ["list", [
      0,
      -1,
      300,
      70000,
      -(2 ** 31),
      2 ** 40,
      2n ** 80n,
      1.25,
      new PickleFloat(3),
      true,
      null,
    ]],
    ["tuple", new PickleTuple([1, new PickleTuple([]), new PickleTuple(["a", "b", "c", "d"])])],
    ["bytes", [new Uint8Array([0, 200, 255]), new Uint8Array(5000).fill(65), new Uint8Array(0)]],
    ["text", "ünïcode ☃"],
    [
      "od",
      new PickleReduce(new PickleGlobal("collections", "OrderedDict"), [], new Map([["k", 1]])),
    ],
    [3, { plain: "object" }],
  ]);
  const dir = await Deno.makeTempDir();
  try {
    for (const protocol of [2, 3, 4] as const) {
      await Deno.writeFile(`${dir}/w${protocol}.pkl`, pickle(value, { protocol }));
    }
    const out = await python(
      `
import pickle, sys, collections
for p in (2, 3, 4):
    v = pickle.load(open(f"{sys.argv[1]}/w{p}.pkl", "rb"))
    b = v["bytes"]
    assert b[0] == b"\\x00\\xc8\\xff" and b[1] == b"A" * 5000 and b[2] == b"", b
    assert v["list"] == [0, -1, 300, 70000, -2**31, 2**40, 2**80, 1.25, 3.0, True, None], v["list"]
    assert type(v["list"][8]) is float
    assert v["tuple"] == (1, (), ("a", "b", "c", "d"))
    assert v["text"] == "\\u00fcn\\u00efcode \\u2603"
    assert type(v["od"]) is collections.OrderedDict and v["od"] == {"k": 1}
    assert v[3] == {"plain": "object"}
print("ok")
`,
      dir,
    );
    assert.equal(out.trim(), "ok");
    for (const protocol of [2, 3, 4] as const) {
      const back = unpickle(pickle(value, { protocol })).value as Map<unknown, unknown>;
      assert.deepEqual(back.get("bytes"), value.get("bytes"));
      assert.deepEqual(back.get("tuple"), [1, [], ["a", "b", "c", "d"]]);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
