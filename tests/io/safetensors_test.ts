import assert from "node:assert/strict";
import {
  parseSafetensors,
  readSafetensors,
  readSafetensorsHeader,
  serializeSafetensors,
  writeSafetensors,
} from "../../src/io/safetensors.ts";
import { openFileSource } from "../../src/io/byte_source.ts";
import { floatToHalf, type HostTensor, toFloat32 } from "../../src/io/host_tensor.ts";

const PYTHON = "/usr/bin/python3";

function sample(): Map<string, HostTensor> {
  return new Map<string, HostTensor>([
    ["conv1.weight", {
      dtype: "float32",
      shape: [2, 3],
      data: new Float32Array([1, -2, 3.5, 0, 1e-8, -7]),
    }],
    ["half", {
      dtype: "float16",
      shape: [3],
      data: Uint16Array.from([0.5, -1, 65504], floatToHalf),
    }],
    ["steps", { dtype: "int64", shape: [2], data: new BigInt64Array([-1n, 9007199254740993n]) }],
    ["labels", { dtype: "int32", shape: [2, 2], data: new Int32Array([1, -2, 3, 2147483647]) }],
    ["mask", { dtype: "bool", shape: [3], data: new Uint8Array([1, 0, 1]) }],
    ["bytes", { dtype: "uint8", shape: [0], data: new Uint8Array(0) }],
    ["scalar", { dtype: "float32", shape: [], data: new Float32Array([2.25]) }],
  ]);
}

Deno.test("safetensors round trip keeps dtypes, shapes, values, order and metadata", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/m.safetensors`;
    await writeSafetensors(path, sample(), { format: "pt", step: "12" });
    const { tensors, metadata } = await readSafetensors(path);
    assert.deepEqual(metadata, { format: "pt", step: "12" });
    assert.deepEqual([...tensors.keys()], [...sample().keys()]);
    for (const [k, t] of sample()) {
      const r = tensors.get(k)!;
      assert.equal(r.dtype, t.dtype, k);
      assert.deepEqual(r.shape, t.shape, k);
      assert.deepEqual(
        Array.from(r.data as ArrayLike<unknown>),
        Array.from(t.data as ArrayLike<unknown>),
        k,
      );
    }
    assert.deepEqual(Array.from(toFloat32(tensors.get("half")!)), [0.5, -1, 65504]);
    // only the keys asked for
    const part = await readSafetensors(path, { keys: ["mask"] });
    assert.deepEqual([...part.tensors.keys()], ["mask"]);
    await assert.rejects(readSafetensors(path, { keys: ["nope"] }), /no tensor named "nope"/);
    // no temporary file is left behind
    assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), ["m.safetensors"]);
    // header is padded to 8 bytes, data follows it
    const bytes = await Deno.readFile(path);
    assert.equal(Number(new DataView(bytes.buffer).getBigUint64(0, true)) % 8, 0);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("safetensors written by Python (struct + json) is read, and ours is read by Python", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const script = `
import json, struct, sys, numpy as np
a = np.arange(12, dtype=np.float32).reshape(3, 4) / 8
b = np.array([[-5, 7]], dtype=np.int64)
h = np.array([1.5, -0.25], dtype=np.float16)
bf = (np.array([3.0, -0.5], dtype=np.float32).view(np.uint32) >> 16).astype(np.uint16)
blobs = [("a", "F32", a), ("b", "I64", b), ("h", "F16", h), ("bf", "BF16", bf)]
header, off = {"__metadata__": {"who": "python"}}, 0
for k, dt, x in blobs:
    header[k] = {"dtype": dt, "shape": list(x.shape), "data_offsets": [off, off + x.nbytes]}
    off += x.nbytes
hj = json.dumps(header).encode()
with open(sys.argv[1] + "/py.safetensors", "wb") as f:
    f.write(struct.pack("<Q", len(hj)) + hj + b"".join(x.tobytes() for _, _, x in blobs))
# read ours
raw = open(sys.argv[1] + "/ours.safetensors", "rb").read()
n = struct.unpack("<Q", raw[:8])[0]
hd = json.loads(raw[8:8 + n])
s, e = hd["w"]["data_offsets"]
w = np.frombuffer(raw[8 + n + s:8 + n + e], dtype=np.float32).reshape(hd["w"]["shape"])
print(json.dumps({"w": w.tolist(), "meta": hd["__metadata__"]}))
`;
    await writeSafetensors(`${dir}/ours.safetensors`, {
      w: { dtype: "float32", shape: [2, 2], data: new Float32Array([1, 2, 3, 4.5]) },
    }, { by: "deno" });
    const out = await new Deno.Command(PYTHON, { args: ["-c", script, dir] }).output();
    assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
    assert.deepEqual(JSON.parse(new TextDecoder().decode(out.stdout)), {
      w: [[1, 2], [3, 4.5]],
      meta: { by: "deno" },
    });
    const { tensors, metadata } = await readSafetensors(`${dir}/py.safetensors`);
    assert.deepEqual(metadata, { who: "python" });
    assert.deepEqual(tensors.get("a")!.shape, [3, 4]);
    assert.deepEqual(
      Array.from(tensors.get("a")!.data as Float32Array),
      Array.from({ length: 12 }, (_, i) => i / 8),
    );
    assert.deepEqual(Array.from(tensors.get("b")!.data as BigInt64Array), [-5n, 7n]);
    assert.deepEqual(Array.from(toFloat32(tensors.get("h")!)), [1.5, -0.25]);
    assert.equal(tensors.get("bf")!.dtype, "bfloat16");
    assert.deepEqual(Array.from(toFloat32(tensors.get("bf")!)), [3, -0.5]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

function withHeader(header: unknown, data: Uint8Array): Uint8Array {
  const json = new TextEncoder().encode(JSON.stringify(header));
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}

Deno.test("safetensors: corrupt and truncated files give errors naming file, key and offsets", async () => {
  const good = serializeSafetensors(sample());
  await assert.rejects(
    parseSafetensors(good.subarray(0, good.length - 3), "t.st"),
    /t\.st: truncated: tensor data ends at byte \d+ but the file has \d+ bytes/,
  );
  await assert.rejects(
    parseSafetensors(good.subarray(0, 20), "t.st"),
    /t\.st: truncated: header of \d+ bytes at offset 8/,
  );
  await assert.rejects(
    parseSafetensors(new Uint8Array(5), "t.st"),
    /t\.st: not a safetensors file/,
  );
  await assert.rejects(
    parseSafetensors(new Uint8Array(16).fill(0xff), "t.st"),
    /header length .* out of range/,
  );
  const d = new Uint8Array(16);
  await assert.rejects(
    parseSafetensors(
      withHeader({ x: { dtype: "F32", shape: [3], data_offsets: [0, 16] } }, d),
      "c.st",
    ),
    /c\.st: tensor "x": data_offsets \[0, 16\] span 16 bytes but float32\[3\] needs 12/,
  );
  await assert.rejects(
    parseSafetensors(
      withHeader({ x: { dtype: "Q7", shape: [4], data_offsets: [0, 16] } }, d),
      "c.st",
    ),
    /c\.st: tensor "x": unsupported dtype "Q7"/,
  );
  await assert.rejects(
    parseSafetensors(
      withHeader({
        x: { dtype: "F32", shape: [2], data_offsets: [0, 8] },
        y: { dtype: "F32", shape: [1], data_offsets: [12, 16] },
      }, d),
      "c.st",
    ),
    /tensor "y": data_offsets \[12, 16\] leave a hole at data bytes 8\.\.12/,
  );
  await assert.rejects(
    parseSafetensors(
      withHeader({
        x: { dtype: "F32", shape: [4], data_offsets: [0, 16] },
        y: { dtype: "F32", shape: [1], data_offsets: [4, 8] },
      }, d),
      "c.st",
    ),
    /overlap/,
  );
  await assert.rejects(
    parseSafetensors(withHeader({ x: 1 }, d).fill(0x41, 8, 9), "c.st"),
    /does not start with '\{'/,
  );
});

Deno.test("safetensors header is read without reading the data", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await writeSafetensors(`${dir}/a.safetensors`, sample());
    const src = await openFileSource(`${dir}/a.safetensors`);
    try {
      const h = await readSafetensorsHeader(src);
      assert.deepEqual(h.entries.get("labels")!.shape, [2, 2]);
      assert.equal(h.entries.get("labels")!.end - h.entries.get("labels")!.begin, 16);
    } finally {
      src.close();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
