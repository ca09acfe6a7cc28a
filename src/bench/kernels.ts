/**
 * The `kernels` suite: our GEMM against tfjs-webgpu's matMul on the same adapter, in the same
 * run, on the Linear and Partial FC shapes of the trainer (plus 1024³), f32 and — where the
 * adapter has `shader-f16` — f16 with f32 accumulation (tfjs has no f16 matmul: its f32 figure
 * is the peer of those rows). Then the conv rows of `./kernels_conv.ts`.
 *
 * Shapes are written M×K×N: op(A) is M×K, op(B) is K×N. Layouts: NT is `x · Wᵀ` (Linear
 * forward, Partial FC logits), NN is `dY · W` (Linear backward-input), TN is `dYᵀ · X`
 * (Linear backward-weight). Both sides are timed with warm-up and GPU synchronisation
 * (`gpu().sync()` / tfjs's queue flushed and awaited), median of several runs, and ours is
 * checked against a float64 CPU reference on sampled outputs. `--gemm-only` skips the conv
 * rows, `--conv-only` the GEMM rows, `--bn-only` all but the BN+PReLU rows (see
 * `./kernels_conv.ts` for the conv filters).
 *
 * @module
 */
import { gpu, initGpu } from "../gpu/device.ts";
import { gemm } from "../tensor/ops/matmul.ts";
import { Tensor } from "../tensor/tensor.ts";
import { convRows } from "./kernels_conv.ts";
import { type BenchReport, type BenchRow, row, timeMedian } from "./report.ts";
import type { SuiteOptions } from "./suites.ts";
import { loadTfjs, syncTfjs, type Tfjs, tfjsErrorScope, type TfTensor, timeTfjs } from "./tfjs.ts";

/** One GEMM case of the suite. */
interface GemmCase {
  /** Row name after `gemm f32 ` / `gemm f16 `. */
  name: string;
  M: number;
  K: number;
  N: number;
  transA: boolean;
  transB: boolean;
  /** What the shape is in the trainer. */
  what: string;
  /** Force our row-chunking of B at this many bytes per binding (quick mode). */
  chunkBytes?: number;
}

function cases(quick: boolean): GemmCase[] {
  const c = (
    name: string,
    [M, K, N]: number[],
    lay: string,
    what: string,
    chunkBytes?: number,
  ): GemmCase => ({
    name,
    M,
    K,
    N,
    transA: lay[0] === "T",
    transB: lay[1] === "T",
    what,
    chunkBytes,
  });
  if (quick) {
    return [
      c("64x200x48", [64, 200, 48], "NT", "x·Wᵀ (small)"),
      c("16x64x1000 chunked", [16, 64, 1000], "NT", "logits, B in 4 chunks", 64 * 1024),
      c("96x96x96", [96, 96, 96], "NN", "square"),
      c("64x48x200 NN", [64, 48, 200], "NN", "dX (small)"),
      c("48x64x200 TN", [48, 64, 200], "TN", "dW (small)"),
    ];
  }
  return [
    c("64x25088x512", [64, 25088, 512], "NT", "Linear fwd x[64,25088]·W[512,25088]ᵀ"),
    c("512x512x8192", [512, 512, 8192], "NT", "Partial FC logits x[512,512]·W[8192,512]ᵀ"),
    c(
      "128x512x100000 chunked",
      [128, 512, 100000],
      "NT",
      "Partial FC logits x[128,512]·W[100000,512]ᵀ, W 204.8 MB > 128 MiB binding",
    ),
    c("1024x1024x1024", [1024, 1024, 1024], "NN", "square"),
    c("64x512x25088 NN", [64, 512, 25088], "NN", "Linear bwd-input dY[64,512]·W[512,25088]"),
    c("512x64x25088 TN", [512, 64, 25088], "TN", "Linear bwd-weight dY[64,512]ᵀ·X[64,25088]"),
  ];
}

function random(n: number): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = Math.random() * 2 - 1;
  return a;
}

/** Largest relative error of sampled outputs against a float64 CPU reference. */
function sampledError(
  c: GemmCase,
  ha: Float32Array,
  hb: Float32Array,
  out: Float32Array,
  samples = 64,
): number {
  const { M, K, N, transA, transB } = c;
  let err = 0, norm = 0;
  for (let s = 0; s < samples; s++) {
    const i = Math.floor(Math.random() * M), j = Math.floor(Math.random() * N);
    let r = 0;
    for (let k = 0; k < K; k++) {
      r += (transA ? ha[k * M + i] : ha[i * K + k]) * (transB ? hb[j * K + k] : hb[k * N + j]);
    }
    const d = out[i * N + j] - r;
    err += Number.isFinite(d) ? d * d : Infinity;
    norm += r * r;
  }
  return Math.sqrt(err / norm);
}

/** Times our GEMM on one case; returns GFLOP/s and the sampled relative error. */
async function ours(
  c: GemmCase,
  dtype: "f32" | "f16",
  timing: { warmup: number; minRuns: number; minMs: number },
): Promise<{ gflops: number; err: number }> {
  const { M, K, N, transA, transB } = c;
  const ha = random(M * K), hb = random(K * N);
  const a = Tensor.fromArray(ha, [M * K], dtype);
  const b = Tensor.fromArray(hb, [K * N], dtype);
  const out = Tensor.fromArray(new Float32Array(M * N).fill(NaN), [M * N], dtype);
  try {
    const run = () =>
      gemm({ a, b, c: out, M, N, K, transA, transB, dtype, maxBindingBytes: c.chunkBytes });
    run();
    const err = sampledError(c, ha, hb, await out.readFloat());
    const ms = await timeMedian(async () => {
      run();
      await gpu().sync();
    }, timing);
    return { gflops: 2 * M * N * K / ms / 1e6, err };
  } finally {
    a.dispose();
    b.dispose();
    out.dispose();
  }
}

/** Times tfjs's matMul on one case (f32); null with a note when it cannot run. */
async function peer(
  tf: Tfjs,
  c: GemmCase,
  timing: { warmup: number; minRuns: number; minMs: number },
): Promise<{ gflops: number | null; note: string }> {
  const { M, K, N, transA, transB } = c;
  const a = tf.randomUniform(transA ? [K, M] : [M, K], -1, 1);
  const bShape = transB ? [N, K] : [K, N];
  const bytesB = N * K * 4;
  const limit = gpu().maxBinding;
  const tensors = [a];
  try {
    if (c.chunkBytes === undefined && bytesB <= limit) {
      const b = tf.randomUniform(bShape, -1, 1);
      tensors.push(b);
      const ms = await timeTfjs(tf, () => tf.matMul(a, b, transA, transB), timing);
      return { gflops: 2 * M * N * K / ms / 1e6, note: "tfjs matMul" };
    }
    // W beyond one binding: first see what tfjs does with it whole, then chunk it as we do.
    let whole = "";
    if (c.chunkBytes === undefined) {
      const check = tfjsErrorScope(tf);
      try {
        const b = tf.randomUniform(bShape, -1, 1);
        const y = tf.matMul(a, b, transA, transB);
        await syncTfjs(tf, y);
        y.dispose();
        b.dispose();
        await check();
        whole = "unchunked tfjs ran without an error (unverified); ";
      } catch (e) {
        whole = `unchunked tfjs failed (${String((e as Error).message ?? e).slice(0, 120)}); `;
      }
    }
    const chunkRows = Math.floor((c.chunkBytes ?? limit) / (K * 4)) - 1;
    const parts: TfTensor[] = [];
    for (let n0 = 0; n0 < N; n0 += chunkRows) {
      const rows = Math.min(chunkRows, N - n0);
      const t = tf.randomUniform([rows, K], -1, 1);
      tensors.push(t);
      parts.push(t);
    }
    const ms = await timeTfjs(tf, () => parts.map((w) => tf.matMul(a, w, transA, true)), timing);
    return {
      gflops: 2 * M * N * K / ms / 1e6,
      note: whole + `tfjs matMul over ${parts.length} W chunks of ≤${chunkRows} rows (separate ` +
        `outputs, no concat)`,
    };
  } catch (e) {
    return { gflops: null, note: `tfjs failed: ${(e as Error).message ?? e}` };
  } finally {
    for (const t of tensors) t.dispose();
  }
}

/** Runs the suite. */
export async function run(opts: SuiteOptions): Promise<BenchReport> {
  const g = await initGpu();
  if (opts.args.includes("--conv-only") || opts.args.includes("--bn-only")) {
    return { suite: "kernels", adapter: g.description, rows: await convRows(opts) };
  }
  const tf = await loadTfjs();
  const timing = opts.quick
    ? { warmup: 1, minRuns: 1, minMs: 0 }
    : { warmup: 1, minRuns: 3, minMs: 500 };
  const rows: BenchRow[] = [];
  const list = cases(opts.quick);
  const peers = new Map<string, { gflops: number | null; note: string }>();
  for (const c of list) {
    const p = await peer(tf, c, timing);
    peers.set(c.name, p);
    const o = await ours(c, "f32", timing);
    rows.push(row(`gemm f32 ${c.name}`, "GFLOP/s", o.gflops, p.gflops, {
      shape: `${c.M}x${c.K}x${c.N}`,
      layout: `${c.transA ? "T" : "N"}${c.transB ? "T" : "N"}`,
      what: c.what,
      relErr: o.err,
      peerNote: p.note,
    }));
  }
  if (g.features.f16) {
    for (const c of list) {
      const p = peers.get(c.name)!;
      const o = await ours(c, "f16", timing);
      rows.push(row(`gemm f16 ${c.name}`, "GFLOP/s", o.gflops, p.gflops, {
        shape: `${c.M}x${c.K}x${c.N}`,
        layout: `${c.transA ? "T" : "N"}${c.transB ? "T" : "N"}`,
        what: c.what,
        relErr: o.err,
        peerNote: `tfjs has no f16 matMul: peer is its f32 figure from the row above (${p.note})`,
      }));
    }
  }
  if (!opts.args.includes("--gemm-only")) rows.push(...await convRows(opts));
  return { suite: "kernels", adapter: g.description, rows };
}
