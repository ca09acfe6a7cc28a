/**
 * The submission checks of the reference's `onnx_helper` (REFERENCE.md "Model checks for
 * submission") over any ONNX face model: one file; one 4-D float32 input with a dynamic batch
 * dimension and a 112×112 RGB image; one output; feature dimension ≤ 512; file ≤ 1 GiB; no
 * initialiser narrower than 32 bits (fp16, bf16, int8 fail); a graph of at least 8 nodes;
 * the pixel normalisation (pixel_norm.txt beside the model, or detected from the graph, or the
 * default 127.5/127.5); a finite batch of 32 in onnxruntime; and the median inference time
 * per image at batch 1. Every rule is a named check; every failure says what was found.
 *
 * @module
 */
// deno-lint-ignore no-import-prefix -- pinned inline so the module also runs from a URL
import * as ort from "npm:onnxruntime-node@1.31.1";
import { toyPairs } from "../data/toy_faces.ts";
import {
  decodeOnnx,
  detectPixelNorm,
  type OnnxSummary,
  type PixelNorm,
  summarizeOnnx,
} from "./onnx_inspect.ts";
import { imagesToNchw } from "./pixels.ts";

/** One rule's outcome. */
export interface CheckItem {
  /** Rule name (`input-rank`, `dynamic-batch`, …). */
  name: string;
  /** pass, fail, or skip (when an earlier failure makes the rule moot). */
  status: "pass" | "fail" | "skip";
  /** What was found. */
  detail: string;
}

/** The outcome of {@link checkModel}. */
export interface ModelCheckReport {
  /** The model file. */
  path: string;
  /** True when no check failed. */
  ok: boolean;
  /** Every check in order. */
  checks: CheckItem[];
  /** Names of the failed checks. */
  failures: string[];
  /** Feature dimension, when known. */
  featureDim?: number;
  /** Pixel normalisation the model expects, when determined. */
  pixelNorm?: PixelNorm;
  /** Median milliseconds per image at batch 1, when measured. */
  msPerImage?: number;
  /** File size in MiB. */
  fileMiB?: number;
}

/** Limits and effort of {@link checkModel}. */
export interface ModelCheckOptions {
  /** Largest feature dimension (default 512). */
  maxFeatureDim?: number;
  /** Largest file size in bytes (default 1 GiB). */
  maxFileBytes?: number;
  /** Largest median time per image in ms (default: no limit, only measured). */
  maxMsPerImage?: number;
  /** Timed runs at batch 1 (default 20). */
  timingRuns?: number;
  /** onnxruntime threads (default: all CPUs). */
  threads?: number;
  /** Skip onnxruntime (structure checks only). */
  static?: boolean;
}

/** The rule names in order. */
export const MODEL_CHECKS = [
  "onnx-file",
  "single-file",
  "one-input",
  "input-rank",
  "dynamic-batch",
  "input-size",
  "input-type",
  "one-output",
  "file-size",
  "fp32-weights",
  "graph-size",
  "pixel-norm",
  "onnxruntime-load",
  "batch-inference",
  "feature-dim",
  "inference-time",
] as const;

function fmtDims(d: (number | string | null)[] | null): string {
  return d ? `[${d.map((x) => x === null ? "?" : x).join(", ")}]` : "(no shape)";
}

function staticChecks(
  s: OnnxSummary,
  opts: ModelCheckOptions,
  add: (name: string, ok: boolean | null, detail: string) => void,
): { usableInput: boolean } {
  const ext = s.initialisers.filter((t) => t.external);
  add(
    "single-file",
    ext.length === 0,
    ext.length
      ? `${ext.length} initialisers in external data (first: ${ext[0].name})`
      : "self-contained",
  );
  add(
    "one-input",
    s.inputs.length === 1,
    `${s.inputs.length} input${s.inputs.length === 1 ? "" : "s"}: ${
      s.inputs.map((i) => i.name).join(", ")
    }`,
  );
  const inp = s.inputs[0];
  const d = inp?.dims ?? null;
  const rank4 = !!d && d.length === 4;
  add(
    "input-rank",
    inp ? rank4 : null,
    inp ? `input "${inp.name}" ${fmtDims(d)} (rank ${d?.length ?? "?"})` : "no input",
  );
  const b0 = rank4 ? d[0] : undefined;
  add(
    "dynamic-batch",
    rank4 ? typeof b0 !== "number" : null,
    rank4
      ? typeof b0 === "number" ? `batch dimension fixed at ${b0}` : `batch dimension "${b0 ?? "?"}"`
      : "needs a 4-D input",
  );
  const sizeOk = rank4 && d[1] === 3 && d[2] === 112 && d[3] === 112;
  add(
    "input-size",
    rank4 ? sizeOk : null,
    rank4 ? `${fmtDims(d)}, expected [N, 3, 112, 112]` : "needs a 4-D input",
  );
  add("input-type", inp ? inp.elemType === "float32" : null, inp ? inp.elemType : "no input");
  add(
    "one-output",
    s.outputs.length === 1,
    `${s.outputs.length} output${s.outputs.length === 1 ? "" : "s"}: ${
      s.outputs.map((o) => `${o.name} ${fmtDims(o.dims)}`).join(", ")
    }`,
  );
  const maxBytes = opts.maxFileBytes ?? 2 ** 30;
  add(
    "file-size",
    s.fileBytes <= maxBytes,
    `${(s.fileBytes / 2 ** 20).toFixed(1)} MiB (limit ${(maxBytes / 2 ** 20).toFixed(0)} MiB)`,
  );
  const narrow = s.initialisers.filter((t) => t.itemBytes < 4);
  add(
    "fp32-weights",
    narrow.length === 0,
    narrow.length
      ? `${narrow.length} initialisers narrower than 32 bits: ${
        narrow.slice(0, 3).map((t) => `${t.name} (${t.dataType})`).join(", ")
      }${narrow.length > 3 ? ", …" : ""}`
      : `${s.initialisers.length} initialisers, all ≥ 32-bit`,
  );
  add("graph-size", s.nodeCount >= 8, `${s.nodeCount} nodes (at least 8)`);
  return { usableInput: s.inputs.length === 1 && sizeOk && inp.elemType === "float32" };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

/** Runs every check on the ONNX file at `path`. */
export async function checkModel(
  path: string,
  opts: ModelCheckOptions = {},
): Promise<ModelCheckReport> {
  const checks: CheckItem[] = [];
  const add = (name: string, ok: boolean | null, detail: string) =>
    checks.push({ name, status: ok === null ? "skip" : ok ? "pass" : "fail", detail });
  const report = (extra: Partial<ModelCheckReport> = {}): ModelCheckReport => {
    const done = new Set(checks.map((c) => c.name));
    for (const n of MODEL_CHECKS) if (!done.has(n)) add(n, null, "not reached");
    const order = new Map<string, number>(MODEL_CHECKS.map((n, i) => [n, i]));
    checks.sort((a, b) => order.get(a.name)! - order.get(b.name)!);
    const failures = checks.filter((c) => c.status === "fail").map((c) => c.name);
    return { path, ok: failures.length === 0, checks, failures, ...extra };
  };

  let s: OnnxSummary;
  let bytes: Uint8Array;
  try {
    try {
      bytes = await Deno.readFile(path);
    } catch (e) {
      const why = e instanceof Deno.errors.NotFound ? "no such file" : (e as Error).message;
      throw new Error(`${path}: cannot read the model (${why})`);
    }
    s = summarizeOnnx(decodeOnnx(bytes, path), path, bytes.length);
    add(
      "onnx-file",
      true,
      `IR ${s.irVersion}, opset ${s.opsets[""] ?? s.opsets["ai.onnx"] ?? "?"}`,
    );
  } catch (e) {
    add("onnx-file", false, (e as Error).message);
    return report();
  }
  const fileMiB = s.fileBytes / 2 ** 20;
  const { usableInput } = staticChecks(s, opts, add);

  let pixelNorm: PixelNorm | undefined;
  try {
    pixelNorm = await detectPixelNorm(s);
    add("pixel-norm", true, `(x − ${pixelNorm.mean}) / ${pixelNorm.std} from ${pixelNorm.source}`);
  } catch (e) {
    add("pixel-norm", false, (e as Error).message);
  }

  const od = s.outputs[0]?.dims;
  let featureDim = od && od.length === 2 && typeof od[1] === "number" ? od[1] : undefined;
  const maxDim = opts.maxFeatureDim ?? 512;
  if (opts.static || !usableInput || s.outputs.length < 1) {
    const why = opts.static ? "static checks only" : "the input is not [N, 3, 112, 112] float32";
    add("onnxruntime-load", null, why);
    add("batch-inference", null, why);
    add("inference-time", null, why);
    if (featureDim !== undefined) {
      add("feature-dim", featureDim <= maxDim, `${featureDim} (limit ${maxDim})`);
    } else add("feature-dim", null, `output shape ${fmtDims(od ?? null)}; not run`);
    return report({ featureDim, pixelNorm, fileMiB });
  }

  let session: ort.InferenceSession;
  try {
    session = await ort.InferenceSession.create(bytes, {
      intraOpNumThreads: opts.threads ?? navigator.hardwareConcurrency ?? 1,
      interOpNumThreads: 1,
      graphOptimizationLevel: "all",
    });
    add("onnxruntime-load", true, `onnxruntime-node ${ort.env.versions?.common ?? ""}`);
  } catch (e) {
    add("onnxruntime-load", false, (e as Error).message.split("\n")[0]);
    return report({ featureDim, pixelNorm, fileMiB });
  }
  const norm = pixelNorm ?? { mean: 127.5, std: 127.5 };
  const face = toyPairs({ seed: 7, numPairs: 1, numIdentities: 2 }).images[0];
  const fixed = s.inputs[0].dims![0];
  const runBatch = async (n: number) => {
    const imgs = new Uint8Array(n * face.length);
    for (let i = 0; i < n; i++) imgs.set(face, i * face.length);
    const x = imagesToNchw(imgs, n, { norm });
    const t0 = performance.now();
    const out = await session.run({
      [session.inputNames[0]]: new ort.Tensor("float32", x, [n, 3, 112, 112]),
    });
    const ms = performance.now() - t0;
    return { y: out[session.outputNames[0]] as ort.Tensor, ms };
  };
  let msPerImage: number | undefined;
  try {
    const n = typeof fixed === "number" ? fixed : 32;
    const { y } = await runBatch(n);
    const data = y.data as Float32Array;
    const finite = data.every(Number.isFinite);
    const shapeOk = y.dims.length === 2 && y.dims[0] === n;
    add(
      "batch-inference",
      finite && shapeOk,
      `batch ${n} → [${y.dims.join(", ")}]${finite ? "" : ", contains NaN or Inf"}${
        shapeOk ? "" : ", expected [N, E]"
      }`,
    );
    if (y.dims.length === 2) featureDim = y.dims[1];
    add(
      "feature-dim",
      featureDim !== undefined && featureDim <= maxDim,
      `${featureDim ?? `output [${y.dims}]`} (limit ${maxDim})`,
    );
    const m = typeof fixed === "number" ? fixed : 1;
    await runBatch(m); // warm-up
    const times: number[] = [];
    for (let i = 0; i < (opts.timingRuns ?? 20); i++) times.push((await runBatch(m)).ms / m);
    msPerImage = median(times);
    const limit = opts.maxMsPerImage;
    add(
      "inference-time",
      limit === undefined || msPerImage <= limit,
      `median ${msPerImage.toFixed(2)} ms per image at batch ${m} over ${times.length} runs${
        limit === undefined ? "" : ` (limit ${limit} ms)`
      }`,
    );
  } catch (e) {
    add("batch-inference", false, (e as Error).message.split("\n")[0]);
  } finally {
    await session.release();
  }
  return report({ featureDim, pixelNorm, msPerImage, fileMiB });
}

/** The report as text: one line per check, then a verdict. */
export function formatModelCheck(r: ModelCheckReport): string {
  const w = Math.max(...r.checks.map((c) => c.name.length));
  const shown = r.checks.filter((c) => c.detail !== "not reached");
  const lines = shown.map((c) =>
    `${c.status === "pass" ? "ok  " : c.status === "fail" ? "FAIL" : "skip"}  ${
      c.name.padEnd(w)
    }  ${c.detail}`
  );
  const verdict = r.ok
    ? `${r.path}: passes (feature dim ${r.featureDim ?? "?"}, ${r.fileMiB?.toFixed(1)} MiB, ${
      r.msPerImage?.toFixed(2) ?? "?"
    } ms/image)`
    : `${r.path}: fails ${r.failures.join(", ")}`;
  return [...lines, verdict].join("\n");
}
