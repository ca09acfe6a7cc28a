/**
 * `deno task eval mfr-mask|mfr-all --model M [--network N] --data ROOT …`: the ICCV2021-MFR
 * protocols on a local set (layout in src/eval/mfr.ts). Pipeline: parse and check the list →
 * decode (resizing non-112 images) → embed (original + mirror, summed, unless `--no-flip`) →
 * L2-normalise → stream to an on-disk `.npy` store → exact TAR@FAR over every pair on the GPU
 * (src/eval/pair_scoring.ts) → a table (FAR | threshold | TAR %) and
 * `<out>/<target>_result.json`.
 *
 * @module
 */
import { join } from "node:path";
import { parseArgs } from "node:util";
import { ENGINE_ARGS, type EngineArgs, engineArgs } from "./cli_args.ts";
import { initGpu } from "../gpu/device.ts";
import { writeFileAtomically } from "../io/atomic.ts";
import { EmbeddingStore, EmbeddingWriter } from "./embedding_store.ts";
import { openEngine } from "./engine.ts";
import { FaceDecoder } from "./face_bytes.ts";
import { MFR_FARS, type MfrProtocol, planMfr, readMfrList, skippedWarning } from "./mfr.ts";
import {
  type EmbeddingSource,
  type PairScoreResult,
  scoreAllPairs,
  scoreCrossPairs,
} from "./pair_scoring.ts";
import { Progress } from "./progress.ts";
import type { EvalTarget } from "./targets.ts";

/** Options of {@link runMfrTask}. */
export interface MfrTaskOptions extends EngineArgs {
  /** `mfr-mask` or `mfr-all`. */
  protocol: MfrProtocol;
  /** The MFR root (holds mfr_list.txt). */
  data: string;
  /** Output directory (default ./mfr_results). */
  out?: string;
  /** Embed only the original images (default: original + mirror, summed). */
  noFlip?: boolean;
  /** FARs (default {@link MFR_FARS}). */
  fars?: number[];
  /** Keep `<out>/<target>_embeddings.npy` (rows in plan order: queries, then gallery). */
  keepEmbeddings?: boolean;
  /** No progress lines. */
  quiet?: boolean;
  /** Rows per GPU block (tests). */
  blockRows?: number;
}

/** The report of a run (also the JSON written). */
export interface MfrReport {
  /** Target name. */
  target: MfrProtocol;
  /** Model file. */
  model: string;
  /** Engine description. */
  engine: string;
  /** Data root. */
  data: string;
  /** Images embedded. */
  images: number;
  /** Identities and those without positive pairs. */
  identities: number;
  /** See `MfrPlan.skippedIdentities`. */
  skippedIdentities: number;
  /** Whether mirror images were summed in. */
  flip: boolean;
  /** Pair scoring figures (positives, negatives, per-FAR threshold / accepted / TAR). */
  scoring: PairScoreResult;
  /** Embedding seconds and images/s. */
  embedSeconds: number;
  /** Images per second of decode + embed. */
  imagesPerSecond: number;
}

/** Rows `[offset, offset + rows)` of a source as a source. */
function slice(src: EmbeddingSource, offset: number, rows: number): EmbeddingSource {
  return { rows, dim: src.dim, read: (s, c) => src.read(offset + s, c) };
}

/** Runs the protocol; returns (and writes) the report. */
export async function runMfrTask(
  opts: MfrTaskOptions,
  log: (s: string) => void = console.log,
): Promise<MfrReport> {
  const list = await readMfrList(opts.data);
  const plan = planMfr(list, opts.protocol);
  const fars = opts.fars ?? MFR_FARS[opts.protocol];
  const warn = skippedWarning(plan);
  if (warn) log(warn);
  const out = opts.out ?? "./mfr_results";
  await Deno.mkdir(out, { recursive: true });
  await initGpu();
  const engine = await openEngine(opts.model, {
    engine: opts.engine,
    network: opts.network,
    batch: opts.batch,
    threads: opts.threads,
  });
  const desc = engine.describe();
  log(`engine: ${desc}`);
  const order = [...plan.query, ...plan.gallery];
  const embPath = join(out, `${opts.protocol}_embeddings.npy`);
  const flip = !opts.noFlip;
  let embedSeconds = 0;
  const decoder = await FaceDecoder.create(112);
  try {
    const E = engine.embeddingSize;
    const writer = await EmbeddingWriter.create(embPath, E);
    const progress = opts.quiet ? null : new Progress({ label: opts.protocol });
    const t0 = performance.now();
    try {
      const B = engine.batch;
      const per = 112 * 112 * 3;
      const imgs = new Uint8Array(B * per);
      for (let s = 0; s < order.length; s += B) {
        const n = Math.min(B, order.length - s);
        for (let i = 0; i < n; i++) {
          const im = list.images[order[s + i]];
          const p = join(list.root, im.path);
          const bytes = await Deno.readFile(p);
          await decoder.decode(
            [bytes],
            0,
            1,
            `${p} (${list.file}:${im.line})`,
            imgs.subarray(i * per, (i + 1) * per),
          );
        }
        const e = await engine.embed(imgs, n);
        if (flip) {
          const f = await engine.embed(imgs, n, { flip: true });
          for (let i = 0; i < e.length; i++) e[i] += f[i];
        }
        for (let i = 0; i < n; i++) {
          const row = e.subarray(i * E, (i + 1) * E);
          let ss = 0;
          for (const v of row) ss += v * v;
          if (!Number.isFinite(ss) || ss === 0) {
            const im = list.images[order[s + i]];
            throw new Error(
              `${join(list.root, im.path)}: the model gave a ${ss === 0 ? "zero" : "non-finite"} ` +
                `embedding (${list.file}:${im.line})`,
            );
          }
          const inv = 1 / Math.sqrt(ss);
          for (let k = 0; k < E; k++) row[k] *= inv;
        }
        await writer.append(e.subarray(0, n * E));
        progress?.update(s + n, order.length, (performance.now() - t0) / 1000);
      }
      await writer.close();
    } catch (e) {
      await writer.abort();
      throw e;
    }
    progress?.done();
    embedSeconds = (performance.now() - t0) / 1000;
  } finally {
    decoder.close();
    await engine.close();
  }

  const store = await EmbeddingStore.open(embPath);
  let scoring: PairScoreResult;
  try {
    const scoreProgress = opts.quiet
      ? null
      : (p: { pass: 1 | 2; done: number; total: number }) =>
        console.error(`${opts.protocol}: scoring pass ${p.pass}, block ${p.done}/${p.total}`);
    const sopts = { fars, blockRows: opts.blockRows, onProgress: scoreProgress ?? undefined };
    if (plan.mode === "all") {
      scoring = await scoreAllPairs(store, plan.queryLabels, sopts);
    } else {
      const nq = plan.query.length;
      scoring = await scoreCrossPairs(
        slice(store, 0, nq),
        plan.queryLabels,
        slice(store, nq, plan.gallery.length),
        plan.galleryLabels,
        sopts,
      );
    }
  } finally {
    store.close();
    if (!opts.keepEmbeddings) await Deno.remove(embPath).catch(() => {});
  }
  const report: MfrReport = {
    target: opts.protocol,
    model: opts.model,
    engine: desc,
    data: opts.data,
    images: order.length,
    identities: plan.identities,
    skippedIdentities: plan.skippedIdentities,
    flip,
    scoring,
    embedSeconds,
    imagesPerSecond: order.length / Math.max(embedSeconds, 1e-9),
  };
  log(formatMfrTable(report));
  const json = join(out, `${opts.protocol}_result.json`);
  await writeFileAtomically(
    json,
    new TextEncoder().encode(JSON.stringify(mfrJson(report), null, 2) + "\n"),
  );
  log(`wrote ${json}${opts.keepEmbeddings ? ` and ${embPath}` : ""}`);
  return report;
}

/** The JSON form of a report (−∞ thresholds as null). */
export function mfrJson(r: MfrReport): Record<string, unknown> {
  const s = r.scoring;
  return {
    target: r.target,
    model: r.model,
    engine: r.engine,
    data: r.data,
    images: r.images,
    identities: r.identities,
    skippedIdentities: r.skippedIdentities,
    flip: r.flip,
    pairs: s.pairs,
    positives: s.positives,
    negatives: s.negatives,
    results: s.results.map((x) => ({
      far: x.far,
      k: x.k,
      threshold: Number.isFinite(x.threshold) ? x.threshold : null,
      acceptedNegatives: x.acceptedNegatives,
      acceptedPositives: x.acceptedPositives,
      tar: Number.isNaN(x.tar) ? null : x.tar,
    })),
    embedSeconds: r.embedSeconds,
    imagesPerSecond: r.imagesPerSecond,
    scoringSeconds: s.seconds,
    scoringGflops: s.gflops,
  };
}

/** The results as a table: FAR | threshold | accepted negatives | TAR % (4 decimals). */
export function formatMfrTable(r: MfrReport): string {
  const s = r.scoring;
  const head = ["FAR", "threshold", "accepted neg", "TAR %"];
  const rows = s.results.map((x) => [
    x.far.toExponential(0),
    Number.isFinite(x.threshold) ? x.threshold.toFixed(6) : "-inf",
    `${x.acceptedNegatives}/${x.k}`,
    Number.isNaN(x.tar) ? "—" : (100 * x.tar).toFixed(4),
  ]);
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i].length)));
  const line = (c: string[]) => c.map((x, i) => x.padEnd(w[i])).join("  ").trimEnd();
  return [
    `${r.target}: ${r.images} images, ${s.positives} positive and ${s.negatives} negative pairs`,
    line(head),
    line(w.map((n) => "-".repeat(n))),
    ...rows.map(line),
  ].join("\n");
}

const USAGE = `options:
  --model FILE        .onnx model, or .pth/.safetensors checkpoint (needs --network)
  --network NAME      r18 r34 r50 r100 r200 r2060 mbf toy (checkpoints only)
  --engine KIND       auto (default: by extension), onnx or webgpu
  --data DIR          MFR root holding mfr_list.txt ("relative/path identity masked")
  --batch N           images per forward (default 32)
  --threads N         onnxruntime intra-op threads (default: all CPUs)
  --out DIR           output directory (default ./mfr_results): <target>_result.json
  --no-flip           embed only the original images (default: original + mirror summed)
  --far LIST          comma-separated FARs (default mfr-mask 1e-4,1e-5,1e-3; mfr-all
                      1e-6,1e-5,1e-4)
  --keep-embeddings   keep <out>/<target>_embeddings.npy (L2-normalised, N×E float32)
  --quiet             no progress lines`;

/** Parses a target's command line. */
export function parseMfrArgs(args: string[], protocol: MfrProtocol): MfrTaskOptions {
  const { values, positionals } = parseArgs({
    args,
    options: {
      ...ENGINE_ARGS,
      data: { type: "string" },
      out: { type: "string" },
      "no-flip": { type: "boolean", default: false },
      far: { type: "string" },
      "keep-embeddings": { type: "boolean", default: false },
      quiet: { type: "boolean", default: false },
    },
    allowPositionals: true,
  });
  const engine = engineArgs(values); // checked before --data
  const data = values.data ?? positionals[0];
  if (!data) throw new Error("--data DIR is required (an MFR root holding mfr_list.txt)");
  let fars: number[] | undefined;
  if (values.far !== undefined) {
    fars = values.far.split(",").map((s) => {
      const f = Number(s.trim());
      if (!(f > 0 && f <= 1)) throw new Error(`--far: each FAR must be in (0, 1], got "${s}"`);
      return f;
    });
  }
  return {
    protocol,
    ...engine,
    data,
    out: values.out,
    noFlip: values["no-flip"],
    fars,
    keepEmbeddings: values["keep-embeddings"],
    quiet: values.quiet,
  };
}

/** The `mfr-mask` or `mfr-all` target. */
export function mfrTarget(protocol: MfrProtocol): EvalTarget {
  return {
    summary: protocol === "mfr-mask"
      ? "ICCV2021-MFR masked × unmasked, TAR@FAR=1e-4 (--data MFR root)"
      : "ICCV2021-MFR all-to-all over every image, TAR@FAR=1e-6 (--data MFR root)",
    usage: USAGE,
    async run(args: string[]) {
      await runMfrTask(parseMfrArgs(args, protocol));
      return 0;
    },
  };
}
