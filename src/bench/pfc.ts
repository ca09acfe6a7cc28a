/**
 * `deno task bench pfc`: Partial FC forward + backward + update per step (one rank, batch 128,
 * embedding 512) at 10⁴, 10⁵ and 10⁶ classes, sample rates 1.0 and 0.1 — the shape of the
 * seed's Partial FC table on this machine. Each row reports the step time, the host sampling
 * time, and the allocator's peak bytes during the step (`peak_bytes`, which includes the
 * resident weights and optimiser state, `resident_bytes`; `work_bytes` is the difference).
 * Each rate below 1 also runs with the centres offloaded to host memory (`offload`: only the
 * sampled rows and their momentum visit the GPU each step; `host_bytes` is the host table,
 * and the step time includes the upload and the download of those rows, `pcie_bytes` per
 * step). The notes at the end compare, per class count, the peak GPU bytes and step time of
 * each sampled mode with the resident rate-1.0 layer, and convert the offload traffic into
 * milliseconds at typical PCIe bandwidths.
 * Flags: `--quick` (10³ and 10⁴ classes, batch 32), `--classes 10000,100000`, `--batch N`,
 * `--rates 1,0.1`, `--modes resident,offload`, `--reps N`.
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

async function measure(
  classes: number,
  rate: number,
  batch: number,
  reps: number,
  offload: boolean,
) {
  const g = gpu();
  const pfc = new PartialFC({
    numClasses: classes,
    embeddingSize: E,
    sampleRate: rate,
    maxGlobalBatch: batch,
    optimizer: { kind: "sgd", lr: 0.1, momentum: 0.9, weightDecay: 5e-4 },
    seed: 1,
    offload,
  });
  await pfc.ready();
  await g.sync();
  const resident = g.allocator.stats.liveBytes;
  const hostBytes = offload ? pfc.shard.numLocal * E * 4 * (1 + pfc.optimizer.stateSlots) : 0;
  const host = new Float32Array(batch * E);
  for (let i = 0; i < host.length; i++) host[i] = Math.sin(i * 12.9898) * 0.5;
  const x = Tensor.fromArray(host, [batch, E]);
  let seed = 12345;
  const labels = () =>
    Int32Array.from({ length: batch }, () => (seed = (seed * 1103515245 + 12345) >>> 0) % classes);
  const step = async () => {
    const t0 = performance.now();
    const out = await pfc.forwardBackward(x, labels());
    await pfc.ready(); // offloaded: the updated rows are back in the host table
    await g.sync();
    const ms = performance.now() - t0;
    out.loss.dispose();
    out.featureGrad.dispose();
    return { ms, sampling: out.samplingMs, transfer: out.transferBytes };
  };
  await step(); // warm-up: pipelines, pooled buffers
  g.allocator.resetPeak();
  const runs: { ms: number; sampling: number; transfer: number }[] = [];
  for (let i = 0; i < reps; i++) runs.push(await step());
  const peak = g.allocator.stats.peakBytes;
  runs.sort((a, b) => a.ms - b.ms);
  const mid = runs[Math.floor(runs.length / 2)];
  const sampled = pfc.sampleRate < 1 ? pfc.numSample : classes;
  x.dispose();
  pfc.dispose();
  g.allocator.trim();
  return {
    stepMs: mid.ms,
    samplingMs: mid.sampling,
    peak,
    resident,
    sampled,
    hostBytes,
    transfer: mid.transfer,
  };
}

const MiB = (b: number) => `${(b / 2 ** 20).toFixed(0)} MiB`;

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
      modes: { type: "string" },
    },
    strict: false,
  });
  const classes = list(
    values.classes as string | undefined,
    opts.quick ? [1e3, 1e4] : [1e4, 1e5, 1e6],
  );
  const rates = list(values.rates as string | undefined, [1, 0.1]);
  const batch = Number(values.batch ?? (opts.quick ? 32 : 128));
  const modes = ((values.modes as string | undefined) ?? "resident,offload").split(",");
  for (const m of modes) {
    if (m !== "resident" && m !== "offload") {
      throw new Error(`bench pfc: --modes ${values.modes}: "${m}" is not resident or offload`);
    }
  }
  const rows: BenchRow[] = [];
  const notes: string[] = [];
  for (const c of classes) {
    let base: { stepMs: number; peak: number } | null = null;
    for (const rate of rates) {
      for (const mode of modes) {
        const offload = mode === "offload";
        if (offload && rate >= 1) continue; // every row would travel both ways each step
        // big rows take seconds per step on a CPU adapter: fewer repetitions there
        const work = 6 * batch * c * rate * E;
        const reps = Number(values.reps ?? (work > 1e10 ? 1 : work > 1e9 ? 2 : 5));
        const m = await measure(c, rate, batch, reps, offload);
        const name = `pfc C=${c} rate=${rate}${offload ? " offload" : ""}`;
        const r = row(name, "ms/step", m.stepMs, null, {
          shape: `${batch}x${E}x${m.sampled}`,
          classes: c,
          sample_rate: rate,
          offload,
          step_ms: m.stepMs,
          sampling_ms: m.samplingMs,
          peak_bytes: m.peak,
          resident_bytes: m.resident,
          work_bytes: m.peak - m.resident,
          host_bytes: m.hostBytes,
          pcie_bytes: m.transfer,
          gflops: work / m.stepMs / 1e6,
        });
        console.log(
          `${name}: ${m.stepMs.toFixed(1)} ms/step, sampling ${m.samplingMs.toFixed(2)} ms, ` +
            `peak ${MiB(m.peak)} (resident ${MiB(m.resident)}` +
            (offload ? `; host table ${MiB(m.hostBytes)}, ${MiB(m.transfer)} moved/step)` : ")"),
        );
        rows.push(r);
        if (rate >= 1 && !offload) base = m;
        else if (base) {
          r.speedup_vs_rate1 = base.stepMs / m.stepMs;
          r.peak_vs_rate1 = m.peak / base.peak;
          r.sampling_share = m.samplingMs / m.stepMs;
          let note = `C=${c} rate ${rate}${offload ? " offloaded" : " resident"} vs rate 1.0 ` +
            `resident: ${(base.stepMs / m.stepMs).toFixed(1)}× faster, peak GPU bytes ` +
            `${(m.peak / base.peak).toFixed(2)}×, sampling ${
              (100 * m.samplingMs / m.stepMs).toFixed(2)
            } % of the step`;
          if (offload) {
            // host↔device traffic: sampled rows × E × 4 B × (weights + momentum), both ways
            const at = (gbps: number) => `${(m.transfer / gbps / 1e6).toFixed(0)} ms`;
            note += `; moves ${(m.transfer / 1e6).toFixed(0)} MB/step (2 × ${m.sampled} rows` +
              ` × ${E} × 4 B × 2) ≈ ${at(25)} at PCIe 4.0 x16 (~25 GB/s), ${at(12)} at ` +
              `PCIe 3.0 x16 (~12 GB/s)`;
          }
          notes.push(note);
        }
      }
    }
  }
  if (notes.length) console.log(`notes:\n  ${notes.join("\n  ")}`);
  return { suite: "pfc", adapter: gpu().description, rows };
}
