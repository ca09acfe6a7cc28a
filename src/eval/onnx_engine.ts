/**
 * The onnxruntime engine: any ONNX face model (ours from `deno task export`, or a model-zoo
 * file) on onnxruntime-node's CPU provider with a configurable thread count. The model must
 * take one `[N, 3, 112, 112]` float32 input; a fixed batch dimension is honoured by running
 * that many images at a time (the last batch padded). Pixel normalisation comes from
 * `pixel_norm.txt`, the graph, or the reference's default (see `detectPixelNorm`).
 *
 * @module
 */
// deno-lint-ignore no-import-prefix -- pinned inline so the module also runs from a URL
import * as ort from "npm:onnxruntime-node@1.31.1";
import type { EmbedOptions, Engine } from "./engine.ts";
import { detectPixelNorm, inspectOnnx, type OnnxIo, type OnnxSummary } from "./onnx_inspect.ts";
import { imagesToNchw, type PixelNormalization } from "./pixels.ts";

/** Options of {@link OnnxEngine.load}. */
export interface OnnxEngineOptions {
  /** Images per forward (default 32; a fixed batch dimension overrides it). */
  batch?: number;
  /** Intra-op threads (default: the number of CPUs). */
  threads?: number;
  /** Override the detected pixel normalisation. */
  pixelNorm?: PixelNormalization;
}

function fmtDims(d: OnnxIo["dims"]): string {
  return d ? `[${d.map((x) => x === null ? "?" : x).join(", ")}]` : "(unknown shape)";
}

/**
 * Checks that a model can serve as a face embedder: one float32 input `[N, 3, 112, 112]` and
 * at least one output. Throws one line naming the file otherwise.
 */
export function requireFaceModel(s: OnnxSummary): void {
  if (s.inputs.length !== 1) {
    throw new Error(`${s.path}: the model has ${s.inputs.length} inputs; expected one image input`);
  }
  const inp = s.inputs[0];
  const d = inp.dims;
  if (!d || d.length !== 4) {
    throw new Error(
      `${s.path}: input "${inp.name}" has rank ${d?.length ?? "unknown"} ${
        fmtDims(d)
      }; expected 4-D [N, 3, 112, 112]`,
    );
  }
  if (d[1] !== 3 || d[2] !== 112 || d[3] !== 112) {
    throw new Error(
      `${s.path}: input "${inp.name}" is ${fmtDims(d)}; expected [N, 3, 112, 112]`,
    );
  }
  if (inp.elemType !== "float32") {
    throw new Error(`${s.path}: input "${inp.name}" is ${inp.elemType}; expected float32`);
  }
  if (s.outputs.length < 1) throw new Error(`${s.path}: the model has no output`);
}

/** An ONNX model in onnxruntime-node. */
export class OnnxEngine implements Engine {
  /** Always `onnx`. */
  readonly kind = "onnx" as const;
  /** Images per forward. */
  batch: number;
  /** Pixel normalisation applied before the model. */
  pixelNorm: PixelNormalization;
  /** Embedding size (from the output shape, or measured on one image). */
  embeddingSize = 0;
  /** The model's summary. */
  readonly summary: OnnxSummary;
  /** Intra-op threads. */
  readonly threads: number;
  readonly #session: ort.InferenceSession;
  readonly #fixedBatch: number | null;
  readonly #pixelSource: string;

  private constructor(
    session: ort.InferenceSession,
    summary: OnnxSummary,
    batch: number,
    threads: number,
    norm: PixelNormalization,
    pixelSource: string,
  ) {
    this.#session = session;
    this.summary = summary;
    const b0 = summary.inputs[0].dims![0];
    this.#fixedBatch = typeof b0 === "number" ? b0 : null;
    this.batch = this.#fixedBatch ?? batch;
    this.threads = threads;
    this.pixelNorm = norm;
    this.#pixelSource = pixelSource;
  }

  /** Opens `path`; errors are one line naming the file. */
  static async load(path: string, opts: OnnxEngineOptions = {}): Promise<OnnxEngine> {
    const summary = await inspectOnnx(path);
    requireFaceModel(summary);
    const norm = opts.pixelNorm
      ? { ...opts.pixelNorm, source: "option" }
      : await detectPixelNorm(summary);
    const threads = opts.threads ?? navigator.hardwareConcurrency ?? 1;
    let session: ort.InferenceSession;
    try {
      session = await ort.InferenceSession.create(path, {
        intraOpNumThreads: threads,
        interOpNumThreads: 1,
        executionMode: "sequential",
        graphOptimizationLevel: "all",
      });
    } catch (e) {
      const msg = (e as Error).message.split("\n")[0];
      throw new Error(`${path}: onnxruntime cannot load the model (${msg})`);
    }
    const eng = new OnnxEngine(
      session,
      summary,
      opts.batch ?? 32,
      threads,
      { mean: norm.mean, std: norm.std },
      norm.source,
    );
    const od = summary.outputs[0].dims;
    const e = od && od.length === 2 && typeof od[1] === "number" ? od[1] : null;
    if (e !== null) eng.embeddingSize = e;
    else {
      // unknown output width: measure it on one blank image
      const rows = eng.#fixedBatch ?? 1;
      const one = await eng.#run(new Float32Array(rows * 3 * 112 * 112), rows);
      eng.embeddingSize = one.length / rows;
    }
    return eng;
  }

  /** One line about the engine. */
  describe(): string {
    return `onnx ${this.summary.path} (onnxruntime-node ${
      ort.env.versions?.common ?? ""
    }, ${this.threads} threads, batch ${this.batch}, pixels (x − ${this.pixelNorm.mean}) / ${this.pixelNorm.std} from ${this.#pixelSource})`;
  }

  async #run(x: Float32Array, m: number): Promise<Float32Array> {
    const inName = this.#session.inputNames[0];
    const outName = this.#session.outputNames[0];
    let res: ort.InferenceSession.OnnxValueMapType;
    try {
      res = await this.#session.run({ [inName]: new ort.Tensor("float32", x, [m, 3, 112, 112]) });
    } catch (e) {
      const msg = (e as Error).message.split("\n")[0];
      throw new Error(`${this.summary.path}: inference failed (${msg})`);
    }
    const t = res[outName] as ort.Tensor;
    if (t.dims.length !== 2 || t.dims[0] !== m) {
      throw new Error(
        `${this.summary.path}: output "${outName}" is [${t.dims}]; expected [${m}, E]`,
      );
    }
    return t.data as Float32Array;
  }

  /** Embeddings of `n` images, `batch` at a time; the next batch is prepared while one runs. */
  async embed(images: Uint8Array, n: number, opts: EmbedOptions = {}): Promise<Float32Array> {
    const E = this.embeddingSize;
    const out = new Float32Array(n * E);
    const per = 112 * 112 * 3;
    const B = this.batch;
    const prep = (s: number) => {
      const m = Math.min(B, n - s);
      const rows = this.#fixedBatch ?? m;
      const x = new Float32Array(rows * per);
      imagesToNchw(images.subarray(s * per, (s + m) * per), m, {
        norm: this.pixelNorm,
        flip: opts.flip,
        out: x,
      });
      return { x, m, rows };
    };
    let next = n > 0 ? prep(0) : null;
    for (let s = 0; s < n; s += B) {
      const cur = next!;
      const running = this.#run(cur.x, cur.rows);
      next = s + B < n ? prep(s + B) : null;
      const y = await running;
      if (y.length !== cur.rows * E) {
        throw new Error(
          `${this.summary.path}: output width changed (${y.length / cur.rows} vs ${E})`,
        );
      }
      out.set(y.subarray(0, cur.m * E), s * E);
    }
    return out;
  }

  /** Releases the session. */
  async close(): Promise<void> {
    await this.#session.release();
  }
}
