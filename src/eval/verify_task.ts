/**
 * `deno task eval verification --model M [--network N] --data FILE.bin|DIR …` and the
 * shorthands `lfw`, `cfp_fp`, `agedb_30`, `calfw`, `cplfw` (each finds `<name>.bin` under
 * `--data DIR`): embeds the sets through the onnx or webgpu engine, runs the reference
 * protocol, prints a table (accuracy ± std, XNorm, best threshold, VAL@FAR) and writes the
 * results as JSON with `--out`.
 *
 * @module
 */
import { basename, join } from "node:path";
import { parseArgs } from "node:util";
import { ENGINE_ARGS, type EngineArgs, engineArgs } from "./cli_args.ts";
import { writeFileAtomically } from "../io/atomic.ts";
import { readVerificationBin } from "./bin.ts";
import { openEngine } from "./engine.ts";
import { Progress } from "./progress.ts";
import type { EvalTarget } from "./targets.ts";
import { verifyBin, type VerifyResult } from "./verify.ts";

/** The standard verification sets, as the reference names their `.bin` files. */
export const VERIFICATION_SETS = ["lfw", "cfp_fp", "agedb_30", "calfw", "cplfw"] as const;

/** Options of {@link runVerificationTask}. */
export interface VerificationTaskOptions extends EngineArgs {
  /** `.bin` files or directories holding `<set>.bin`. */
  data: string[];
  /** Sets to look for in directories (default all of {@link VERIFICATION_SETS} present). */
  sets?: string[];
  /** Write the JSON result here. */
  out?: string;
  /** No progress line. */
  quiet?: boolean;
}

/** One set's result. */
export interface SetResult {
  /** Set name (file name without `.bin`). */
  name: string;
  /** The `.bin` file. */
  path: string;
  /** The protocol's figures and the throughput. */
  result: VerifyResult;
}

/** The whole run. */
export interface VerificationReport {
  /** The model file. */
  model: string;
  /** The engine's description. */
  engine: string;
  /** Per-set results in order. */
  sets: SetResult[];
}

async function statOrNull(p: string): Promise<Deno.FileInfo | null> {
  try {
    return await Deno.stat(p);
  } catch {
    return null;
  }
}

/**
 * The `.bin` files named by `data`: files as they are; in a directory `<set>.bin` for each of
 * `sets` (each must exist) or, without `sets`, every standard set present (at least one).
 */
export async function resolveBins(
  data: string[],
  sets?: string[],
): Promise<{ name: string; path: string }[]> {
  if (data.length === 0) throw new Error("--data FILE.bin or --data DIR is required");
  const out: { name: string; path: string }[] = [];
  for (const d of data) {
    const st = await statOrNull(d);
    if (!st) throw new Error(`${d}: no such file or directory`);
    if (st.isDirectory) {
      const want = sets ?? [...VERIFICATION_SETS];
      let found = 0;
      for (const s of want) {
        const p = join(d, `${s}.bin`);
        if (await statOrNull(p)) {
          out.push({ name: s, path: p });
          found++;
        } else if (sets) throw new Error(`${p}: no such file (looked for ${s}.bin in ${d})`);
      }
      if (found === 0) {
        throw new Error(`${d}: none of ${want.map((s) => `${s}.bin`).join(", ")} found here`);
      }
    } else out.push({ name: basename(d).replace(/\.bin$/i, ""), path: d });
  }
  return out;
}

/** Runs the verification sets and returns (and optionally writes) the report. */
export async function runVerificationTask(
  opts: VerificationTaskOptions,
  log: (s: string) => void = console.log,
): Promise<VerificationReport> {
  const bins = await resolveBins(opts.data, opts.sets);
  // read every .bin first: a bad file fails before minutes of inference
  const loaded = [];
  for (const b of bins) loaded.push({ ...b, bin: await readVerificationBin(b.path) });
  const engine = await openEngine(opts.model, {
    engine: opts.engine,
    network: opts.network,
    batch: opts.batch,
    threads: opts.threads,
  });
  const report: VerificationReport = { model: opts.model, engine: engine.describe(), sets: [] };
  log(`engine: ${report.engine}`);
  try {
    for (const b of loaded) {
      const progress = opts.quiet ? null : new Progress({ label: b.name });
      const result = await verifyBin(engine, b.bin, {
        source: b.path,
        onProgress: (p) => progress?.update(p.done, p.total, p.seconds),
      });
      progress?.done();
      report.sets.push({ name: b.name, path: b.path, result });
    }
  } finally {
    await engine.close();
  }
  log(formatVerificationTable(report));
  if (opts.out) {
    await writeFileAtomically(
      opts.out,
      new TextEncoder().encode(JSON.stringify(verificationJson(report), null, 2) + "\n"),
    );
    log(`wrote ${opts.out}`);
  }
  return report;
}

/** The JSON form of a report (no ROC arrays). */
export function verificationJson(report: VerificationReport): Record<string, unknown> {
  return {
    target: "verification",
    model: report.model,
    engine: report.engine,
    sets: report.sets.map(({ name, path, result: r }) => ({
      name,
      path,
      pairs: r.pairs,
      images: r.images,
      accuracy: r.accuracy,
      std: r.std,
      xnorm: r.xnorm,
      bestThreshold: r.bestThreshold,
      foldAccuracies: r.foldAccuracies,
      foldThresholds: r.foldThresholds,
      val: Number.isNaN(r.val) ? null : r.val,
      valStd: Number.isNaN(r.valStd) ? null : r.valStd,
      far: Number.isNaN(r.far) ? null : r.far,
      seconds: r.seconds,
      imagesPerSecond: r.imagesPerSecond,
    })),
  };
}

/** The results as a fixed-width table. */
export function formatVerificationTable(report: VerificationReport): string {
  const head = ["set", "pairs", "accuracy ± std", "XNorm", "best thr", "VAL@FAR=1e-3", "images/s"];
  const rows = report.sets.map(({ name, result: r }) => [
    name,
    String(r.pairs),
    `${r.accuracy.toFixed(5)} ± ${r.std.toFixed(5)}`,
    r.xnorm.toFixed(3),
    r.bestThreshold.toFixed(2),
    Number.isNaN(r.val) ? "—" : `${r.val.toFixed(5)} ± ${r.valStd.toFixed(5)}`,
    r.imagesPerSecond.toFixed(1),
  ]);
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (c: string[]) => c.map((x, i) => x.padEnd(w[i])).join("  ").trimEnd();
  return [line(head), line(w.map((n) => "-".repeat(n))), ...rows.map(line)].join("\n");
}

const USAGE = `options:
  --model FILE        .onnx model, or .pth/.safetensors checkpoint (needs --network)
  --network NAME      r18 r34 r50 r100 r200 r2060 mbf toy (checkpoints only)
  --engine KIND       auto (default: by extension), onnx or webgpu
  --data PATH         a .bin file, or a directory with <set>.bin (repeatable)
  --batch N           images per forward (default 32)
  --threads N         onnxruntime intra-op threads (default: all CPUs)
  --out FILE          write the results as JSON
  --quiet             no progress line`;

/** Parses the target's command line (`set` given for a shorthand). */
export function parseVerificationArgs(args: string[], set?: string): VerificationTaskOptions {
  const { values, positionals } = parseArgs({
    args,
    options: {
      ...ENGINE_ARGS,
      data: { type: "string", multiple: true },
      out: { type: "string" },
      quiet: { type: "boolean", default: false },
    },
    allowPositionals: true,
  });
  const engine = engineArgs(values); // checked before --data
  const data = [...(values.data ?? []), ...positionals];
  return {
    ...engine,
    data,
    sets: set ? [set] : undefined,
    out: values.out,
    quiet: values.quiet,
  };
}

/** The `verification` target, or the shorthand for one set. */
export function verificationTarget(set?: string): EvalTarget {
  return {
    summary: set
      ? `verification on ${set}.bin under --data DIR`
      : "verification protocol on .bin sets (--data FILE.bin or DIR)",
    usage: USAGE,
    async run(args: string[]) {
      await runVerificationTask(parseVerificationArgs(args, set));
      return 0;
    },
  };
}
