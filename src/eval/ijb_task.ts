/**
 * `deno task eval ijbc|ijbb --model M [--network N] --data IJB_release/IJBC …`: the IJB-B/C
 * 1:1 template verification of arcface_torch's eval_ijbc.py. Reads the meta files
 * (`ijb_meta.ts`), aligns every loose crop onto the 112×112 template with its 5 landmarks
 * (`align.ts`; read, decoded and aligned by `--workers` worker threads, `align_pool.ts`, into
 * shared buffers while the engine runs), embeds it and its mirror image through the onnx or
 * webgpu engine, pools the features into templates, scores the pairs and reports TAR at
 * FAR 1e-6 … 1e-1 and the AUC (`ijb.ts`, `roc.ts`). Writes `<out>/<target>.npy` (float64 pair
 * scores, as the reference), `<out>/<target>_result.json` and `<out>/<target>_roc.svg`.
 *
 * @module
 */
import { join } from "node:path";
import { parseArgs } from "node:util";
import { ENGINE_ARGS, type EngineArgs, engineArgs } from "./cli_args.ts";
import { writeFileAtomically } from "../io/atomic.ts";
import { writeNpy } from "../io/npy.ts";
import { ALIGNED_BYTES, AlignError, createAligner, defaultAlignWorkers } from "./align_pool.ts";
import { type Engine, openEngine } from "./engine.ts";
import {
  formatTarTable,
  imageFeatures,
  pairScores,
  type TarTable,
  tarTable,
  templateFeatures,
} from "./ijb.ts";
import { type IjbMeta, ijbMetaPaths, type IjbTarget, readIjbMeta } from "./ijb_meta.ts";
import { Progress } from "./progress.ts";
import { rocSvg } from "./roc_svg.ts";
import type { EvalTarget } from "./targets.ts";

/** Options of {@link runIjbTask}. */
export interface IjbTaskOptions extends EngineArgs {
  /** `ijbc` or `ijbb`. */
  target: IjbTarget;
  /** The IJBC (IJBB) folder holding `meta/` and `loose_crop/`, or the folder above it. */
  data: string;
  /** Output folder (default `./ijb_results`). */
  out?: string;
  /** Flip test: add the embedding of the mirror image (default true). */
  flip?: boolean;
  /** Multiply by the detector score (default true). */
  detectorScore?: boolean;
  /** L2-normalise each image feature (default false: the norm is a quality weight). */
  normImage?: boolean;
  /** Decode+align worker threads (default: the number of CPUs; 0 = the main thread). */
  workers?: number;
  /** No progress line. */
  quiet?: boolean;
}

/** Seconds spent in each stage. */
export interface IjbTimings {
  /** Reading and checking the meta files. */
  meta: number;
  /** Reading, decoding, aligning and embedding the images. */
  embed: number;
  /** Image and template features. */
  templates: number;
  /** Pair scores. */
  scores: number;
  /** ROC, TAR table and AUC. */
  roc: number;
  /** Everything. */
  total: number;
}

/** The result of a run. */
export interface IjbReport {
  /** `ijbc` or `ijbb`. */
  target: IjbTarget;
  /** The model file. */
  model: string;
  /** The engine's description. */
  engine: string;
  /** The data folder used. */
  data: string;
  /** Numbers of images, templates, pairs, genuine and impostor pairs. */
  counts: {
    images: number;
    templates: number;
    pairs: number;
    positives: number;
    negatives: number;
  };
  /** Embedding size. */
  dim: number;
  /** Pair scores, in the order of the pair file. */
  scores: Float64Array;
  /** ROC, TAR table, AUC. */
  table: TarTable;
  /** Seconds per stage. */
  timings: IjbTimings;
  /** Forward images (2 per image with the flip test) per second, reading and decoding included. */
  imagesPerSecond: number;
  /** Files written. */
  files: { scores: string; result: string; svg: string };
}

async function isDir(p: string): Promise<boolean> {
  try {
    return (await Deno.stat(p)).isDirectory;
  } catch {
    return false;
  }
}

/** The folder holding `meta/` for `target`: `data` itself or `data/IJBC` (`data/IJBB`). */
export async function resolveIjbRoot(data: string, target: IjbTarget): Promise<string> {
  if (await isDir(join(data, "meta"))) return data;
  const sub = join(data, target === "ijbc" ? "IJBC" : "IJBB");
  if (await isDir(join(sub, "meta"))) return sub;
  return data; // readIjbMeta names the missing file and the expected layout
}

/** Options of {@link embedIjbImages}. */
export interface EmbedIjbOptions {
  /** Also embed the mirror images and add them (default true). */
  flip?: boolean;
  /** Decode+align worker threads (default: the number of CPUs; 0 = this thread). */
  workers?: number;
  /** Called after each batch with images done, images in all, seconds. */
  onProgress?: (done: number, total: number, seconds: number) => void;
}

/**
 * Reads, decodes, aligns and embeds every image of `meta`; returns the summed (image +
 * mirror, float32 as the reference) raw embeddings, n × dim, in the image order of `meta`.
 * Decode+align runs on `workers` worker threads (0: this thread) into shared batch buffers;
 * the next batches are prepared while the engine runs the current one.
 */
export async function embedIjbImages(
  engine: Engine,
  meta: IjbMeta,
  opts: EmbedIjbOptions = {},
): Promise<{ raw: Float32Array; dim: number; seconds: number; workers: number }> {
  const flip = opts.flip ?? true;
  const n = meta.names.length;
  const E = engine.embeddingSize;
  const B = Math.max(1, engine.batch);
  const paths = ijbMetaPaths(meta.root, meta.target);
  const raw = new Float32Array(n * E);
  const nb = Math.ceil(n / B);
  // no more workers than a batch or the set can use
  const workers = Math.min(opts.workers ?? defaultAlignWorkers(), B, n);
  const aligner = await createAligner(workers);
  // batches in flight: the one embedding plus 1 (this thread) or 3 (workers) being prepared
  const depth = workers === 0 ? 2 : 4;
  const bufs = Array.from(
    { length: depth },
    () => new Uint8Array(new SharedArrayBuffer(B * ALIGNED_BYTES)),
  );
  const t0 = performance.now();

  const load = async (j: number) => {
    const start = j * B, count = Math.min(B, n - start);
    const names = meta.names.slice(start, start + count);
    try {
      await aligner.align(
        {
          files: names.map((name) => join(paths.images, name)),
          landmarks: meta.landmarks.subarray(10 * start, 10 * (start + count)),
        },
        bufs[j % bufs.length],
      );
    } catch (e) {
      if (!(e instanceof AlignError)) throw e;
      const k = start + e.item;
      if (e.stage === "read") {
        throw new Error(
          `${e.file}: cannot read image ${k + 1} of ${paths.points} ` +
            `(${e.detail}); is loose_crop/ complete?`,
        );
      }
      if (e.stage === "decode") throw new Error(`${e.file}: cannot be decoded (${e.detail})`);
      throw new Error(`${paths.points}: image ${k + 1} (${meta.names[k]}): ${e.detail}`);
    }
  };
  const loads: Promise<void>[] = [];
  const startLoad = (j: number) => {
    const p = load(j);
    p.catch(() => {}); // handled when awaited; an early failure must not go unhandled
    loads[j] = p;
  };

  try {
    for (let j = 0; j < Math.min(bufs.length - 1, nb); j++) startLoad(j);
    for (let j = 0; j < nb; j++) {
      const s = j * B;
      const m = Math.min(B, n - s);
      await loads[j];
      delete loads[j];
      // the buffer of batch j−1 is free again: prepare batch j + depth − 1 in it
      if (j + bufs.length - 1 < nb) startLoad(j + bufs.length - 1);
      const images = bufs[j % bufs.length].subarray(0, m * ALIGNED_BYTES);
      const a = await engine.embed(images, m);
      const b = flip ? await engine.embed(images, m, { flip: true }) : null;
      if (a.length !== m * E || (b && b.length !== m * E)) {
        throw new Error(`engine returned ${a.length} values for ${m} images of ${E}`);
      }
      const o = s * E;
      if (b) { for (let i = 0; i < m * E; i++) raw[o + i] = a[i] + b[i]; }
      else raw.set(a, o);
      opts.onProgress?.(s + m, n, (performance.now() - t0) / 1e3);
    }
  } finally {
    aligner.close();
  }
  return { raw, dim: E, seconds: (performance.now() - t0) / 1e3, workers };
}

/** Runs the protocol and writes the scores, the JSON result and the ROC SVG. */
export async function runIjbTask(
  opts: IjbTaskOptions,
  log: (s: string) => void = console.log,
): Promise<IjbReport> {
  const tStart = performance.now();
  const secs = (t: number) => (performance.now() - t) / 1e3;
  const target = opts.target;
  const flip = opts.flip ?? true;
  const detectorScore = opts.detectorScore ?? true;
  const normImage = opts.normImage ?? false;
  const out = opts.out ?? "./ijb_results";

  let t = performance.now();
  const root = await resolveIjbRoot(opts.data, target);
  const meta = await readIjbMeta(root, target);
  const tMeta = secs(t);
  const n = meta.names.length;
  const P = meta.t1.length;
  log(`${target}: ${n} images, ${P} template pairs (${root})`);

  const engine = await openEngine(opts.model, {
    engine: opts.engine,
    network: opts.network,
    batch: opts.batch,
    threads: opts.threads,
  });
  const engineText = engine.describe();
  log(`engine: ${engineText}`);
  let emb;
  try {
    const progress = opts.quiet ? null : new Progress({ label: target });
    emb = await embedIjbImages(engine, meta, {
      flip,
      workers: opts.workers,
      onProgress: (d, total, s) => progress?.update(d, total, s),
    });
    progress?.done();
  } finally {
    await engine.close();
  }

  t = performance.now();
  // the flip sum is already in emb.raw; the features overwrite it
  const feats = imageFeatures(
    emb.raw,
    null,
    meta.detectorScores,
    { normImage, detectorScore },
    emb.raw,
  );
  const tf = templateFeatures(feats, emb.dim, meta.templates, meta.medias);
  const tTemplates = secs(t);
  t = performance.now();
  const scores = pairScores(tf, meta.t1, meta.t2);
  const tScores = secs(t);
  t = performance.now();
  const table = tarTable(meta.labels, scores);
  const tRoc = secs(t);

  const name = `${target}`;
  log(formatTarTable(name, table));

  await Deno.mkdir(out, { recursive: true });
  const files = {
    scores: join(out, `${target}.npy`),
    result: join(out, `${target}_result.json`),
    svg: join(out, `${target}_roc.svg`),
  };
  await writeNpy(files.scores, { dtype: "float64", shape: [P], data: scores });
  const tar4 = table.rows.find((r) => r.far === 1e-4)?.tar;
  await writeFileAtomically(
    files.svg,
    new TextEncoder().encode(
      rocSvg([{ name, fpr: table.roc.fpr, tpr: table.roc.tpr, tarAt1e4: tar4 }], {
        title: `ROC on ${target === "ijbc" ? "IJB-C" : "IJB-B"}`,
      }),
    ),
  );
  const report: IjbReport = {
    target,
    model: opts.model,
    engine: engineText,
    data: root,
    counts: {
      images: n,
      templates: tf.ids.length,
      pairs: P,
      positives: table.roc.positives,
      negatives: table.roc.negatives,
    },
    dim: emb.dim,
    scores,
    table,
    timings: {
      meta: tMeta,
      embed: emb.seconds,
      templates: tTemplates,
      scores: tScores,
      roc: tRoc,
      total: 0,
    },
    imagesPerSecond: ((flip ? 2 : 1) * n) / emb.seconds,
    files,
  };
  report.timings.total = secs(tStart);
  const json = {
    target,
    model: opts.model,
    network: opts.network ?? null,
    engine: engineText,
    data: root,
    options: { flip, detectorScore, normImage, batch: opts.batch ?? 32 },
    counts: { ...report.counts, rocPoints: table.roc.fpr.length },
    dim: emb.dim,
    table: table.rows.map((r) => ({
      far: r.far,
      tar: r.tar,
      tarPercent: r.text,
      fpr: r.fpr,
      threshold: r.threshold,
    })),
    auc: table.auc,
    timings: report.timings,
    imagesPerSecond: report.imagesPerSecond,
    alignWorkers: emb.workers,
    files,
  };
  await writeFileAtomically(
    files.result,
    new TextEncoder().encode(JSON.stringify(json, null, 2) + "\n"),
  );
  log(`wrote ${files.scores}, ${files.result}, ${files.svg}`);
  return report;
}

const USAGE = `options:
  --model FILE          .onnx model, or .pth/.safetensors checkpoint (needs --network)
  --network NAME        r18 r34 r50 r100 r200 r2060 mbf toy (checkpoints only)
  --engine KIND         auto (default: by extension), onnx or webgpu
  --data DIR            the IJBC (IJBB) folder of IJB_release, with meta/ and loose_crop/
  --batch N             images per forward (default 32)
  --threads N           onnxruntime intra-op threads (default: all CPUs)
  --out DIR             output folder (default ./ijb_results): <target>.npy scores,
                        <target>_result.json, <target>_roc.svg
  --no-flip             embed the images only (no flip test)
  --no-detector-score   do not weight image features by the detector score
  --norm-image          L2-normalise each image feature (drops the norm as quality weight)
  --workers N           decode+align worker threads (default: the number of CPUs;
                        0 = on the main thread)
  --quiet               no progress line`;

function nonNegativeInt(v: string | undefined, what: string): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (v.trim() === "" || !Number.isInteger(n) || n < 0) {
    throw new Error(`${what} must be an integer ≥ 0 (0 = main thread), got ${v}`);
  }
  return n;
}

/** Parses the command line of `eval ijbc` / `eval ijbb`. */
export function parseIjbArgs(args: string[], target: IjbTarget): IjbTaskOptions {
  const { values } = parseArgs({
    args,
    options: {
      ...ENGINE_ARGS,
      data: { type: "string" },
      workers: { type: "string" },
      out: { type: "string", default: "./ijb_results" },
      "no-flip": { type: "boolean", default: false },
      "no-detector-score": { type: "boolean", default: false },
      "norm-image": { type: "boolean", default: false },
      quiet: { type: "boolean", default: false },
    },
    allowPositionals: false,
  });
  const engine = engineArgs(values); // checked before --data
  const dir = target === "ijbc" ? "IJBC" : "IJBB";
  if (!values.data) throw new Error(`--data DIR is required (e.g. IJB_release/${dir})`);
  return {
    target,
    ...engine,
    data: values.data,
    workers: nonNegativeInt(values.workers, "--workers"),
    out: values.out,
    flip: !values["no-flip"],
    detectorScore: !values["no-detector-score"],
    normImage: values["norm-image"],
    quiet: values.quiet,
  };
}

/** The `ijbc` or `ijbb` target. */
export function ijbTarget(target: IjbTarget): EvalTarget {
  return {
    summary: `IJB-${target === "ijbc" ? "C" : "B"} 1:1 template verification ` +
      `(TAR@FAR, --data IJB_release/${target === "ijbc" ? "IJBC" : "IJBB"})`,
    usage: USAGE,
    async run(args: string[]) {
      await runIjbTask(parseIjbArgs(args, target));
      return 0;
    },
  };
}
