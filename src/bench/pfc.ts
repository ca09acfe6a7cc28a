/**
 * `deno task bench pfc`: Partial FC forward + backward + update per step (one rank, batch 128,
 * embedding 512) at 10⁴, 10⁵ and 10⁶ classes, sample rates 1.0 and 0.1 — the shape of the
 * seed's Partial FC table on this machine. Each row reports the step time, the host sampling
 * time, and the allocator's peak bytes during the step (`peak_bytes`, which includes the
 * resident weights and optimiser state, `resident_bytes`; `work_bytes` is the difference).
 * Flags: `--quick` (10³ and 10⁴ classes, batch 32), `--classes 10000,100000`, `--batch N`,
 * `--rates 1,0.1`, `--reps N`.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { gpu, initGpu } from "../gpu/device.ts";
import { Tensor } from "../tensor/tensor.ts";
import { PartialFC } from "../train/partial_fc.ts";
import { type BenchReport, type BenchRow, row } from "./report.ts";
import type { SuiteOptions } from "./suites.ts";

const E = 512;

function list(s: string | undefined, dflt: number[]): number[] {
  return s ? s.split(",").map(Number) : dflt;
}

async function measure(classes: number, rate: number, batch: number, reps: number) {
  const g = gpu();
  const pfc = new PartialFC({
    numClasses: classes,
    embeddingSize: E,
    sampleRate: rate,
    maxGlobalBatch: batch,
    optimizer: { kind: "sgd", lr: 0.1, momentum: 0.9, weightDecay: 5e-4 },
    seed: 1,
  });
  await g.sync();
  const resident = g.allocator.stats.liveBytes;
  const host = new Float32Array(batch * E);
  for (let i = 0; i < host.length; i++) host[i] = Math.sin(i * 12.9898) * 0.5;
  const x = Tensor.fromArray(host, [batch, E]);
  let seed = 12345;
  const labels = () =>
    Int32Array.from({ length: batch }, () => (seed = (seed * 1103515245 + 12345) >>> 0) % classes);
  const step = async () => {
    const t0 = performance.now();
    const out = await pfc.forwardBackward(x, labels());
    await g.sync();
    const ms = performance.now() - t0;
    out.loss.dispose();
    out.featureGrad.dispose();
    return { ms, sampling: out.samplingMs };
  };
  await step(); // warm-up: pipelines, pooled buffers
  g.allocator.resetPeak();
  const runs: { ms: number; sampling: number }[] = [];
  for (let i = 0; i < reps; i++) runs.push(await step());
  const peak = g.allocator.stats.peakBytes;
  runs.sort((a, b) => a.ms - b.ms);
  const mid = runs[Math.floor(runs.length / 2)];
  const sampled = pfc.sampleRate < 1 ? pfc.numSample : classes;
  x.dispose();
  pfc.dispose();
  g.allocator.trim();
  return { stepMs: mid.ms, samplingMs: mid.sampling, peak, resident, sampled };
}

/** Runs the suite. */
export async function run(opts: SuiteOptions): Promise<BenchReport> {
  await initGpu();
  const { values } = parseArgs({
    args: opts.args,
    options: {
      classes: { type: "string" },
      rates: { type: "string" },
      batch: { type: "string" },
      reps: { type: "string" },
    },
    strict: false,
  });
  const classes = list(
    values.classes as string | undefined,
    opts.quick ? [1e3, 1e4] : [1e4, 1e5, 1e6],
  );
  const rates = list(values.rates as string | undefined, [1, 0.1]);
  const batch = Number(values.batch ?? (opts.quick ? 32 : 128));
  const rows: BenchRow[] = [];
  for (const c of classes) {
    for (const rate of rates) {
      // big rows take seconds per step on a CPU adapter: fewer repetitions there
      const work = 6 * batch * c * rate * E;
      const reps = Number(values.reps ?? (work > 1e10 ? 1 : work > 1e9 ? 2 : 5));
      const m = await measure(c, rate, batch, reps);
      const r = row(`pfc C=${c} rate=${rate}`, "ms/step", m.stepMs, null, {
        shape: `${batch}x${E}x${m.sampled}`,
        classes: c,
        sample_rate: rate,
        step_ms: m.stepMs,
        sampling_ms: m.samplingMs,
        peak_bytes: m.peak,
        resident_bytes: m.resident,
        work_bytes: m.peak - m.resident,
        gflops: work / m.stepMs / 1e6,
      });
      console.log(
        `${r.name}: ${m.stepMs.toFixed(1)} ms/step, sampling ${m.samplingMs.toFixed(2)} ms, ` +
          `peak ${(m.peak / 2 ** 20).toFixed(0)} MiB (resident ${
            (m.resident / 2 ** 20).toFixed(0)
          } MiB)`,
      );
      rows.push(r);
    }
  }
  return { suite: "pfc", adapter: gpu().description, rows };
}
