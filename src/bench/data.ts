/**
 * Benchmark suite `data`: decoded + augmented (horizontal flip) 112×112 JPEG images per second
 * through our worker pool — one worker alone, each worker of the full pool (one row per core),
 * the whole pool, and the loader over a RecordIO pack — beside Python PIL (libjpeg-turbo)
 * decoding and flipping the same files in the same run, one process per core. Also the
 * toy-face generator's rate (no peer), and the IJB loose crops decoded and aligned
 * (`align.ts`, beside OpenCV).
 *
 * @module
 */
import { IMAGE_BYTES, IMAGE_SIZE } from "../data/dataset.ts";
import { openTurboJpeg } from "../data/decode_turbojpeg.ts";
import { ImageFolderDataset } from "../data/image_folder.ts";
import { DataLoader } from "../data/loader.ts";
import { packImageFolder } from "../data/pack.ts";
import { DecodePool } from "../data/pool.ts";
import { RecordIODataset } from "../data/recordio_dataset.ts";
import { ToyFacesDataset } from "../data/toy_dataset.ts";
import { TOY_IMAGE_BYTES, ToyFaces } from "../data/toy_faces.ts";
import { ijbAlignRows } from "./align.ts";
import { type BenchReport, type BenchRow, row } from "./report.ts";
import type { SuiteOptions } from "./suites.ts";

const PYTHON = "/usr/bin/python3";

const PIL_SCRIPT = `
import sys, os, time, json, zlib
from multiprocessing import Pool
from PIL import Image
import numpy as np
root, procs, seconds = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
files = sorted(os.path.join(root, d, f) for d in os.listdir(root) for f in os.listdir(os.path.join(root, d)))
def work(_):
    n, t0 = 0, time.perf_counter()
    while True:
        for p in files:
            im = Image.open(p).convert('RGB')
            if zlib.crc32(p.encode()) & 1:
                im = im.transpose(Image.FLIP_LEFT_RIGHT)
            a = np.asarray(im)
            assert a.shape == (112, 112, 3)
            n += 1
        dt = time.perf_counter() - t0
        if dt >= seconds:
            return n, dt
if procs == 1:
    res = [work(0)]
else:
    with Pool(procs) as pool:
        res = pool.map(work, range(procs))
rates = [n / dt for n, dt in res]
print(json.dumps({"per_process": rates, "total": sum(rates)}))
`;

async function pil(root: string, procs: number, seconds: number) {
  try {
    const out = await new Deno.Command(PYTHON, {
      args: ["-c", PIL_SCRIPT, root, String(procs), String(seconds)],
      stdout: "piped",
      stderr: "piped",
    }).output();
    if (!out.success) throw new Error(new TextDecoder().decode(out.stderr));
    return JSON.parse(new TextDecoder().decode(out.stdout)) as {
      per_process: number[];
      total: number;
    };
  } catch (e) {
    console.warn(`PIL peer unavailable: ${(e as Error).message.split("\n").slice(-2).join(" ")}`);
    return null;
  }
}

/** Runs the pool over `indices` repeatedly for `seconds`; returns total and per-worker rates. */
async function poolRate(
  ds: ImageFolderDataset,
  workers: number,
  jpeg: "turbojpeg" | "wasm",
  seconds: number,
) {
  const batch = 256;
  const images = new SharedArrayBuffer(batch * IMAGE_BYTES);
  const labels = new SharedArrayBuffer(batch * 4);
  const pool = await DecodePool.create({
    spec: ds.spec(),
    workers,
    images,
    labels,
    numClasses: ds.numClasses,
    jpeg,
    flip: true,
  });
  try {
    const idx = (k: number) =>
      Int32Array.from({ length: batch }, (_, j) => (k * batch + j) % ds.length);
    await pool.load(0, idx(0)); // warm up (JIT, page cache)
    const before = pool.stats();
    let n = 0, k = 1;
    const t0 = performance.now();
    while (performance.now() - t0 < seconds * 1000) {
      await pool.load(0, idx(k++), k);
      n += batch;
    }
    const dt = (performance.now() - t0) / 1000;
    const after = pool.stats();
    const perWorker = after.ms.map((ms, w) =>
      (after.samples[w] - before.samples[w]) / ((ms - before.ms[w]) / 1000)
    );
    return { total: n / dt, perWorker };
  } finally {
    pool.close();
  }
}

/** Runs the suite. */
export async function run(opts: SuiteOptions): Promise<BenchReport> {
  const cores = navigator.hardwareConcurrency || 1;
  const seconds = opts.quick ? 0.5 : 3;
  const numImages = opts.quick ? 128 : 1024;
  const dir = await Deno.makeTempDir({ prefix: "bench_data_" });
  const rows: BenchRow[] = [];
  try {
    // 112×112 JPEGs (quality 95, 4:2:0, like the aligned faces of MS1M), 32 identities
    const tj = openTurboJpeg();
    if (!tj) throw new Error("the data benchmark needs libturbojpeg to write its JPEGs");
    const faces = new ToyFaces({ seed: 0, numIdentities: 32, imagesPerIdentity: numImages / 32 });
    const px = new Uint8Array(TOY_IMAGE_BYTES);
    let bytes = 0;
    for (let i = 0; i < faces.length; i++) {
      const id = faces.renderInto(i, px);
      const sub = `${dir}/imgs/${String(id).padStart(3, "0")}`;
      Deno.mkdirSync(sub, { recursive: true });
      const jpeg = tj.encode(px, IMAGE_SIZE, IMAGE_SIZE, 95);
      bytes += jpeg.length;
      Deno.writeFileSync(`${sub}/${i}.jpg`, jpeg);
    }
    tj.close();
    const shape = `112x112 q95 ~${(bytes / faces.length / 1024).toFixed(1)}KB`;
    const ds = ImageFolderDataset.open(`${dir}/imgs`);

    const one = await poolRate(ds, 1, "turbojpeg", seconds);
    const pil1 = await pil(`${dir}/imgs`, 1, seconds);
    rows.push(
      row(
        "jpeg decode+flip, 1 worker (libjpeg-turbo)",
        "images/s",
        one.total,
        pil1?.total ?? null,
        {
          shape,
          peer_name: "PIL, 1 process",
        },
      ),
    );
    const full = await poolRate(ds, cores, "turbojpeg", seconds);
    const pilN = await pil(`${dir}/imgs`, cores, seconds);
    full.perWorker.forEach((r, w) =>
      rows.push(
        row(
          `jpeg decode+flip, core ${w} of pool ${cores}`,
          "images/s",
          r,
          pilN?.per_process[w] ?? null,
          {
            shape,
            peer_name: `PIL process ${w} of ${cores}`,
          },
        ),
      )
    );
    rows.push(
      row(`jpeg decode+flip, pool of ${cores}`, "images/s", full.total, pilN?.total ?? null, {
        shape,
        peer_name: `PIL, ${cores} processes`,
      }),
    );
    // the loader over a RecordIO pack of the same files
    packImageFolder(`${dir}/imgs`, `${dir}/pack`);
    const rec = RecordIODataset.open(`${dir}/pack`);
    const loader = await DataLoader.create(rec, {
      batchSize: 128,
      workers: cores,
      prefetch: 2,
      flip: true,
    });
    const t0 = performance.now();
    while (performance.now() - t0 < seconds * 1000) for await (const _ of loader.epoch()) { /* */ }
    rows.push(
      row(
        `loader (RecordIO, ${cores} workers, batch 128)`,
        "images/s",
        loader.stats().imagesPerSecond,
        pilN?.total ?? null,
        {
          shape,
          peer_name: `PIL, ${cores} processes`,
        },
      ),
    );
    loader.close();
    rec.close();
    // the WASM fallback, one worker
    const wasm = await poolRate(ds, 1, "wasm", seconds);
    rows.push(
      row(
        "jpeg decode+flip, 1 worker (WASM fallback)",
        "images/s",
        wasm.total,
        pil1?.total ?? null,
        {
          shape,
          peer_name: "PIL, 1 process",
        },
      ),
    );
    // toy faces rendered by the pool (what training on the embedded dataset consumes)
    const toy = new ToyFacesDataset({ seed: 0, numIdentities: 1000, imagesPerIdentity: 20 });
    const toyLoader = await DataLoader.create(toy, { batchSize: 128, workers: cores, prefetch: 2 });
    let t1 = 0;
    let toyN = 0;
    for await (const b of toyLoader.epoch()) {
      if (t1 === 0) t1 = performance.now(); // workers started and warm
      else toyN += b.labels.length;
      if (performance.now() - t1 > seconds * 1000) break;
    }
    rows.push(
      row(
        `toy faces render, pool of ${cores}`,
        "images/s",
        toyN / ((performance.now() - t1) / 1000),
        null,
        { shape: "112x112" },
      ),
    );
    toyLoader.close();
    ds.close();
    rows.push(...await ijbAlignRows(`${dir}/ijb`, { quick: opts.quick, cores }));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
  return { suite: "data", adapter: `CPU, ${cores} hardware threads`, rows };
}
