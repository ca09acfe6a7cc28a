/**
 * The inference engine interface of `eval.ts`: embeddings of uint8 RGB 112×112 face images,
 * `batch` images per forward, optionally of their horizontal mirror images. Two
 * implementations: `OnnxEngine` (onnxruntime-node over any ONNX face model) and `WebGpuEngine`
 * (our backbone over a `.pth` / `.safetensors` checkpoint). {@link openEngine} picks one from
 * the model file.
 *
 * @module
 */
import { BACKBONES } from "../nn/backbones/mod.ts";
import { checkpointLoadError, requireFile } from "./load_errors.ts";
import type { PixelNormalization } from "./pixels.ts";

/** Options of {@link Engine.embed}. */
export interface EmbedOptions {
  /** Embed the horizontally mirrored images instead. */
  flip?: boolean;
}

/** Something that turns face images into embeddings. */
export interface Engine {
  /** `onnx` or `webgpu`. */
  readonly kind: "onnx" | "webgpu";
  /** Embedding size E. */
  readonly embeddingSize: number;
  /** Images per forward. */
  batch: number;
  /** Pixel normalisation applied to the uint8 images. */
  pixelNorm: PixelNormalization;
  /** One line describing the engine and its model, for logs. */
  describe(): string;
  /** Embeddings (n×E, row-major) of `n` uint8 RGB images (n×112×112×3). */
  embed(images: Uint8Array, n: number, opts?: EmbedOptions): Promise<Float32Array>;
  /** Releases the engine's resources. */
  close(): Promise<void>;
}

/** Engine kinds of {@link openEngine}. */
export type EngineKind = "auto" | "onnx" | "webgpu";

/** Options of {@link openEngine}. */
export interface OpenEngineOptions {
  /** `auto` (default): `.onnx` → onnx, a checkpoint → webgpu. */
  engine?: EngineKind;
  /** Network of a checkpoint (required for `.pth` / `.safetensors`). */
  network?: string;
  /** Images per forward (default 32). */
  batch?: number;
  /** onnxruntime intra-op threads (default: the number of CPUs). */
  threads?: number;
  /** Override the model's pixel normalisation. */
  pixelNorm?: PixelNormalization;
}

/** Whether a path names a backbone checkpoint rather than an ONNX model. */
export function isCheckpoint(path: string): boolean {
  return /\.(pth|pt|ckpt|safetensors)$/i.test(path);
}

/**
 * Opens the engine for `model`: an `.onnx` file runs in onnxruntime, a checkpoint on our WebGPU
 * forward (which needs `network`). Errors are one line naming the file.
 */
export async function openEngine(model: string, opts: OpenEngineOptions = {}): Promise<Engine> {
  const kind = opts.engine ?? "auto";
  const onnxFile = /\.onnx$/i.test(model);
  if (!onnxFile && !isCheckpoint(model)) {
    throw new Error(
      `${model}: unknown model format; give an .onnx model or a .pth/.safetensors checkpoint`,
    );
  }
  await requireFile(model, onnxFile ? "model" : "checkpoint");
  const batch = opts.batch ?? 32;
  if (!Number.isInteger(batch) || batch < 1) throw new Error(`batch must be ≥ 1, got ${batch}`);
  if (onnxFile) {
    if (kind === "webgpu") {
      throw new Error(
        `${model}: the webgpu engine runs checkpoints (.pth/.safetensors), not ONNX files`,
      );
    }
    const { OnnxEngine } = await import("./onnx_engine.ts");
    return await OnnxEngine.load(model, {
      batch,
      threads: opts.threads,
      pixelNorm: opts.pixelNorm,
    });
  }
  if (kind === "onnx") {
    throw new Error(
      `${model}: the onnx engine needs an .onnx file (export it with deno task export)`,
    );
  }
  if (!opts.network) {
    throw new Error(
      `${model}: a checkpoint needs --network (one of ${BACKBONES.join(", ")})`,
    );
  }
  const { WebGpuEngine } = await import("./webgpu_engine.ts");
  let e;
  try {
    e = await WebGpuEngine.load(opts.network, model);
  } catch (err) {
    throw checkpointLoadError(err, model, opts.network);
  }
  e.batch = batch;
  if (opts.pixelNorm) e.pixelNorm = opts.pixelNorm;
  return e;
}
