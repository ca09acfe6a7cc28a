import assert from "node:assert/strict";
import { EmbeddingStore, EmbeddingWriter } from "../../src/eval/embedding_store.ts";
import { randn, SEED } from "../util.ts";

const PYTHON = "/usr/bin/python3";

Deno.test("embedding store: appended batches read back in any row block; numpy reads the .npy", async () => {
  const dir = await Deno.makeTempDir({ prefix: "embstore_" });
  try {
    const E = 37, batches = [5, 1, 64, 0, 13];
    const all = randn(batches.reduce((a, b) => a + b, 0) * E);
    const path = `${dir}/emb.npy`;
    const w = await EmbeddingWriter.create(path, E);
    let at = 0;
    for (const b of batches) {
      await w.append(all.subarray(at * E, (at + b) * E));
      at += b;
      await assert.rejects(Deno.stat(path)); // nothing under the real name before close
    }
    await w.close();
    const s = await EmbeddingStore.open(path);
    assert.equal(s.rows, at);
    assert.equal(s.dim, E);
    for (const [start, count] of [[0, at], [3, 10], [at - 1, 1], [40, 0]]) {
      assert.deepEqual(await s.read(start, count), all.subarray(start * E, (start + count) * E));
    }
    await assert.rejects(s.read(at - 2, 3), /outside/);
    s.close();
    const py = await new Deno.Command(PYTHON, {
      args: [
        "-c",
        "import numpy as np,sys; a=np.load(sys.argv[1]); print(a.shape[0], a.shape[1], a.dtype, repr(float(a.astype(np.float64).sum())))",
        path,
      ],
    }).output();
    assert.equal(py.code, 0, new TextDecoder().decode(py.stderr));
    const [rows, cols, dtype, sum] = new TextDecoder().decode(py.stdout).trim().split(" ");
    assert.deepEqual([Number(rows), Number(cols)], [at, E]);
    let ref = 0;
    for (const v of all) ref += v;
    assert.equal(dtype, "float32");
    assert.ok(
      Math.abs(Number(sum) - ref) < 1e-6 * Math.max(1, Math.abs(ref)),
      `sum (seed ${SEED})`,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("embedding store: truncated, non-npy and wrong-dtype files are one clear error; abort leaves nothing", async () => {
  const dir = await Deno.makeTempDir({ prefix: "embstore_" });
  try {
    const path = `${dir}/emb.npy`;
    const w = await EmbeddingWriter.create(path, 8);
    await w.append(randn(80));
    await w.close();
    const bytes = await Deno.readFile(path);
    await Deno.writeFile(`${dir}/cut.npy`, bytes.subarray(0, bytes.length - 5));
    await assert.rejects(
      EmbeddingStore.open(`${dir}/cut.npy`),
      /cut\.npy: truncated.*\(10, 8\).*448 bytes.*443/,
    );
    await Deno.writeTextFile(`${dir}/text.npy`, "hello world, not numpy");
    await assert.rejects(EmbeddingStore.open(`${dir}/text.npy`), /text\.npy: not a \.npy/);
    const py = await new Deno.Command(PYTHON, {
      args: [
        "-c",
        "import numpy as np,sys; np.save(sys.argv[1], np.zeros((3,4)))",
        `${dir}/f64.npy`,
      ],
    }).output();
    assert.equal(py.code, 0);
    await assert.rejects(
      EmbeddingStore.open(`${dir}/f64.npy`),
      /f64\.npy: expected a 2-D C-order float32/,
    );
    const w2 = await EmbeddingWriter.create(`${dir}/aborted.npy`, 4);
    await w2.append(randn(8));
    await w2.abort();
    assert.deepEqual(
      [...Deno.readDirSync(dir)].map((e) => e.name).filter((n) => n.startsWith("aborted")),
      [],
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
