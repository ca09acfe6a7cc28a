/**
 * `deno task bench models`: forward + backward step time (samples/s) and peak GPU bytes of the
 * backbones at batch 8 on this adapter, beside PyTorch on this CPU (same shapes, same loss,
 * run in the same benchmark when Debian's python3 has torch). Also the largest batch whose
 * every tensor fits the adapter's storage-binding limit, and the peak bytes per sample.
 *
 * @module
 */
import { gpu, initGpu } from "../gpu/device.ts";
import { createBackbone } from "../nn/backbones/mod.ts";
import { backward, mul, sumAll, Tensor, tidy } from "../tensor/mod.ts";
import { type BenchReport, type BenchRow, row } from "./report.ts";
import type { SuiteOptions } from "./suites.ts";

const PYTHON = "/usr/bin/python3";

async function torchStep(net: string, batch: number, seconds: number): Promise<number | null> {
  try {
    const script = new URL("./torch_models.py", import.meta.url).pathname;
    const out = await new Deno.Command(PYTHON, {
      args: [
        script,
        net,
        String(batch),
        String(navigator.hardwareConcurrency || 2),
        String(seconds),
      ],
      stdout: "piped",
      stderr: "piped",
    }).output();
    if (out.code !== 0) {
      console.error(`PyTorch peer failed: ${new TextDecoder().decode(out.stderr).slice(-300)}`);
      return null;
    }
    return JSON.parse(new TextDecoder().decode(out.stdout).trim().split("\n").at(-1)!).step_ms;
  } catch (e) {
    console.error(`PyTorch peer unavailable (${(e as Error).message})`);
    return null;
  }
}

/** Runs the suite. */
export async function run(opts: SuiteOptions): Promise<BenchReport> {
  const g = await initGpu();
  const nets = opts.quick ? ["mbf"] : ["mbf", "r18", "r50"];
  const batch = opts.quick ? 2 : 8;
  const rows: BenchRow[] = [];
  for (const name of nets) {
    const net = createBackbone(name);
    const x = Tensor.fromArray(
      Float32Array.from({ length: batch * 3 * 112 * 112 }, (_, i) => Math.sin(i * 0.01)),
      [batch, 3, 112, 112],
    );
    const step = async () => {
      const loss = tidy(() => {
        const e = net.call(x);
        return sumAll(mul(e, e));
      });
      backward(loss);
      await loss.read();
      loss.dispose();
      for (const p of net.trainableParameters()) {
        p.grad?.dispose();
        p.grad = null;
      }
    };
    await step(); // warm-up: pipelines, pooled buffers
    g.allocator.resetPeak();
    const base = g.allocator.stats.liveBytes;
    const t0 = performance.now();
    let n = 0;
    do {
      await step();
      n++;
    } while (!opts.quick && n < 2 && performance.now() - t0 < 20_000);
    const ms = (performance.now() - t0) / n;
    const peak = g.allocator.stats.peakBytes;
    const perSample = (peak - base) / batch;
    const largestPerSample = g.allocator.stats.largest / batch;
    // every activation must fit one storage binding; memory itself is the device's (system
    // RAM on lavapipe), which WebGPU does not report
    const maxBatch = Math.floor(g.maxBinding / largestPerSample);
    const torchMs = await torchStep(name, batch, opts.quick ? 1 : 10);
    const ours = batch * 1000 / ms;
    rows.push(
      row(`model fwd+bwd ${name}`, "samples/s", ours, torchMs ? batch * 1000 / torchMs : null, {
        shape: `batch ${batch}`,
        step_ms: ms,
        peer_step_ms: torchMs,
        peak_bytes: peak,
        bytes_per_sample: perSample,
        max_batch: maxBatch,
      }),
    );
    console.error(
      `${name}: ${ms.toFixed(0)} ms/step, peak ${(peak / 2 ** 20).toFixed(0)} MiB, ` +
        `largest batch by the binding limit ≈ ${maxBatch}`,
    );
    for (const [, e] of net.stateEntries()) if (e instanceof Tensor) e.dispose();
    x.dispose();
  }
  return { suite: "models", adapter: gpu().description, rows };
}
