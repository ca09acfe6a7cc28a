import assert from "node:assert/strict";
import { loadPth, parsePth, readPth, serializePth, writePth } from "../../src/io/pth.ts";
import { type HostTensor, toFloat32 } from "../../src/io/host_tensor.ts";

const PYTHON = "/usr/bin/python3";
const FIXTURES = new URL("../fixtures/io/", import.meta.url).pathname;
const expected = JSON.parse(Deno.readTextFileSync(`${FIXTURES}expected.json`)) as Record<
  string,
  Record<string, { dtype: string; shape: number[]; values: number[] }>
>;

const DTYPE_NAMES: Record<string, string> = {
  float32: "float32",
  float16: "float16",
  int64: "int64",
  bool: "bool",
};

function u32(b: Uint8Array, i: number): number {
  return (b[i] | (b[i + 1] << 8) | (b[i + 2] << 16) | (b[i + 3] << 24)) >>> 0;
}

function values(t: HostTensor): number[] {
  if (t.dtype === "int64") return Array.from(t.data as BigInt64Array, Number);
  if (t.dtype === "bool") return Array.from(t.data as Uint8Array);
  return Array.from(toFloat32(t));
}

function assertMatches(got: Map<string, HostTensor>, want: typeof expected[string], file: string) {
  assert.deepEqual([...got.keys()], Object.keys(want), file);
  for (const [k, w] of Object.entries(want)) {
    const t = got.get(k)!;
    assert.equal(t.dtype, DTYPE_NAMES[w.dtype], `${file} ${k}`);
    assert.deepEqual(t.shape, w.shape, `${file} ${k}`);
    assert.deepEqual(values(t), w.values, `${file} ${k}`);
  }
}

Deno.test(".pth written by torch (zip and legacy): dtypes, views made contiguous", async () => {
  for (const f of ["tensors_zip", "tensors_legacy"]) {
    const m = await readPth(`${FIXTURES}${f}.pth`);
    assertMatches(m, expected.tensors, f);
    // the transposed and sliced views are real copies, not aliases of the base storage
    assert.equal(m.get("view_t")!.data.length, 24);
    assert.equal(m.get("view_slice")!.data.length, 9);
  }
});

Deno.test(".pth state dict of conv+bn+prelu (OrderedDict with _metadata) reads in order", async () => {
  for (const f of ["module_zip", "module_legacy"]) {
    const obj = await loadPth(`${FIXTURES}${f}.pth`);
    assert.ok(obj instanceof Map);
    assertMatches(obj as Map<string, HostTensor>, expected.module, f);
    assert.equal((obj as Map<string, HostTensor>).get("bn1.num_batches_tracked")!.dtype, "int64");
  }
});

Deno.test("a .pth whose pickle asks for os.system is refused without running it", async () => {
  await assert.rejects(
    loadPth(`${FIXTURES}malicious.pth`),
    /malicious\.pth \(archive\/data\.pkl\): pickle error at byte \d+ .*"posix\.system".*never imports or runs code/,
  );
});

Deno.test("truncated or corrupt .pth files name the file and the position", async () => {
  const zip = await Deno.readFile(`${FIXTURES}tensors_zip.pth`);
  await assert.rejects(
    parsePth(zip.subarray(0, 1500), "cut.pth"),
    /cut\.pth: corrupt or truncated zip: no end-of-central-directory/,
  );
  // first central-directory entry (data.pkl): move its local header offset
  const bad = zip.slice();
  const cd = bad.findIndex((_, i) => u32(bad, i) === 0x02014b50);
  bad[cd + 42] ^= 0x10;
  await assert.rejects(
    parsePth(bad, "bad.pth"),
    /bad\.pth: corrupt zip: entry ".*data\.pkl" has no local header at byte \d+/,
  );
  // a flipped byte inside a storage
  const flipped = zip.slice();
  const name0 = new TextEncoder().encode("data/0");
  const start0 = flipped.findIndex((_, i) => name0.every((c, j) => flipped[i + j] === c));
  const descriptor = flipped.findIndex((_, i) => i > start0 && u32(flipped, i) === 0x08074b50);
  flipped[descriptor - 1] ^= 0xff; // last byte of storage 0
  await assert.rejects(
    parsePth(flipped, "crc.pth"),
    /crc\.pth: corrupt zip: entry ".*" \(bytes \d+\.\.\d+\) fails its CRC-32 check/,
  );
  const legacy = await Deno.readFile(`${FIXTURES}tensors_legacy.pth`);
  await assert.rejects(
    parsePth(legacy.subarray(0, legacy.length - 10), "old.pth"),
    /old\.pth: truncated: storage "\d+" needs bytes \d+\.\.\d+ but the file has \d+/,
  );
  await assert.rejects(
    parsePth(legacy.subarray(0, 300), "old.pth"),
    /old\.pth: pickle error at byte \d+ .*truncated.*\(while reading the object\)/,
  );
  await assert.rejects(
    parsePth(new TextEncoder().encode("hello world"), "x.pth"),
    /x\.pth: not a PyTorch file/,
  );
});

Deno.test("deflated zip entries are inflated", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const out = await new Deno.Command(PYTHON, {
      args: [
        "-c",
        `
import sys, zipfile
src, dst = sys.argv[1:]
with zipfile.ZipFile(src) as a, zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as b:
    for n in a.namelist():
        b.writestr(n, a.read(n))
`,
        `${FIXTURES}module_zip.pth`,
        `${dir}/deflated.pth`,
      ],
    }).output();
    assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
    assertMatches(await readPth(`${dir}/deflated.pth`), expected.module, "deflated");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("writePth output loads in torch.load and reads back here", async () => {
  const tensors = new Map<string, HostTensor>([
    ["conv1.weight", {
      dtype: "float32",
      shape: [2, 1, 2, 2],
      data: Float32Array.from({ length: 8 }, (_, i) => i - 3.5),
    }],
    ["bn1.num_batches_tracked", { dtype: "int64", shape: [], data: new BigInt64Array([42n]) }],
    ["half", { dtype: "float16", shape: [2], data: new Uint16Array([0x3c00, 0xc000]) }],
    ["mask", { dtype: "bool", shape: [3], data: new Uint8Array([1, 0, 1]) }],
    ["ids", { dtype: "int32", shape: [2], data: new Int32Array([-7, 9]) }],
    ["empty", { dtype: "float32", shape: [0, 3], data: new Float32Array(0) }],
  ]);
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/ours.pth`;
    await writePth(path, tensors);
    assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), ["ours.pth"]);
    const back = await readPth(path);
    assert.deepEqual([...back.keys()], [...tensors.keys()]);
    for (const [k, t] of tensors) assert.deepEqual(back.get(k), t, k);
    assert.deepEqual(await parsePth(await serializePth(tensors)), back);
    const out = await new Deno.Command(PYTHON, {
      args: [
        "-c",
        `
import json, sys, torch
sd = torch.load(sys.argv[1])
print(json.dumps({k: [str(v.dtype), list(v.shape), v.flatten().tolist()] for k, v in sd.items()}))
print(type(sd).__name__)
`,
        path,
      ],
    }).output();
    assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
    const [json, typeName] = new TextDecoder().decode(out.stdout).trim().split("\n");
    assert.equal(typeName, "OrderedDict");
    assert.deepEqual(JSON.parse(json), {
      "conv1.weight": ["torch.float32", [2, 1, 2, 2], [-3.5, -2.5, -1.5, -0.5, 0.5, 1.5, 2.5, 3.5]],
      "bn1.num_batches_tracked": ["torch.int64", [], [42]],
      half: ["torch.float16", [2], [1, -2]],
      mask: ["torch.bool", [3], [true, false, true]],
      ids: ["torch.int32", [2], [-7, 9]],
      empty: ["torch.float32", [0, 3], []],
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
