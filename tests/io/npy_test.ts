import assert from "node:assert/strict";
import { parseNpy, readNpy, serializeNpy, writeNpy } from "../../src/io/npy.ts";
import { floatToHalf, type HostTensor, toFloat32 } from "../../src/io/host_tensor.ts";

const PYTHON = "/usr/bin/python3";

async function python(script: string, ...args: string[]): Promise<string> {
  const out = await new Deno.Command(PYTHON, { args: ["-c", script, ...args] }).output();
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  return new TextDecoder().decode(out.stdout);
}

Deno.test(".npy written by numpy (v1 and v2, several dtypes) is read", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await python(
      `
import sys, numpy as np
d = sys.argv[1]
np.save(d + "/f4.npy", (np.arange(24, dtype=np.float32) / 4).reshape(2, 3, 4))
np.save(d + "/f2.npy", np.array([0.5, -2, 65504], dtype=np.float16))
np.save(d + "/i8.npy", np.array([[-1, 2**40]], dtype=np.int64))
np.save(d + "/i4.npy", np.array([-5, 6], dtype=np.int32))
np.save(d + "/u1.npy", np.array([0, 255], dtype=np.uint8))
np.save(d + "/scalar.npy", np.float32(1.5))
with open(d + "/v2.npy", "wb") as f:
    np.lib.format.write_array(f, np.ones((2, 2), dtype=np.float32), version=(2, 0))
np.save(d + "/fortran.npy", np.asfortranarray(np.ones((2, 3), dtype=np.float32)))
np.save(d + "/big.npy", np.ones(3, dtype=">f4"))
`,
      dir,
    );
    const f4 = await readNpy(`${dir}/f4.npy`);
    assert.deepEqual(f4.shape, [2, 3, 4]);
    assert.deepEqual(
      Array.from(f4.data as Float32Array),
      Array.from({ length: 24 }, (_, i) => i / 4),
    );
    const f2 = await readNpy(`${dir}/f2.npy`);
    assert.equal(f2.dtype, "float16");
    assert.deepEqual(Array.from(toFloat32(f2)), [0.5, -2, 65504]);
    assert.deepEqual(Array.from((await readNpy(`${dir}/i8.npy`)).data as BigInt64Array), [
      -1n,
      2n ** 40n,
    ]);
    assert.deepEqual(Array.from((await readNpy(`${dir}/i4.npy`)).data as Int32Array), [-5, 6]);
    assert.deepEqual(Array.from((await readNpy(`${dir}/u1.npy`)).data as Uint8Array), [0, 255]);
    const s = await readNpy(`${dir}/scalar.npy`);
    assert.deepEqual(s.shape, []);
    assert.deepEqual(Array.from(s.data as Float32Array), [1.5]);
    assert.deepEqual((await readNpy(`${dir}/v2.npy`)).shape, [2, 2]);
    await assert.rejects(
      readNpy(`${dir}/fortran.npy`),
      /fortran\.npy: Fortran-order .* np\.ascontiguousarray/,
    );
    await assert.rejects(readNpy(`${dir}/big.npy`), /big\.npy: big-endian \.npy dtype '>f4'/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test(".npy written here is read by numpy and round-trips", async () => {
  const tensors: Record<string, HostTensor> = {
    f4: { dtype: "float32", shape: [2, 2], data: new Float32Array([1, 2, 3, 4.25]) },
    f2: { dtype: "float16", shape: [2], data: Uint16Array.from([1.5, -3], floatToHalf) },
    i4: { dtype: "int32", shape: [3], data: new Int32Array([-1, 0, 7]) },
    i8: { dtype: "int64", shape: [1, 1], data: new BigInt64Array([-(2n ** 50n)]) },
    u1: { dtype: "uint8", shape: [2], data: new Uint8Array([3, 250]) },
    b1: { dtype: "bool", shape: [2], data: new Uint8Array([1, 0]) },
    scalar: { dtype: "float32", shape: [], data: new Float32Array([9]) },
  };
  const dir = await Deno.makeTempDir();
  try {
    for (const [k, t] of Object.entries(tensors)) {
      await writeNpy(`${dir}/${k}.npy`, t);
      assert.deepEqual(parseNpy(serializeNpy(t)), t, k);
      assert.equal(serializeNpy(t).indexOf(0x0a) % 64, 63, `${k}: header padded to 64 bytes`);
    }
    const out = await python(
      `
import json, sys, numpy as np
names = ["f4", "f2", "i4", "i8", "u1", "b1", "scalar"]
r = {}
for n in names:
    a = np.load(f"{sys.argv[1]}/{n}.npy")
    r[n] = [a.dtype.str, list(a.shape), a.flatten().tolist()]
print(json.dumps(r))
`,
      dir,
    );
    assert.deepEqual(JSON.parse(out), {
      f4: ["<f4", [2, 2], [1, 2, 3, 4.25]],
      f2: ["<f2", [2], [1.5, -3]],
      i4: ["<i4", [3], [-1, 0, 7]],
      i8: ["<i8", [1, 1], [-(2 ** 50)]],
      u1: ["|u1", [2], [3, 250]],
      b1: ["|b1", [2], [true, false]],
      scalar: ["<f4", [], [9]],
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("corrupt .npy files give clear errors", () => {
  const good = serializeNpy({ dtype: "float32", shape: [4], data: new Float32Array(4) });
  assert.throws(
    () => parseNpy(good.subarray(0, good.length - 2), "a.npy"),
    /a\.npy: truncated: float32\[4\] needs bytes 128\.\.144 but the file has 142/,
  );
  assert.throws(() => parseNpy(new Uint8Array(20), "b.npy"), /b\.npy: not a \.npy file/);
  assert.throws(() => parseNpy(good.subarray(0, 50), "c.npy"), /c\.npy: truncated: \.npy header/);
  const weird = good.slice();
  const at = weird.findIndex((_, i) => weird[i] === 0x3c && weird[i + 1] === 0x66);
  weird.set([0x63, 0x38], at + 1); // '<f4' → '<c8'
  assert.throws(
    () => parseNpy(weird, "d.npy"),
    /d\.npy: unsupported \.npy dtype '<c8'/,
  );
});
