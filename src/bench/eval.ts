/**
 * `deno task bench eval [--quick] [--nets mbf,r18]`: inference throughput (images/s) of the
 * two evaluation engines on the same weights — our WebGPU forward and onnxruntime-node over the
 * exported ONNX (all CPU threads) — at batch 1, 32 and 128, each beside PyTorch eval-mode
 * forward on this CPU over the same weights and inputs, run in the same benchmark when
 * Debian's python3 has torch. Each row also records the relative L2 distance between the
 * engine's embeddings and PyTorch's (the weights really are the same).
 *
 * @module
 */
import { parseArgs } from "node:util";
import { toyPairs } from "../data/toy_faces.ts";
import { initGpu } from "../gpu/device.ts";
import { writeNpy } from "../io/npy.ts";
import { createBackbone } from "../nn/backbones/mod.ts";
import { writeWeights } from "../nn/weights.ts";
import { exportOnnx } from "../eval/onnx_export.ts";
import { OnnxEngine } from "../eval/onnx_engine.ts";
import { imagesToNchw } from "../eval/pixels.ts";
import { WebGpuEngine } from "../eval/webgpu_engine.ts";
import type { Engine } from "../eval/engine.ts";
import { type BenchReport, type BenchRow, row } from "./report.ts";
import type { SuiteOptions } from "./suites.ts";

const PYTHON = "/usr/bin/python3";

interface TorchResult {
  perBatch: Record<string, number>;
  embedding: number[];
}

async function torchPeer(
  net: string,
  weights: string,
  input: string,
  batches: number[],
  seconds: number,
): Promise<TorchResult | null> {
  try {
    const script = new URL("./torch_eval.py", import.meta.url).pathname;
    const threads = String(navigator.hardwareConcurrency || 2);
    const out = await new Deno.Command(PYTHON, {
      args: [script, net, weights, input, batches.join(","), threads, String(seconds)],
      stdout: "piped",
      stderr: "piped",
    }).output();
    if (out.code !== 0) {
      console.error(`PyTorch peer failed: ${new TextDecoder().decode(out.stderr).slice(-300)}`);
      return null;
    }
    const j = JSON.parse(new TextDecoder().decode(out.stdout).trim().split("\n").at(-1)!);
    return { perBatch: j.images_per_s, embedding: j.embedding };
  } catch (e) {
    console.error(`PyTorch peer unavailable (${(e as Error).message})`);
    return null;
  }
}

/** Images per second of `engine` at `batch`: repeated until `minMs` passed (one run at least). */
async function throughput(
  engine: Engine,
  images: Uint8Array,
  batch: number,
  minMs: number,
  warmup: boolean,
): Promise<{ perSecond: number; first: Float32Array }> {
  engine.batch = batch;
  let first = warmup ? await engine.embed(images, batch) : null;
  const times: number[] = [];
  const start = performance.now();
  while (times.length < 1 || performance.now() - start < minMs) {
    const t0 = performance.now();
    const e = await engine.embed(images, batch);
    times.push(performance.now() - t0);
    first ??= e;
    if (times.length >= 50) break;
  }
  times.sort((a, b) => a - b);
  return { perSecond: batch / (times[times.length >> 1] / 1e3), first: first! };
}

function relL2(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < b.length; i++) {
    num += (a[i] - b[i]) ** 2;
    den += b[i] ** 2;
  }
  return Math.sqrt(num / den);
}

/** Runs the suite. */
export async function run(opts: SuiteOptions): Promise<BenchReport> {
  const { values } = parseArgs({
    args: opts.args,
    options: { nets: { type: "string" }, batches: { type: "string" } },
    strict: false,
  });
  const g = await initGpu();
  const nets = typeof values.nets === "string" ? values.nets.split(",") : ["mbf"];
  const batches = typeof values.batches === "string"
    ? values.batches.split(",").map(Number)
    : opts.quick
    ? [1, 8]
    : [1, 32, 128];
  const maxB = Math.max(...batches);
  const pairs = toyPairs({ seed: 1, numPairs: Math.ceil(maxB / 2), numIdentities: 16 });
  const images = new Uint8Array(maxB * 112 * 112 * 3);
  for (let i = 0; i < maxB; i++) images.set(pairs.images[i], i * 112 * 112 * 3);
  const minMs = opts.quick ? 500 : 3000;
  const rows: BenchRow[] = [];
  const dir = await Deno.makeTempDir({ prefix: "bench_eval_" });
  try {
    for (const net of nets) {
      const model = createBackbone(net, { seed: 0 });
      model.eval();
      const sd = await model.stateDict();
      const pth = `${dir}/${net}.pth`;
      await writeWeights(pth, sd);
      const ex = await exportOnnx(model, { network: net });
      const onnxPath = `${dir}/${net}.onnx`;
      await Deno.writeFile(onnxPath, ex.bytes);
      const npy = `${dir}/${net}_input.npy`;
      await writeNpy(npy, {
        dtype: "float32",
        shape: [maxB, 3, 112, 112],
        data: imagesToNchw(images, maxB),
      });
      const torch = await torchPeer(net, pth, npy, batches, minMs / 1e3);
      const E = ex.embeddingSize;
      const engines: Engine[] = [
        WebGpuEngine.fromModel(model, E),
        await OnnxEngine.load(onnxPath, { threads: navigator.hardwareConcurrency || 2 }),
      ];
      for (const engine of engines) {
        for (const b of batches) {
          // one warm-up (pipeline compilation, allocator) except for slow WebGPU batches
          const warm = engine.kind === "onnx" || b <= 32;
          const peer = torch?.perBatch[String(b)] ?? null;
          const extra: Record<string, unknown> = { shape: `${net} b${b}`, batch: b };
          let t;
          try {
            t = await throughput(engine, images, b, minMs, warm);
          } catch (e) {
            // e.g. an activation beyond the adapter's storage-binding limit
            const note = (e as Error).message.split("\n")[0];
            console.error(`eval ${engine.kind} ${net} b${b}: cannot run (${note})`);
            rows.push({
              ...row(`eval ${engine.kind} ${net}`, "images/s", NaN, peer, { ...extra, note }),
              ratio: null,
            });
            continue;
          }
          if (torch) extra.relL2VsTorch = relL2(t.first.subarray(0, E), torch.embedding);
          rows.push(row(`eval ${engine.kind} ${net}`, "images/s", t.perSecond, peer, extra));
          console.error(
            `eval ${engine.kind} ${net} b${b}: ${t.perSecond.toFixed(1)} images/s` +
              (peer ? ` (PyTorch ${peer.toFixed(1)})` : ""),
          );
        }
        await engine.close();
      }
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
  return {
    suite: "eval",
    adapter: `${g.description}; onnxruntime-node on ${navigator.hardwareConcurrency} CPU threads`,
    rows,
  };
}
