/**
 * `deno task bench mfr`: the exact all-to-all pair scorer of the MFR evaluation
 * (src/eval/pair_scoring.ts) on N synthetic L2-normalised embeddings (E = 512, ~7 images per
 * identity, random labels) read from an on-disk store, beside NumPy (src/bench/mfr_numpy.py:
 * float32 GEMM in row blocks, every negative materialised, np.partition) on the same
 * embeddings in the same run. Rows: pairs/s (ours vs NumPy), our GFLOP/s (2·E FLOPs per pair
 * per pass, both passes counted), the allocator's peak GPU bytes, host RSS, and whether both
 * agree on every FAR (threshold within 2e-6, TAR % to 4 decimals). NumPy is skipped where the
 * N×N float32 matrix would exceed 8 GB (the row says so). The last note projects MFR-ALL
 * (1.6·10⁶ images, E = 512, two passes) at the measured GFLOP/s and at the H200's FP32 figure.
 * Flags: `--quick` (N = 2000, 5000), `--n 10000,30000`, `--no-peer`, `--precision f16` (f16
 * embeddings on the GPU, f32 accumulation; agreement with NumPy's f32 is then not expected
 * to the last digit).
 *
 * @module
 */
import { parseArgs } from "node:util";
import { initGpu } from "../gpu/device.ts";
import { writeNpy } from "../io/npy.ts";
import { EmbeddingStore, EmbeddingWriter } from "../eval/embedding_store.ts";
import { type PairScoreResult, scoreAllPairs } from "../eval/pair_scoring.ts";
import { type BenchReport, type BenchRow, row } from "./report.ts";
import type { SuiteOptions } from "./suites.ts";

const PYTHON = "/usr/bin/python3";
const SCRIPT = new URL("./mfr_numpy.py", import.meta.url).pathname;
const E = 512;
const FARS = [1e-6, 1e-5, 1e-4, 1e-3];
/** MFR-ALL size. */
const MFR_ALL_IMAGES = 1.6e6;
/** NVIDIA H200 (SXM) datasheet: FP32 67 TFLOPS (non-tensor-core). */
const H200_FP32_TFLOPS = 67;
const NUMPY_LIMIT_BYTES = 8e9;

/** xorshift32 uniform generator. */
function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s / 4294967296;
  };
}

/** Writes N clustered normalised embeddings to `path` in blocks; returns the labels. */
async function synth(path: string, n: number, seed: number): Promise<Int32Array> {
  const r = rng(seed);
  const gauss = () => Math.sqrt(-2 * Math.log(Math.max(r(), 1e-12))) * Math.cos(2 * Math.PI * r());
  const ids = Math.max(1, Math.round(n / 7));
  const labels = Int32Array.from({ length: n }, () => Math.floor(r() * ids));
  const centres = new Map<number, Float32Array>();
  const w = await EmbeddingWriter.create(path, E);
  const B = 4096;
  for (let s = 0; s < n; s += B) {
    const c = Math.min(B, n - s);
    const x = new Float32Array(c * E);
    for (let i = 0; i < c; i++) {
      const l = labels[s + i];
      let cen = centres.get(l);
      if (!cen) centres.set(l, cen = Float32Array.from({ length: E }, gauss));
      let ss = 0;
      for (let k = 0; k < E; k++) {
        const v = cen[k] + 1.3 * gauss();
        x[i * E + k] = v;
        ss += v * v;
      }
      const inv = 1 / Math.sqrt(ss);
      for (let k = 0; k < E; k++) x[i * E + k] *= inv;
    }
    await w.append(x);
  }
  await w.close();
  return labels;
}

interface PeerResult {
  seconds: number;
  positives: number;
  results: { far: number; threshold: number | null; acceptedNegatives: number; tar: number }[];
}

async function numpyPeer(emb: string, lab: string): Promise<PeerResult> {
  const out = await new Deno.Command(PYTHON, {
    args: [SCRIPT, emb, lab, FARS.join(",")],
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (out.code !== 0) throw new Error(new TextDecoder().decode(out.stderr).trim().slice(-400));
  return JSON.parse(new TextDecoder().decode(out.stdout));
}

function agree(ours: PairScoreResult, peer: PeerResult): boolean {
  if (peer.positives !== ours.positives) return false;
  return ours.results.every((r, i) => {
    const p = peer.results[i];
    const t = p.threshold ?? -Infinity;
    const dt = Number.isFinite(t) ? Math.abs(t - r.threshold) : (r.threshold === t ? 0 : 1);
    return dt <= 2e-6 && (100 * r.tar).toFixed(4) === (100 * p.tar).toFixed(4);
  });
}

/** Runs the suite. */
export async function run(opts: SuiteOptions): Promise<BenchReport> {
  const { values } = parseArgs({
    args: opts.args,
    options: {
      n: { type: "string" },
      "no-peer": { type: "boolean", default: false },
      precision: { type: "string", default: "f32" },
    },
    allowPositionals: true,
    strict: false,
  });
  const g = await initGpu();
  const precision = values.precision === "f16" ? "f16" : "f32";
  const sizes = typeof values.n === "string"
    ? values.n.split(",").map(Number)
    : opts.quick
    ? [2000, 5000]
    : [1e4, 3e4, 1e5];
  const rows: BenchRow[] = [];
  const dir = await Deno.makeTempDir({ prefix: "bench_mfr_" });
  let bestGflops = 0;
  try {
    for (const n of sizes) {
      const emb = `${dir}/emb_${n}.npy`, lab = `${dir}/labels_${n}.npy`;
      const labels = await synth(emb, n, 1234 + n);
      await writeNpy(lab, { dtype: "int32", shape: [n], data: labels });
      const store = await EmbeddingStore.open(emb);
      g.allocator.resetPeak();
      const rss0 = Deno.memoryUsage().rss;
      let res: PairScoreResult;
      try {
        res = await scoreAllPairs(store, labels, { fars: FARS, precision });
      } finally {
        store.close();
      }
      const rss = Deno.memoryUsage().rss;
      bestGflops = Math.max(bestGflops, res.gflops);
      const pairsPerS = res.pairs / res.seconds;
      let peer: PeerResult | null = null;
      let note = "";
      if (values["no-peer"]) note = "peer skipped (--no-peer)";
      else if (4 * n * n > NUMPY_LIMIT_BYTES) {
        note = `NumPy skipped: the ${n}×${n} f32 matrix is ${
          (4 * n * n / 1e9).toFixed(0)
        } GB > 8 GB`;
      } else {
        try {
          peer = await numpyPeer(emb, lab);
        } catch (e) {
          note = `NumPy failed: ${(e as Error).message}`;
        }
      }
      const ok = peer ? agree(res, peer) : null;
      rows.push(
        row(
          "mfr all-to-all pairs",
          "Mpairs/s",
          pairsPerS / 1e6,
          peer ? res.pairs / peer.seconds / 1e6 : null,
          {
            shape: `N=${n} E=${E} ${precision}`,
            pairs: res.pairs,
            seconds: res.seconds,
            peer_seconds: peer?.seconds ?? null,
            gflops: res.gflops,
            two_passes: res.twoPasses,
            peak_gpu_bytes: g.allocator.stats.peakBytes,
            host_rss_bytes: rss,
            host_rss_growth_bytes: rss - rss0,
            agree: ok,
            thresholds: res.results.map((r) => r.threshold),
            tars: res.results.map((r) => r.tar),
            note,
          },
        ),
      );
      console.log(
        `N=${n}: ${res.pairs} pairs in ${res.seconds.toFixed(2)} s = ${
          (pairsPerS / 1e6).toFixed(2)
        } ` +
          `Mpairs/s, ${res.gflops.toFixed(2)} GFLOP/s (two passes), peak GPU ` +
          `${(g.allocator.stats.peakBytes / 2 ** 20).toFixed(1)} MiB, RSS ${
            (rss / 2 ** 20).toFixed(0)
          } MiB; ` +
          (peer ? `NumPy ${peer.seconds.toFixed(2)} s; agree on ${FARS.join(", ")}: ${ok}` : note),
      );
      await Deno.remove(emb);
      await Deno.remove(lab);
    }
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
  const pairs = MFR_ALL_IMAGES * (MFR_ALL_IMAGES - 1) / 2;
  const flops = 2 * E * pairs * 2;
  const hours = (gflops: number) => flops / (gflops * 1e9) / 3600;
  console.log(
    `projection MFR-ALL (${MFR_ALL_IMAGES.toExponential(1)} images, ${
      pairs.toExponential(2)
    } pairs, ` +
      `E=${E}, two passes = ${(flops / 1e15).toFixed(2)} PFLOP): ${
        hours(bestGflops).toFixed(1)
      } h at ` +
      `the measured ${bestGflops.toFixed(2)} GFLOP/s (${g.description}); ` +
      `${(hours(H200_FP32_TFLOPS * 1e3) * 3600).toFixed(0)} s at the H200's ${H200_FP32_TFLOPS} ` +
      `TFLOPS FP32 (NVIDIA H200 SXM datasheet, non-tensor) if the kernel ran at peak`,
  );
  return { suite: "mfr", adapter: g.description, rows };
}
