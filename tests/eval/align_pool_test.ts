import assert from "node:assert/strict";
import { ALIGNED_BYTES, AlignError, AlignPool, InlineAligner } from "../../src/eval/align_pool.ts";
import type { Engine } from "../../src/eval/engine.ts";
import { readIjbMeta } from "../../src/eval/ijb_meta.ts";
import { embedIjbImages, parseIjbArgs } from "../../src/eval/ijb_task.ts";
import { writeIjbSet } from "../../src/eval/testsets.ts";
import { rand, SEED } from "../util.ts";

function shared(n: number): Uint8Array {
  const u = new Uint8Array(new SharedArrayBuffer(n * ALIGNED_BYTES));
  u.fill(0xa5); // poison: every slot must be overwritten
  return u;
}

/** An engine that keeps a copy of every image it is given; embeddings are channel sums. */
function recordingEngine(batch: number): Engine & { seen: Uint8Array[] } {
  const seen: Uint8Array[] = [];
  return {
    kind: "onnx",
    embeddingSize: 3,
    batch,
    pixelNorm: { mean: 127.5, std: 127.5 },
    describe: () => "recording",
    seen,
    embed(images: Uint8Array, n: number, opts = {}) {
      const out = new Float32Array(n * 3);
      for (let i = 0; i < n; i++) {
        const img = images.slice(i * ALIGNED_BYTES, (i + 1) * ALIGNED_BYTES);
        if (!opts.flip) seen.push(img);
        for (let p = 0; p < img.length; p++) out[i * 3 + (p % 3)] += img[p] * (opts.flip ? 2 : 1);
      }
      return Promise.resolve(out);
    },
    close: () => Promise.resolve(),
  };
}

Deno.test("align pool: workers write the main thread's bytes, in order; errors name the file", async () => {
  const dir = await Deno.makeTempDir({ prefix: "alignpool_" });
  try {
    await writeIjbSet(dir, {
      target: "IJBC",
      seed: SEED,
      identities: 3,
      templatesPerIdentity: 2,
      mediasPerTemplate: 2,
      imagesPerMedia: 2,
    });
    const meta = await readIjbMeta(`${dir}/IJBC`, "ijbc");
    const n = meta.names.length;
    const files = meta.names.map((f) => `${dir}/IJBC/loose_crop/${f}`);
    const job = { files, landmarks: meta.landmarks };

    const inline = await InlineAligner.create();
    const want = new Uint8Array(n * ALIGNED_BYTES);
    await inline.align(job, want);
    const pool = await AlignPool.create(2);
    try {
      assert.equal(pool.workers, 2);
      assert.equal(pool.jpeg, inline.jpeg);
      // split over the workers, all on one worker, and from encoded bytes at an offset
      const a = shared(n);
      await pool.align(job, a);
      assert.ok(Buffer.from(a).equals(Buffer.from(want)), "pool bytes differ from main thread");
      const b = shared(n);
      await pool.align(job, b, 1);
      assert.ok(Buffer.from(b).equals(Buffer.from(want)));
      const k = 1 + Math.floor(rand() * (n - 2));
      const images = await Promise.all(files.slice(k).map((f) => Deno.readFile(f)));
      const c = shared(n + 1);
      await pool.align(
        { images, names: meta.names.slice(k), landmarks: meta.landmarks.slice(10 * k) },
        c.subarray(ALIGNED_BYTES),
      );
      assert.ok(
        Buffer.from(c.subarray(ALIGNED_BYTES, (n - k + 1) * ALIGNED_BYTES))
          .equals(Buffer.from(want.subarray(k * ALIGNED_BYTES))),
      );
      assert.ok(c.subarray(0, ALIGNED_BYTES).every((v) => v === 0xa5), "wrote before its slot");
      // the faces are not blank: aligned pixels vary
      assert.ok(new Set(want.subarray(0, ALIGNED_BYTES)).size > 20);
      assert.deepEqual(pool.stats().images.reduce((x, y) => x + y), 3 * n - k);

      // errors: the first bad item (lowest index) names its file and stage, from any worker
      const bad = [...files];
      const corrupt = `${dir}/corrupt.jpg`;
      await Deno.writeFile(corrupt, (await Deno.readFile(files[n - 1])).slice(0, 300));
      bad[n - 1] = corrupt;
      bad[n - 2] = `${dir}/missing.jpg`;
      for (const al of [inline, pool]) {
        const out = al === pool ? shared(n) : new Uint8Array(n * ALIGNED_BYTES);
        await assert.rejects(al.align({ files: bad, landmarks: meta.landmarks }, out), (e) => {
          assert.ok(e instanceof AlignError, String(e));
          assert.equal(e.stage, "read");
          assert.equal(e.item, n - 2);
          assert.match(e.message, new RegExp(`^${dir}/missing.jpg: cannot read \\(`));
          return true;
        });
        const only = [...files];
        only[n - 1] = corrupt;
        await assert.rejects(al.align({ files: only, landmarks: meta.landmarks }, out), (e) => {
          assert.ok(e instanceof AlignError && e.stage === "decode" && e.item === n - 1);
          assert.match(e.message, new RegExp(`^${dir}/corrupt.jpg: cannot decode \\(`));
          return true;
        });
        const lm = meta.landmarks.slice();
        lm[10 * 1 + 3] = NaN;
        await assert.rejects(al.align({ files, landmarks: lm }, out), (e) => {
          assert.ok(e instanceof AlignError && e.stage === "align" && e.item === 1);
          assert.match(e.message, /cannot align \(.*NaN at index 3/);
          return true;
        });
      }
      await assert.rejects(pool.align(job, new Uint8Array(n * ALIGNED_BYTES)), /SharedArrayBuffer/);
      await assert.rejects(
        pool.align({ files, landmarks: meta.landmarks.subarray(10) }, shared(n)),
        /landmark numbers/,
      );
      // the pool still works after failed jobs
      const d = shared(n);
      await pool.align(job, d);
      assert.ok(Buffer.from(d).equals(Buffer.from(want)));
    } finally {
      pool.close();
      inline.close();
    }
    await assert.rejects(pool.align(job, shared(n)), /align pool closed/);

    // embedIjbImages: the engine sees the same images in the same order with and without workers
    const runs: { engine: ReturnType<typeof recordingEngine>; r: { raw: Float32Array } }[] = [];
    for (const workers of [0, 2]) {
      const engine = recordingEngine(5);
      const r = await embedIjbImages(engine, meta, { workers });
      assert.equal(r.workers, workers);
      runs.push({ engine, r });
    }
    assert.equal(runs[0].engine.seen.length, n);
    const seen = (i: number) => Buffer.concat(runs[i].engine.seen);
    assert.ok(seen(0).equals(Buffer.from(want)));
    assert.ok(seen(1).equals(Buffer.from(want)));
    assert.deepEqual(runs[1].r.raw, runs[0].r.raw);

    // a bad file through the task names the file as before
    await Deno.writeFile(`${dir}/IJBC/loose_crop/${meta.names[n - 1]}`, new Uint8Array(10));
    await assert.rejects(
      embedIjbImages(recordingEngine(4), meta, { workers: 2 }),
      new RegExp(`${dir}/IJBC/loose_crop/${meta.names[n - 1]}: cannot be decoded \\(`),
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("--workers: parsed on the ijb targets, 0 allowed, negatives rejected", () => {
  const base = ["--model", "m.onnx", "--data", "d"];
  assert.equal(parseIjbArgs(base, "ijbc").workers, undefined);
  assert.equal(parseIjbArgs([...base, "--workers", "0"], "ijbb").workers, 0);
  assert.equal(parseIjbArgs([...base, "--workers", "3"], "ijbc").workers, 3);
  for (const v of ["-1", "1.5", "x", ""]) {
    assert.throws(() => parseIjbArgs([...base, `--workers=${v}`], "ijbc"), /--workers must be/);
  }
});
