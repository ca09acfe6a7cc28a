/**
 * Partial FC (An et al.): the class-centre layer of margin-softmax training, model-parallel by
 * class and optionally sampled, with a fused GPU path per step:
 *
 * all-gather features and labels → remap labels to this rank's shard and sample centres
 * (host) → normalise features → per chunk of sampled centres: gather + normalise rows, GEMM
 * into that chunk's cosine columns → distributed margin softmax (all-reduce MAX, SUM) → loss
 * and cosine gradients in place → per chunk: recompute the normalised rows, feature-gradient
 * GEMM (accumulated), weight-gradient GEMM, normalisation backward, optimiser row update
 * (weights and their momentum/Adam state, sampled rows only) → feature gradient
 * reduce-scattered to the ranks that own the samples.
 *
 * Nothing B×classes exists beyond the sampled columns' cosines; the weight and optimiser state
 * live in row chunks below the adapter's binding limit, so millions of classes fit. The class
 * centres are updated inside `forwardBackward` (as the 2021 reference's separate `opt_pfc`
 * does every step, whether or not the backbone step is skipped by the loss scaler, and every
 * micro-batch when the trainer accumulates the backbone's gradients over `gradient_acc`).
 *
 * **Host-resident centres** (`offload: true`, config `pfc_offload`): the weight table and its
 * optimiser state stay in host memory (Float32Array chunks of `chunkRows` rows); each step
 * uploads only the sampled rows (weights and state) into staging chunks, runs the same fused
 * step on them (the staged rows stand in for the gathered ones, so the arithmetic is the same
 * kernel for kernel), and downloads the updated rows back into the host table. The GPU then
 * holds O(sampled rows) instead of O(num_local), at the price of
 * 2 · sampled · E · 4 B · (1 + state slots) of host↔device traffic per step. The download is
 * recorded with the step and written into the host table when it lands (the next step, reads
 * and checkpoints wait for it; `ready()` does too).
 *
 * **Sampling** is reseeded every step from (seed, rank, step) (see `ClassSampler`); a resumed
 * layer continues from `restoreSteps(step)` and samples what an uninterrupted one would.
 *
 * Reference semantics: the 2021 seed (`partial_fc.py` of cfa54d80), with the later
 * version's clamp of cosines to [−1, 1] and normalisation of the features inside the layer.
 * The returned feature gradient is `world ×` ∂loss/∂features (both versions multiply by the
 * world size, compensating the data-parallel backbone's gradient averaging).
 *
 * @module
 */
import rowsSrc from "../../kernels/pfc_rows.wgsl" with { type: "text" };
import initSrc from "../../kernels/init_normal.wgsl" with { type: "text" };
import type { Collective } from "../dist/collective.ts";
import { SingleCollective } from "../dist/single.ts";
import { gpu } from "../gpu/device.ts";
import { f32, kernel } from "../gpu/kernel.ts";
import { fill, scale } from "../tensor/ops/elementwise.ts";
import { gemm } from "../tensor/ops/matmul.ts";
import { noGrad } from "../tensor/autograd.ts";
import { grid1d } from "../tensor/launch.ts";
import { fmtShape, Tensor } from "../tensor/tensor.ts";
import { hashSeed } from "../data/rng.ts";
import { FiniteGuard } from "./finite.ts";
import { type Margin, type MarginConfig, resolveMargin } from "./margin.ts";
import { type CosineChunk, marginSoftmaxCrossEntropy } from "./margin_softmax.ts";
import { Optimizer, type OptimizerConfig } from "./optim.ts";
import {
  checkLabels,
  checkSampleRate,
  ClassSampler,
  type Sample,
  type Shard,
  shardOf,
} from "./sampling.ts";

const ROWS = kernel("pfc_rows", rowsSrc);
const INIT = kernel("init_normal", initSrc);
const NO_CODE = 0xffffffff;
const DEFAULT_CHUNK_ROWS = 16384;

/** Settings of `PartialFC`. */
export interface PartialFCOptions {
  /** Total number of classes over all ranks. */
  numClasses: number;
  /** Embedding size E. */
  embeddingSize: number;
  /** Fraction of each shard's centres per step, in (0, 1]; default 1. */
  sampleRate?: number;
  /** Margin (either config spelling) or a resolved margin; default ArcFace, s = 64. */
  margin?: MarginConfig | Margin;
  /** Optimiser of the class centres; default SGD lr 0.1, momentum 0.9, weight decay 5e-4. */
  optimizer?: OptimizerConfig;
  /** u32 [1] flag on which the centres' update is skipped (a loss scaler's); default none. */
  skipIf?: Tensor;
  /** The ranks sharing the classes; default a world of one. */
  collective?: Collective;
  /** Rows per weight chunk; default min(16384, the most that fit the binding limit). */
  chunkRows?: number;
  /** Largest global batch (rows) a step will see; sizes the default chunk; default 1024. */
  maxGlobalBatch?: number;
  /** Seed of the weight init (shared by all ranks) and of the sampling (per rank). */
  seed?: number;
  /** Standard deviation of the N(0, σ²) init; default 0.01. */
  initStd?: number;
  /** Stops on non-finite values (checked one step behind); default true. */
  checkFinite?: boolean;
  /** The guard of the trainer (it calls `begin(step)`); default PartialFC's own. */
  guard?: FiniteGuard;
  /**
   * Keep the centres and their optimiser state in host memory and move only each step's
   * sampled rows to the GPU and back (same results; GPU memory O(sampled rows)); default
   * false. Meant for sample_rate < 1: at rate 1 every row travels twice per step.
   */
  offload?: boolean;
}

/** What one step returns. */
export interface PartialFCStep {
  /** f32 [1]: the loss (same on every rank). */
  loss: Tensor;
  /** [b, E]: world × ∂loss/∂(this rank's features); the backbone's backward seed. */
  featureGrad: Tensor;
  /** Host time of remapping and sampling (ms). */
  samplingMs: number;
  /** The step's sample on this rank. */
  sample: Sample;
  /** Host↔device bytes of the offloaded rows this step (both directions; 0 when resident). */
  transferBytes: number;
}

/** One rank's Partial FC layer: its class centres, their optimiser state, the fused step. */
export class PartialFC {
  /** This rank's classes. */
  readonly shard: Shard;
  /** Embedding size. */
  readonly embeddingSize: number;
  /** Total classes. */
  readonly numClasses: number;
  /** Sample rate. */
  readonly sampleRate: number;
  /** The margin. */
  readonly margin: Margin;
  /** Rows per chunk of weights, optimiser state and cosine columns. */
  readonly chunkRows: number;
  /** Weight chunks: rows `k·chunkRows …` of the shard, [rows, E] each (empty when offloaded). */
  readonly weights: Tensor[];
  /** Optimiser state chunks: `state[slot][k]` matches `weights[k]` (empty lists when offloaded). */
  readonly state: Tensor[][];
  /** Whether the centres and their state live in host memory (`offload`). */
  readonly offloaded: boolean;
  /** The centres' optimiser (set `optimizer.lr` or pass `lr` per step). */
  readonly optimizer: Optimizer;
  /** The collective. */
  readonly collective: Collective;
  /** The non-finite guard. */
  readonly guard: FiniteGuard;
  readonly #sampler: ClassSampler;
  readonly #ownGuard: boolean;
  readonly #checkFinite: boolean;
  #step = 0;
  #scratchFlag: Tensor;
  // offloaded: host chunks of `chunkRows` rows ([rows · E] each), weights and state slots
  #hostW: Float32Array[] = [];
  #hostS: Float32Array[][] = [];
  // bumped by load and dispose: an older init or write-back then leaves the host table alone
  #gen = 0;
  #init: Promise<void> = Promise.resolve();
  #writeBack: Promise<void> = Promise.resolve();

  /** Allocates and initialises this rank's centres (N(0, initStd²), shard-independent). */
  constructor(opts: PartialFCOptions) {
    const coll = opts.collective ?? new SingleCollective();
    const { numClasses: C, embeddingSize: E } = opts;
    if (!(Number.isInteger(C) && C >= 1)) {
      throw new Error(`PartialFC: num_classes ${C} must be an integer ≥ 1`);
    }
    if (!(Number.isInteger(E) && E >= 1)) {
      throw new Error(`PartialFC: embedding size ${E} must be an integer ≥ 1`);
    }
    const rate = opts.sampleRate ?? 1;
    checkSampleRate(rate);
    this.collective = coll;
    this.numClasses = C;
    this.embeddingSize = E;
    this.sampleRate = rate;
    const m = opts.margin;
    this.margin = m && "m1" in m ? m : resolveMargin(m as MarginConfig | undefined);
    this.shard = shardOf(C, coll.world, coll.rank);
    const seed = opts.seed ?? 0;
    this.#sampler = new ClassSampler(this.shard, rate, hashSeed(seed, coll.rank, 0x5a3c));
    const maxB = opts.maxGlobalBatch ?? 1024;
    const limit = gpu().maxBinding;
    // a little under the limit: bindings start at 256-byte aligned windows and vectorised
    // kernels may round a range up
    const fit = Math.floor((limit - 1024) / (4 * Math.max(E, maxB)));
    // default: at most 16384 rows, so the per-chunk temporaries (normalised rows, their
    // gradient) stay small next to the sampled cosines
    const R = opts.chunkRows ?? Math.max(1, Math.min(fit, DEFAULT_CHUNK_ROWS));
    if (!(Number.isInteger(R) && R >= 1 && R <= fit)) {
      throw new Error(
        `PartialFC: chunkRows ${R} outside the valid range [1, ${fit}] (binding limit ` +
          `${limit} bytes less 1 KiB, / 4 / max(embedding ${E}, global batch ${maxB}))`,
      );
    }
    this.chunkRows = R;
    this.guard = opts.guard ?? new FiniteGuard();
    this.#ownGuard = !opts.guard;
    this.#checkFinite = opts.checkFinite ?? true;
    this.#scratchFlag = Tensor.fromArray(new Int32Array([-1]), [1], "i32").keep();
    this.optimizer = new Optimizer(
      [],
      opts.optimizer ?? { kind: "sgd", lr: 0.1, momentum: 0.9, weightDecay: 5e-4 },
      { skipIf: opts.skipIf },
    );
    const n = this.shard.numLocal;
    this.weights = [];
    this.state = Array.from({ length: this.optimizer.stateSlots }, () => []);
    this.offloaded = opts.offload ?? false;
    this.#hostS = this.state.map(() => []);
    const std = opts.initStd ?? 0.01;
    for (let r0 = 0; r0 < n; r0 += R) {
      const rows = Math.min(R, n - r0);
      if (this.offloaded) {
        this.#hostW.push(new Float32Array(rows * E));
        for (const s of this.#hostS) s.push(new Float32Array(rows * E));
        continue;
      }
      const w = Tensor.empty([rows, E], "f32", "PartialFC weight").keep();
      this.#initRows(w, r0, seed, std);
      this.weights.push(w);
      for (const s of this.state) s.push(fill([rows, E], 0).keep());
    }
    if (this.offloaded) {
      this.#init = this.#initHost(seed, std);
      this.#init.catch(() => {}); // reported by the next call that waits for it
    }
  }

  /** Fills `w` with the N(0, std²) init of shard rows `r0 …` (keyed by the global class). */
  #initRows(w: Tensor, r0: number, seed: number, std: number): void {
    const rows = w.shape[0];
    const g0 = this.shard.classStart + r0;
    gpu().dispatch(INIT, {
      label: "init normal",
      bindings: [w],
      params: [
        rows,
        this.embeddingSize,
        g0 >>> 0,
        Math.floor(g0 / 4294967296),
        seed >>> 0,
        f32(std),
      ],
      workgroups: grid1d(rows * this.embeddingSize),
    });
  }

  /** Offloaded: the same init, one chunk at a time on the GPU, read into the host table. */
  async #initHost(seed: number, std: number): Promise<void> {
    const gen = this.#gen, E = this.embeddingSize;
    for (let k = 0; k < this.#hostW.length; k++) {
      if (this.#gen !== gen) return;
      const w = Tensor.empty([this.#hostW[k].length / E, E], "f32", "PartialFC weight (init)");
      try {
        this.#initRows(w, k * this.chunkRows, seed, std);
        const d = await w.readFloat();
        if (this.#gen === gen) this.#hostW[k].set(d);
      } finally {
        w.dispose();
      }
    }
  }

  /**
   * Resolves once the centres are initialised and the last step's updated rows are back in
   * the host table (offloaded; at once when resident).
   * @throws a GPU error of the init or of the last step's download
   */
  async ready(): Promise<void> {
    await this.#init;
    await this.#writeBack;
  }

  /**
   * Sets the number of steps already run — a resumed run's global step — so that the next
   * step is numbered `steps + 1` and samples what an uninterrupted run samples there.
   */
  restoreSteps(steps: number): void {
    if (!(Number.isSafeInteger(steps) && steps >= 0)) {
      throw new Error(`PartialFC.restoreSteps: ${steps} must be an integer ≥ 0`);
    }
    this.#step = steps;
  }

  /** `int(sample_rate · num_local)`. */
  get numSample(): number {
    return this.#sampler.numSample;
  }

  /** Steps run so far. */
  get steps(): number {
    return this.#step;
  }

  /**
   * One training step of the layer: loss, feature gradient, and the centres' update.
   * @param features [b, E] this rank's embeddings (f32; not normalised)
   * @param labels this rank's b class labels in [0, numClasses)
   * @param opts `lr`: the centres' learning rate for this step (default `optimizer.lr`)
   * @throws on labels outside [0, numClasses), an embedding size mismatch, or (one step
   *   behind) non-finite values
   */
  async forwardBackward(
    features: Tensor,
    labels: Int32Array | readonly number[],
    opts: { lr?: number } = {},
  ): Promise<PartialFCStep> {
    const E = this.embeddingSize;
    if (features.rank !== 2 || features.shape[1] !== E || features.dtype !== "f32") {
      throw new Error(
        `PartialFC: features ${features.dtype} ${fmtShape(features.shape)} must be f32 ` +
          `[batch, ${E}] (embedding size ${E})`,
      );
    }
    const b = features.shape[0];
    if (labels.length !== b) {
      throw new Error(`PartialFC: ${labels.length} labels for a batch of ${b} features`);
    }
    checkLabels(labels, this.numClasses);
    if (this.#checkFinite && this.#ownGuard && this.#step > 0) await this.guard.assertFinite();
    await this.ready();
    const step = ++this.#step;
    if (this.#ownGuard) this.guard.begin(step);
    if (opts.lr !== undefined) this.optimizer.lr = opts.lr;
    const coll = this.collective;
    const B = b * coll.world;
    const R = this.chunkRows;
    if (B * R * 4 > gpu().maxBinding - 1024) {
      throw new Error(
        `PartialFC: global batch ${B} × chunk of ${R} classes exceeds the binding limit; ` +
          `set maxGlobalBatch ≥ ${B} or a smaller chunkRows`,
      );
    }
    const g = gpu();
    const flag = this.#checkFinite ? this.guard.flag : this.#scratchFlag;
    const code = (name: string) => this.#checkFinite ? this.guard.code(name) : NO_CODE;
    const live: Tensor[] = [];
    const track = <T extends Tensor>(t: T): T => (live.push(t), t);
    try {
      const X = track(Tensor.empty([B, E], "f32", "PartialFC features"));
      await coll.allGather(features, X);
      const all = await coll.allGatherHost(Int32Array.from(labels));
      const t0 = performance.now();
      const sample = this.#sampler.sample(all, step);
      const samplingMs = performance.now() - t0;
      const labelsT = track(Tensor.fromArray(sample.labels, [B], "i32"));
      const S = sample.count;
      // where the sampled rows are read and updated: the resident chunks (gathered through
      // `index`), or, offloaded, staging chunks holding exactly the sampled rows in order
      let W = this.weights, ST = this.state, index = sample.index;
      if (this.offloaded) {
        ({ W, ST } = this.#stage(sample.index, S));
        for (const t of [...W, ...ST.flat()]) track(t);
        index = null;
      }
      // shard-local row of each sampled column, as (storage chunk, row within it) segments
      let localIdx: Tensor | null = null;
      if (index && S > 0) {
        const li = new Int32Array(S);
        for (let p = 0; p < S; p++) li[p] = index[p] % R;
        localIdx = track(Tensor.fromArray(li, [S], "i32"));
      }
      const segments = (k: number) => {
        const a = k * R, e = Math.min(S, a + R);
        if (!index) return [{ s: k, a, e }];
        const out: { s: number; a: number; e: number }[] = [];
        let p = a;
        while (p < e) {
          const s = Math.floor(index[p] / R);
          let q = p + 1;
          while (q < e && Math.floor(index[q] / R) === s) q++;
          out.push({ s, a: p, e: q });
          p = q;
        }
        return out;
      };
      const Xn = track(Tensor.empty([B, E], "f32", "PartialFC normalised features"));
      const xNorm = track(Tensor.empty([B], "f32", "PartialFC feature norms"));
      this.#normalize(X, null, Xn, xNorm, B, code("embeddings (all-gathered features)"), flag);
      const nWork = Math.ceil(S / R);
      const centresCode = code("class centres (sampled weights)");
      const normalized = (k: number, c: number) => {
        const n = Math.min(S, (k + 1) * R) - k * R;
        const Wn = Tensor.empty([n, E], "f32", "PartialFC normalised centres");
        const wNorm = Tensor.empty([n], "f32", "PartialFC centre norms");
        for (const { s, a, e } of segments(k)) {
          const views = [
            localIdx ? localIdx.rows(a, e) : null,
            Wn.rows(a - k * R, e - k * R),
            wNorm.rows(a - k * R, e - k * R),
          ] as const;
          this.#normalize(W[s], views[0], views[1], views[2], e - a, c, flag);
          for (const v of views) v?.dispose();
        }
        return { Wn, wNorm, n };
      };
      const chunks: CosineChunk[] = [];
      for (let k = 0; k < nWork; k++) {
        const { Wn, wNorm, n } = normalized(k, centresCode);
        const L = track(Tensor.empty([B, n], "f32", "PartialFC cosines"));
        gemm({
          a: Xn,
          b: Wn,
          c: L,
          M: B,
          N: n,
          K: E,
          transB: true,
          dtype: "f32",
          label: "pfc logits",
        });
        Wn.dispose();
        wNorm.dispose();
        chunks.push({ logits: L, col0: k * R });
      }
      const loss = await marginSoftmaxCrossEntropy(chunks, labelsT, this.margin, coll, {
        guard: { flag, logitsCode: code("logits (cosines)"), lossCode: code("loss") },
      });
      try {
        const dX = track(Tensor.empty([B, E], "f32", "PartialFC feature gradient"));
        if (nWork === 0) g.upload(dX.buffer, dX.byteOffset, new Float32Array(B * E));
        const opt = this.optimizer;
        opt.begin();
        for (let k = 0; k < nWork; k++) {
          const L = chunks[k].logits;
          const { Wn, wNorm, n } = normalized(k, NO_CODE);
          gemm({
            a: L,
            b: Wn,
            c: dX,
            M: B,
            N: E,
            K: n,
            beta: k > 0 ? 1 : 0,
            dtype: "f32",
            label: "pfc feature grad",
          });
          const dW = Tensor.empty([n, E], "f32", "PartialFC centre gradient");
          gemm({
            a: L,
            b: Xn,
            c: dW,
            M: n,
            N: E,
            K: B,
            transA: true,
            dtype: "f32",
            label: "pfc weight grad",
          });
          this.#normalizeBackward(Wn, wNorm, dW, n, flag);
          for (const { s, a, e } of segments(k)) {
            const grows = dW.rows(a - k * R, e - k * R);
            const rows = localIdx ? localIdx.rows(a, e) : null;
            opt.updateRows(W[s], grows, ST.map((st) => st[s]), rows);
            grows.dispose();
            rows?.dispose();
          }
          Wn.dispose();
          wNorm.dispose();
          dW.dispose();
        }
        let transferBytes = 0;
        if (this.offloaded) {
          // records the downloads now (before the staging chunks are freed below)
          this.#writeBack = this.#download(W, ST, sample.index);
          this.#writeBack.catch(() => {}); // reported by the next call that waits for it
          transferBytes = 2 * S * E * 4 * (1 + ST.length);
        }
        this.#normalizeBackward(Xn, xNorm, dX, B, flag);
        const mine = track(Tensor.empty([b, E], "f32", "PartialFC local feature gradient"));
        await coll.reduceScatter(dX, mine);
        const featureGrad = coll.world === 1
          ? (live.splice(live.indexOf(mine), 1), mine)
          : noGrad(() => scale(mine, coll.world));
        return { loss, featureGrad, samplingMs, sample, transferBytes };
      } catch (e) {
        loss.dispose();
        throw e;
      }
    } finally {
      for (const t of live) t.dispose();
    }
  }

  /** Host row of shard-local row `r`: chunk and element offset. */
  #hostRow(r: number): [number, number] {
    const h = Math.floor(r / this.chunkRows);
    return [h, (r - h * this.chunkRows) * this.embeddingSize];
  }

  /**
   * Offloaded: uploads the sampled rows (`index`, or all rows when null) of the weights and
   * of each state slot into fresh [≤ chunkRows, E] chunks, in sample order.
   */
  #stage(index: Int32Array | null, S: number): { W: Tensor[]; ST: Tensor[][] } {
    const E = this.embeddingSize, R = this.chunkRows;
    const W: Tensor[] = [];
    const ST: Tensor[][] = this.#hostS.map(() => []);
    const buf = index ? new Float32Array(Math.min(S, R) * E) : null;
    const put = (host: Float32Array[], k: number, n: number, what: string) => {
      const t = Tensor.empty([n, E], "f32", what);
      let data: Float32Array;
      if (!index) data = host[k]; // all rows: staging chunk k is host chunk k
      else {
        for (let j = 0; j < n; j++) {
          const [h, o] = this.#hostRow(index[k * R + j]);
          buf!.set(host[h].subarray(o, o + E), j * E);
        }
        data = buf!.subarray(0, n * E);
      }
      // queue.writeBuffer copies `data` at once (buf is free again) in one host copy — several
      // times faster than a mapped staging buffer for these large uploads; the flush below
      // puts everything recorded so far ahead of it on the queue, and this step's kernels
      // are recorded after it
      g.device.queue.writeBuffer(t.buffer, t.byteOffset, data as Float32Array<ArrayBuffer>);
      return t;
    };
    const g = gpu();
    g.flush();
    for (let k = 0; k * R < S; k++) {
      const n = Math.min(R, S - k * R);
      W.push(put(this.#hostW, k, n, "PartialFC staged centres"));
      this.#hostS.forEach((host, i) => ST[i].push(put(host, k, n, "PartialFC staged state")));
    }
    return { W, ST };
  }

  /**
   * Offloaded: records the read-back of the updated staging chunks (synchronously, before
   * the caller frees them) and writes their rows into the host table when they land.
   */
  #download(W: Tensor[], ST: Tensor[][], index: Int32Array | null): Promise<void> {
    const gen = this.#gen, E = this.embeddingSize, R = this.chunkRows;
    const jobs = [W, ...ST].map((list, i) => {
      const host = i === 0 ? this.#hostW : this.#hostS[i - 1];
      return list.map(async (t, k) => {
        const d = await t.readFloat();
        if (this.#gen !== gen) return; // loaded or disposed since: the newer table wins
        if (!index) return void host[k].set(d);
        for (let j = 0; j < d.length / E; j++) {
          const [h, o] = this.#hostRow(index[k * R + j]);
          host[h].set(d.subarray(j * E, (j + 1) * E), o);
        }
      });
    });
    return Promise.all(jobs.flat()).then(() => {});
  }

  #normalize(
    src: Tensor,
    idx: Tensor | null,
    y: Tensor,
    norms: Tensor,
    n: number,
    code: number,
    flag: Tensor,
  ): void {
    gpu().dispatch(ROWS, {
      label: idx ? "pfc gather normalise" : "pfc normalise",
      bindings: [src, idx ?? gpu().dummy, y, norms, flag],
      params: [n, this.embeddingSize, f32(1e-12), code],
      workgroups: grid1d(n, 64),
      overrides: { BACKWARD: 0, GATHER: idx ? 1 : 0 },
    });
  }

  #normalizeBackward(y: Tensor, norms: Tensor, grad: Tensor, n: number, flag: Tensor): void {
    gpu().dispatch(ROWS, {
      label: "pfc normalise backward",
      bindings: [y, gpu().dummy, grad, norms, flag],
      params: [n, this.embeddingSize, f32(1e-12), NO_CODE],
      workgroups: grid1d(n, 64),
      overrides: { BACKWARD: 1, GATHER: 0 },
    });
  }

  /**
   * Throws `NonFiniteError` (step and first non-finite tensor) if the last step produced
   * Inf/NaN. `forwardBackward` runs this for the previous step before each new one.
   */
  async assertFinite(): Promise<void> {
    await this.guard.assertFinite();
  }

  /** This rank's centres, [numLocal · E] row-major (reads back, or copies the host table). */
  async readWeights(): Promise<Float32Array> {
    return await this.#readChunks(this.weights, this.#hostW);
  }

  /** Optimiser state slot `slot` (momentum; or Adam m / v) of this rank's centres. */
  async readState(slot = 0): Promise<Float32Array> {
    if (!this.state[slot]) throw new Error(`PartialFC: no optimiser state slot ${slot}`);
    return await this.#readChunks(this.state[slot], this.#hostS[slot]);
  }

  async #readChunks(ts: readonly Tensor[], host: readonly Float32Array[]): Promise<Float32Array> {
    const out = new Float32Array(this.shard.numLocal * this.embeddingSize);
    await this.ready();
    const parts = this.offloaded ? host : await Promise.all(ts.map((t) => t.readFloat()));
    let o = 0;
    for (const p of parts) {
      out.set(p, o);
      o += p.length;
    }
    return out;
  }

  /**
   * Loads this rank's centres (and optionally optimiser state) from host arrays (copied;
   * offloaded, this replaces the host table, and supersedes a pending init or download).
   */
  load(weights: Float32Array, state: readonly Float32Array[] = []): void {
    const want = this.shard.numLocal * this.embeddingSize;
    for (const a of [weights, ...state]) {
      if (a.length !== want) {
        throw new Error(`PartialFC.load: ${a.length} values, expected ${want} (numLocal × E)`);
      }
    }
    if (state.length > this.state.length) {
      throw new Error(
        `PartialFC.load: ${state.length} optimiser state arrays, the optimiser has ` +
          `${this.state.length}`,
      );
    }
    if (this.offloaded) this.#gen++;
    const put = (ts: readonly Tensor[], host: readonly Float32Array[], a: Float32Array) => {
      let o = 0;
      if (this.offloaded) {
        for (const h of host) (h.set(a.subarray(o, o + h.length)), o += h.length);
        return;
      }
      for (const t of ts) {
        gpu().upload(t.buffer, t.byteOffset, a.subarray(o, o + t.size));
        o += t.size;
      }
    };
    put(this.weights, this.#hostW, weights);
    state.forEach((a, i) => put(this.state[i], this.#hostS[i], a));
  }

  /** Frees the centres, state and guard (and the host table). */
  dispose(): void {
    this.#gen++;
    this.#hostW = [];
    this.#hostS = [];
    for (const w of this.weights) w.dispose();
    for (const s of this.state) for (const t of s) t.dispose();
    this.optimizer.dispose();
    this.#scratchFlag.dispose();
    if (this.#ownGuard) this.guard.dispose();
  }
}
