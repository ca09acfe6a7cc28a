/**
 * The WebGPU inference engine: our backbone in eval mode over a .pth or .safetensors
 * checkpoint, embedding batches of uint8 face images or already-normalised float inputs.
 *
 * @module
 */
import { gpu, initGpu } from "../gpu/device.ts";
import { createBackbone } from "../nn/backbones/mod.ts";
import type { Module } from "../nn/module.ts";
import { readWeights } from "../nn/weights.ts";
import { noGrad, Tensor, tidy } from "../tensor/mod.ts";
import { imagesToTensor } from "../tensor/ops/preprocess.ts";
import type { EmbedOptions, Engine } from "./engine.ts";
import { DEFAULT_PIXEL_NORM, type PixelNormalization } from "./pixels.ts";

/** Embeds faces with our own forward on the GPU. */
export class WebGpuEngine implements Engine {
  /** Always `webgpu`. */
  readonly kind = "webgpu" as const;
  /** The backbone, in eval mode. */
  readonly model: Module;
  /** Embedding size. */
  readonly embeddingSize: number;
  /** Images per forward in {@link WebGpuEngine.embed}. */
  batch = 32;
  /** Pixel normalisation of {@link WebGpuEngine.embed} (default (x − 127.5) / 127.5). */
  pixelNorm: PixelNormalization = { ...DEFAULT_PIXEL_NORM };
  /** Where the weights came from, for {@link WebGpuEngine.describe}. */
  source = "";

  private constructor(model: Module, embeddingSize: number) {
    this.model = model;
    this.embeddingSize = embeddingSize;
  }

  /**
   * Loads `network` with the weights of `weightPath`. The embedding size is read from the
   * checkpoint (`features.weight`).
   */
  static async load(network: string, weightPath: string): Promise<WebGpuEngine> {
    await initGpu();
    const sd = await readWeights(weightPath);
    const feat = sd.get("features.weight") ?? sd.get("features.layers.3.weight") ??
      sd.get("head.3.weight");
    const emb = feat?.shape[0] ?? 512;
    const model = createBackbone(network, { embeddingSize: emb });
    model.loadStateDict(sd, weightPath);
    model.eval();
    const e = new WebGpuEngine(model, emb);
    e.source = `${network} ${weightPath}`;
    return e;
  }

  /** Wraps an already-built model (e.g. the trainer's backbone). */
  static fromModel(model: Module, embeddingSize: number): WebGpuEngine {
    return new WebGpuEngine(model, embeddingSize);
  }

  #fit?: number;
  /**
   * The largest batch whose every tensor fits one storage binding of this adapter (lavapipe:
   * 128 MiB, so ~80 mbf images), measured once with a one-image forward. Eval mode has no
   * batch statistics, so a larger requested batch runs as consecutive sub-batches of this size
   * with identical results; on adapters with larger bindings nothing is split.
   */
  fittingBatch(): number {
    if (this.#fit !== undefined) return this.#fit;
    const g = gpu();
    const stats = g.allocator.stats;
    const before = stats.largest;
    stats.largest = 0;
    const was = this.model.training;
    this.model.eval();
    try {
      tidy(() =>
        noGrad(() => this.model.call(Tensor.empty([1, 3, 112, 112], "f32", "batch probe")))
      );
    } finally {
      this.model.train(was);
    }
    const perImage = Math.max(stats.largest, 1);
    stats.largest = Math.max(before, stats.largest);
    this.#fit = Math.max(1, Math.floor((g.maxBinding - 4096) / perImage));
    return this.#fit;
  }

  /**
   * Embeddings of `n` uint8 RGB images (n×112×112×3), optionally flipped, `batch` at a time
   * (in sub-batches of `fittingBatch()` where a batch would exceed the binding limit).
   * The model is put in eval mode for the call and restored after.
   */
  async embedImages(
    images: Uint8Array,
    n: number,
    { batch = 32, flip = false, mean = 0.5, std = 0.5 }: {
      batch?: number;
      flip?: boolean;
      /** Pixel mean as a fraction of 255 (default 0.5). */
      mean?: number;
      /** Pixel std as a fraction of 255 (default 0.5). */
      std?: number;
    } = {},
  ): Promise<Float32Array> {
    const out = new Float32Array(n * this.embeddingSize);
    const per = 112 * 112 * 3;
    batch = Math.min(batch, this.fittingBatch());
    const was = this.model.training;
    this.model.eval();
    try {
      const pending: Promise<void>[] = [];
      for (let s = 0; s < n; s += batch) {
        const m = Math.min(batch, n - s);
        const e = tidy(() =>
          noGrad(() =>
            this.model.call(imagesToTensor(images.subarray(s * per, (s + m) * per), m, {
              flips: flip ? new Array(m).fill(true) : undefined,
              mean,
              std,
            }))
          )
        );
        pending.push(
          e.readFloat().then((v) => {
            out.set(v, s * this.embeddingSize);
            e.dispose();
          }),
        );
        if (pending.length >= 2) await pending.shift();
      }
      await Promise.all(pending);
    } finally {
      this.model.train(was);
    }
    return out;
  }

  /** Embeddings of normalised float inputs [n, 3, 112, 112]. */
  async embedFloats(x: Float32Array, n: number, batch = 32): Promise<Float32Array> {
    const out = new Float32Array(n * this.embeddingSize);
    const per = 3 * 112 * 112;
    batch = Math.min(batch, this.fittingBatch());
    const was = this.model.training;
    this.model.eval();
    try {
      for (let s = 0; s < n; s += batch) {
        const m = Math.min(batch, n - s);
        const e = tidy(() =>
          noGrad(() =>
            this.model.call(Tensor.fromArray(x.subarray(s * per, (s + m) * per), [m, 3, 112, 112]))
          )
        );
        out.set(await e.readFloat(), s * this.embeddingSize);
        e.dispose();
      }
    } finally {
      this.model.train(was);
    }
    return out;
  }

  /** The {@link Engine} call: `batch` images per forward with `pixelNorm`. */
  async embed(images: Uint8Array, n: number, opts: EmbedOptions = {}): Promise<Float32Array> {
    try {
      return await this.embedImages(images, n, {
        batch: this.batch,
        flip: opts.flip,
        mean: this.pixelNorm.mean / 255,
        std: this.pixelNorm.std / 255,
      });
    } catch (e) {
      const msg = (e as Error).message;
      if (!/maxStorageBufferBindingSize|maxBufferSize/.test(msg)) throw e;
      throw new Error(
        `batch ${this.batch} does not fit this adapter (${
          msg.split(";")[0]
        }); use a smaller --batch`,
      );
    }
  }

  /** One line about the engine. */
  describe(): string {
    return `webgpu ${
      this.source || this.model.constructor.name
    } (batch ${this.batch}, pixels (x − ${this.pixelNorm.mean}) / ${this.pixelNorm.std})`;
  }

  /** Nothing to release beyond what the GPU runtime owns. */
  close(): Promise<void> {
    return Promise.resolve();
  }
}
