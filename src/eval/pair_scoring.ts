/**
 * Exact TAR@FAR over every pair of a large set of L2-normalised embeddings, on the GPU,
 * without ever holding the N×N score matrix: the ICCV2021-MFR protocol at 10¹² pairs.
 *
 * **Definition** (ours; the reference published no local evaluator). The score of a pair is
 * the f32 dot product of the two L2-normalised embeddings (their cosine). A pair is
 * *positive* when both images have the same identity label and *negative* otherwise. Let the
 * N negative scores be sorted descending s₁ ≥ s₂ ≥ … ≥ s_N and, for a false-accept rate FAR,
 * k = ⌊FAR·N⌋. The threshold is t = s_{k+1} (t = −∞ when k ≥ N). A pair is accepted when its
 * score is > t, so at most k negatives are accepted (exactly k when s_k > s_{k+1}, fewer when
 * ties straddle the threshold). TAR = #(positives with score > t) / #positives. For each FAR
 * we report t, the accepted negatives and TAR.
 *
 * Modes: `all` scores every unordered pair i < j of one set (MFR-ALL); `cross` scores every
 * query × gallery pair (MFR-MASK: masked × unmasked).
 *
 * **Algorithm**: a fused tiled GEMM (kernels/pair_score.wgsl) over row blocks of the
 * embeddings (query block × gallery block, each within the adapter's binding limit; in `all`
 * mode only blocks on or above the diagonal, with the i < j mask inside diagonal tiles). Its
 * epilogue appends positive scores to a buffer (their count is known exactly from the labels,
 * and checked) and reduces negatives by an exact two-pass radix select on the order-preserving
 * u32 key of each f32 score: pass 1 histograms the top 12 bits (4096 bins, privatised in
 * workgroup memory); the host finds, for every FAR, the bin holding rank k+1; pass 2 recomputes
 * the same tiles with the same pipeline (so every score is bit-identical) and histograms the low
 * 20 bits of the keys falling in those bins (2²⁰ bins per distinct target bin, all FARs at once).
 * Together the two give the exact f32 threshold and the exact count above it. The host checks
 * that the negatives counted equal the pairs expected and that pass-2 counts sum to the pass-1
 * bins, and recomputes a few positive pairs per query block in float64 (the kernel reports each
 * positive's indices). Histograms are u32 on the GPU and drained into f64 on the host before they could wrap.
 * Memory: O((block rows)·E) on the GPU, O(N) labels + positives + 8 MiB per target on the host.
 *
 * @module
 */
import pairSrc from "../../kernels/pair_score.wgsl" with { type: "text" };
import { gpu } from "../gpu/device.ts";
import { type BufferRange, kernel } from "../gpu/kernel.ts";
import { floatToHalf, halfToFloat } from "../io/host_tensor.ts";

const PAIR = kernel("pair_score", pairSrc);
/** Register tile of kernels/pair_score.wgsl (rows × columns per invocation). */
const TR = 16, TC = 8;
/** Invocations per workgroup (x over columns, y over rows). */
const WG_X = 8, WG_Y = 8;
const TOP_BINS = 4096;
const LOW_BINS = 1 << 20;
const U32_SAFE = 0xffffffff;

/** Row blocks of embeddings: a `.npy` store reader or an in-memory array. */
export interface EmbeddingSource {
  /** Number of rows. */
  readonly rows: number;
  /** Embedding size E. */
  readonly dim: number;
  /** Rows `[start, start + count)`, row-major count×E. */
  read(start: number, count: number): Promise<Float32Array>;
}

/** An {@link EmbeddingSource} over a row-major rows×dim array in memory. */
export function arraySource(data: Float32Array, dim: number): EmbeddingSource {
  if (!Number.isInteger(dim) || dim < 1 || data.length % dim !== 0) {
    throw new Error(`arraySource: ${data.length} values are not a whole number of rows of ${dim}`);
  }
  return {
    rows: data.length / dim,
    dim,
    read: (start, count) => Promise.resolve(data.subarray(start * dim, (start + count) * dim)),
  };
}

/** Options of {@link scoreAllPairs} and {@link scoreCrossPairs}. */
export interface PairScoringOptions {
  /** False-accept rates to report (each in (0, 1]). */
  fars: readonly number[];
  /**
   * Rows per block (default: as many as fit the adapter's binding limit, at most 65535). Tests
   * force small blocks to exercise many tiles and the diagonal masking.
   */
  blockRows?: number;
  /** Keep every block resident on the GPU when they total at most this (default 1 GiB). */
  residentBytes?: number;
  /** Column tiles per workgroup (default: chosen from the problem size). */
  colTiles?: number;
  /**
   * Positive pairs per query block whose GPU score is recomputed on the host in float64 and
   * compared (default 16; a mismatch throws): a guard against a wrong kernel.
   */
  spotChecks?: number;
  /**
   * Element type of the embeddings on the GPU: `f32` (default) or `f16` (needs `shader-f16`;
   * accumulation stays f32, and results are exact for the f16-rounded embeddings).
   */
  precision?: "f32" | "f16";
  /** Told after each query block of each pass. */
  onProgress?: (p: { pass: 1 | 2; done: number; total: number; seconds: number }) => void;
}

/** The figures at one FAR. */
export interface FarResult {
  /** The requested false-accept rate. */
  far: number;
  /** k = ⌊FAR·negatives⌋, the most negatives that may be accepted. */
  k: number;
  /** The threshold t = s_{k+1} (−Infinity when k ≥ negatives); accepted ⇔ score > t. */
  threshold: number;
  /** Negatives with score > t (≤ k; < k only with ties at t). */
  acceptedNegatives: number;
  /** Positives with score > t. */
  acceptedPositives: number;
  /** acceptedPositives / positives (NaN without positives). */
  tar: number;
}

/** The result of a scoring run. */
export interface PairScoreResult {
  /** `all` (i < j of one set) or `cross` (query × gallery). */
  mode: "all" | "cross";
  /** Pairs scored (positives + negatives). */
  pairs: number;
  /** Positive pairs. */
  positives: number;
  /** Negative pairs. */
  negatives: number;
  /** One entry per FAR, in the order given. */
  results: FarResult[];
  /** Embedding size. */
  dim: number;
  /** Whether pass 2 ran (not needed when every FAR accepts all negatives). */
  twoPasses: boolean;
  /** Wall seconds of the GPU passes (uploads included). */
  seconds: number;
  /** 2·E·pairs·passes / seconds / 1e9. */
  gflops: number;
}

/** k = ⌊FAR·n⌋, robust to the rounding of the product (1e-6 · 10⁶ is 1, not 0). */
export function farRank(far: number, n: number): number {
  if (!(far > 0 && far <= 1)) throw new Error(`FAR must be in (0, 1], got ${far}`);
  const x = far * n;
  let k = Math.floor(x);
  if (k + 1 <= x * (1 + 1e-12)) k++;
  return Math.min(k, n);
}

const f32buf = new Float32Array(1);
const u32buf = new Uint32Array(f32buf.buffer);

/** The order-preserving u32 key of an f32 score (as the kernel computes it; −0 is +0). */
export function scoreKey(s: number): number {
  f32buf[0] = s;
  let u = u32buf[0];
  if (u === 0x80000000) u = 0;
  return (u >>> 31) === 1 ? (~u) >>> 0 : (u | 0x80000000) >>> 0;
}

/** The f32 score of a key (inverse of {@link scoreKey}). */
export function keyScore(key: number): number {
  u32buf[0] = (key & 0x80000000) !== 0 ? (key ^ 0x80000000) >>> 0 : (~key) >>> 0;
  return f32buf[0];
}

interface Block {
  start: number;
  count: number;
}

function blocksOf(rows: number, per: number): Block[] {
  const out: Block[] = [];
  for (let s = 0; s < rows; s += per) out.push({ start: s, count: Math.min(per, rows - s) });
  return out;
}

function range(buffer: GPUBuffer, bytes: number, elementBytes = 4): BufferRange {
  return { buffer, byteOffset: 0, byteLength: Math.max(bytes, elementBytes), elementBytes };
}

/**
 * Scores every pair i < j of `src` (MFR-ALL): `labels[i]` is row i's identity.
 * @throws on inconsistent inputs or if the GPU's counts fail the self-checks
 */
export function scoreAllPairs(
  src: EmbeddingSource,
  labels: Int32Array,
  opts: PairScoringOptions,
): Promise<PairScoreResult> {
  if (labels.length !== src.rows) {
    throw new Error(`scoreAllPairs: ${labels.length} labels for ${src.rows} embeddings`);
  }
  return score("all", src, labels, src, labels, opts);
}

/**
 * Scores every query × gallery pair (MFR-MASK: masked × unmasked).
 * @throws on inconsistent inputs or if the GPU's counts fail the self-checks
 */
export function scoreCrossPairs(
  query: EmbeddingSource,
  queryLabels: Int32Array,
  gallery: EmbeddingSource,
  galleryLabels: Int32Array,
  opts: PairScoringOptions,
): Promise<PairScoreResult> {
  if (queryLabels.length !== query.rows || galleryLabels.length !== gallery.rows) {
    throw new Error(
      `scoreCrossPairs: ${queryLabels.length}/${galleryLabels.length} labels for ` +
        `${query.rows}/${gallery.rows} query/gallery embeddings`,
    );
  }
  if (query.dim !== gallery.dim) {
    throw new Error(`scoreCrossPairs: query E=${query.dim} but gallery E=${gallery.dim}`);
  }
  return score("cross", query, queryLabels, gallery, galleryLabels, opts);
}

/** Positives per query row (all: later rows of the same label; cross: gallery rows). */
function positivesPerRow(
  mode: "all" | "cross",
  ql: Int32Array,
  gl: Int32Array,
): Float64Array {
  const out = new Float64Array(ql.length);
  const count = new Map<number, number>();
  for (const l of gl) count.set(l, (count.get(l) ?? 0) + 1);
  if (mode === "cross") {
    for (let i = 0; i < ql.length; i++) out[i] = count.get(ql[i]) ?? 0;
  } else {
    for (let i = 0; i < ql.length; i++) {
      const c = count.get(ql[i])! - 1;
      count.set(ql[i], c);
      out[i] = c;
    }
  }
  return out;
}

async function score(
  mode: "all" | "cross",
  qsrc: EmbeddingSource,
  ql: Int32Array,
  gsrc: EmbeddingSource,
  gl: Int32Array,
  opts: PairScoringOptions,
): Promise<PairScoreResult> {
  const g = gpu();
  const fars = [...opts.fars];
  if (fars.length === 0) throw new Error("pair scoring: no FAR given");
  for (const f of fars) farRank(f, 1);
  const E = qsrc.dim;
  const E4 = Math.ceil(E / 4);
  const f16 = opts.precision === "f16";
  if (f16 && !g.features.f16) {
    throw new Error("pair scoring: precision f16 needs the shader-f16 feature; use f32");
  }
  const vecBytes = f16 ? 8 : 16;
  const rowBytes = E4 * vecBytes;
  /** The value the GPU sees for an input element. */
  const asGpu = f16 ? (x: number) => halfToFloat(floatToHalf(x)) : (x: number) => x;
  const nq = qsrc.rows, ng = gsrc.rows;
  const upper = mode === "all";
  const pairs = upper ? nq * (nq - 1) / 2 : nq * ng;
  const posRow = positivesPerRow(mode, ql, gl);
  const positives = posRow.reduce((a, b) => a + b, 0);
  const negatives = pairs - positives;

  const maxRows = Math.min(65535, Math.floor(g.maxBinding / rowBytes));
  const per = Math.max(1, Math.min(opts.blockRows ?? maxRows, maxRows));
  const qBlocks = blocksOf(nq, per);
  const gBlocks = upper ? qBlocks : blocksOf(ng, per);
  const posCaps = qBlocks.map((b) => {
    let s = 0;
    for (let i = b.start; i < b.start + b.count; i++) s += posRow[i];
    return s;
  });
  const maxCap = Math.max(1, ...posCaps);
  if (maxCap * 8 > g.maxBinding) {
    throw new Error(
      `pair scoring: a block of ${per} query rows has ${maxCap} positive pairs, beyond one ` +
        `binding (${g.maxBinding} bytes); pass a smaller blockRows`,
    );
  }

  // labels: query labels then (cross) gallery labels, one binding
  const labelsAll = upper ? ql : new Int32Array(nq + ng);
  if (!upper) {
    labelsAll.set(ql, 0);
    labelsAll.set(gl, nq);
  }
  const alloc = g.allocator;
  const held: GPUBuffer[] = [];
  const take = (bytes: number, what: string) => {
    const b = alloc.alloc(bytes, what);
    held.push(b);
    return b;
  };
  const labBuf = take(labelsAll.byteLength || 4, "pair_score labels");
  g.upload(labBuf, 0, labelsAll);
  const h1Buf = take(TOP_BINS * 4, "pair_score pass-1 histogram");
  const posBuf = take(maxCap * 4, "pair_score positives");
  const cntBuf = take(256, "pair_score positive counter");
  const tmapBuf = take(TOP_BINS * 4, "pair_score target map");
  const pixBuf = take(maxCap * 8, "pair_score positive pair indices");
  const enc = () => g.encoder();
  enc().clearBuffer(h1Buf, 0, TOP_BINS * 4);
  enc().clearBuffer(cntBuf, 0, 256);
  enc().clearBuffer(tmapBuf, 0, TOP_BINS * 4);

  // blocks on the GPU: resident when they fit, else streamed
  const uniqueBytes = (nq + (upper ? 0 : ng)) * rowBytes;
  const resident = uniqueBytes <= (opts.residentBytes ?? 1 << 30);
  const cache = new Map<string, GPUBuffer>();
  const streamed = new Map<"q" | "g", GPUBuffer>();
  const upload = async (side: "q" | "g", b: Block): Promise<GPUBuffer> => {
    const src = side === "q" || upper ? qsrc : gsrc;
    const key = `${src === qsrc ? "q" : "g"}${b.start}`;
    const hit = cache.get(key);
    if (hit) return hit;
    const raw = await src.read(b.start, b.count);
    if (raw.length !== b.count * E) {
      throw new Error(`pair scoring: the source gave ${raw.length} values for ${b.count} rows`);
    }
    let data: Float32Array | Uint16Array = raw;
    if (f16) {
      data = new Uint16Array(b.count * E4 * 4);
      for (let r = 0; r < b.count; r++) {
        for (let e = 0; e < E; e++) data[r * E4 * 4 + e] = floatToHalf(raw[r * E + e]);
      }
    } else if (E4 * 4 !== E) {
      data = new Float32Array(b.count * E4 * 4);
      for (let r = 0; r < b.count; r++) data.set(raw.subarray(r * E, (r + 1) * E), r * E4 * 4);
    }
    let buf: GPUBuffer;
    if (resident) {
      buf = take(b.count * rowBytes, `pair_score ${side} block`);
      cache.set(key, buf);
    } else {
      buf = streamed.get(side) ?? take(per * rowBytes, `pair_score ${side} block`);
      streamed.set(side, buf);
    }
    g.upload(buf, 0, data);
    return buf;
  };

  const rowTile = TR * WG_Y, colTile = TC * WG_X;
  const dispatch = (
    pass: 1 | 2,
    qb: Block,
    qbuf: GPUBuffer,
    gb: Block,
    gbuf: GPUBuffer,
    hist: GPUBuffer,
    histBytes: number,
    posCap: number,
    minKey: number,
  ) => {
    const wy = Math.ceil(qb.count / rowTile);
    const tiles = Math.ceil(gb.count / colTile);
    const colTiles = Math.max(
      1,
      Math.min(tiles, opts.colTiles ?? Math.ceil((wy * tiles) / 4096)),
    );
    g.dispatch(PAIR, {
      bindings: [
        range(qbuf, qb.count * rowBytes, vecBytes),
        range(gbuf, gb.count * rowBytes, vecBytes),
        range(labBuf, labelsAll.byteLength),
        range(hist, histBytes),
        range(posBuf, maxCap * 4),
        range(cntBuf, 4),
        range(tmapBuf, TOP_BINS * 4),
        range(pixBuf, maxCap * 8),
      ],
      params: [
        qb.count,
        gb.count,
        E4,
        qb.start,
        gb.start,
        qb.start,
        (upper ? 0 : nq) + gb.start,
        upper ? 1 : 0,
        pass,
        colTiles,
        posCap,
        minKey,
      ],
      workgroups: [Math.ceil(tiles / colTiles), wy],
      overrides: { WG_X, WG_Y },
      types: { T: f16 ? "f16" : "f32" },
      label: `pair_score pass ${pass}`,
    });
  };
  const pairsOf = (qb: Block, gb: Block) => {
    if (!upper) return qb.count * gb.count;
    // pairs i < j with i in qb, j in gb (global indices)
    let s = 0;
    const lo = gb.start, hi = gb.start + gb.count;
    for (let i = qb.start; i < qb.start + qb.count; i++) {
      s += Math.max(0, hi - Math.max(lo, i + 1));
    }
    return s;
  };
  const drain = async (buf: GPUBuffer, acc: Float64Array) => {
    const u = new Uint32Array(await g.read(buf, 0, acc.length * 4));
    for (let i = 0; i < acc.length; i++) acc[i] += u[i];
    enc().clearBuffer(buf, 0, acc.length * 4);
  };

  // Recomputes a few positive pairs of each query block on the host (float64) and compares:
  // a guard against a miscompiled or mis-tiled kernel (every score goes through the same GEMM).
  const spotCheck = async (scores: Float32Array, pix: Uint32Array) => {
    const n = scores.length;
    const m = Math.min(n, opts.spotChecks ?? 16);
    for (let t = 0; t < m; t++) {
      const idx = Math.floor(((t + 0.5) * n) / m);
      const gi = pix[2 * idx], gj = pix[2 * idx + 1];
      if (!(gi < nq && gj < ng && ql[gi] === gl[gj] && (!upper || gi < gj))) {
        throw new Error(
          `pair scoring: the GPU reported (${gi}, ${gj}) as a positive pair, which it is not ` +
            `(GPU error?)`,
        );
      }
      const a = await qsrc.read(gi, 1), b = await gsrc.read(gj, 1);
      let dot = 0, na = 0, nb = 0;
      for (let e = 0; e < E; e++) {
        const x = asGpu(a[e]), y = asGpu(b[e]);
        dot += x * y;
        na += x * x;
        nb += y * y;
      }
      if (!(Math.abs(dot - scores[idx]) <= 1e-5 * Math.sqrt(na * nb) + 1e-6)) {
        throw new Error(
          `pair scoring: the GPU scored pair (${gi}, ${gj}) ${scores[idx]}, the host ${dot} ` +
            `(GPU error?)`,
        );
      }
    }
  };

  const t0 = performance.now();
  const h1 = new Float64Array(TOP_BINS);
  const posScores = new Float32Array(positives);
  let posDone = 0;
  const pairList: [number, number][] = [];
  for (let a = 0; a < qBlocks.length; a++) {
    for (let b = upper ? a : 0; b < gBlocks.length; b++) pairList.push([a, b]);
  }
  const blockPairs = pairList.map(([a, b]) => pairsOf(qBlocks[a], gBlocks[b]));

  // runs one pass over all block pairs; returns nothing, fills the given accumulators
  const runPass = async (
    pass: 1 | 2,
    hist: GPUBuffer,
    acc: Float64Array,
    minKey: number,
  ) => {
    const tp = performance.now();
    let since = 0;
    let idx = 0;
    for (let a = 0; a < qBlocks.length; a++) {
      const qb = qBlocks[a];
      const qbuf = await upload("q", qb);
      for (let b = upper ? a : 0; b < gBlocks.length; b++, idx++) {
        const gb = gBlocks[b];
        const np = blockPairs[idx];
        if (np === 0) continue;
        if (since + np > U32_SAFE) {
          await drain(hist, acc);
          since = 0;
        }
        const gbuf = upper && a === b ? qbuf : await upload("g", gb);
        dispatch(pass, qb, qbuf, gb, gbuf, hist, acc.length * 4, posCaps[a], minKey);
        since += np;
        if (!resident) g.flush();
      }
      if (pass === 1) {
        const cnt = new Uint32Array(await g.read(cntBuf, 0, 4))[0];
        if (cnt !== posCaps[a]) {
          throw new Error(
            `pair scoring: query block at row ${qb.start} emitted ${cnt} positive scores, ` +
              `expected ${posCaps[a]} from the labels (GPU error?)`,
          );
        }
        if (cnt > 0) {
          const [sc, ix] = await Promise.all([
            g.read(posBuf, 0, cnt * 4),
            g.read(pixBuf, 0, cnt * 8),
          ]);
          const scores = new Float32Array(sc);
          await spotCheck(scores, new Uint32Array(ix));
          posScores.set(scores, posDone);
          posDone += cnt;
        }
        enc().clearBuffer(cntBuf, 0, 256);
      }
      opts.onProgress?.({
        pass,
        done: a + 1,
        total: qBlocks.length,
        seconds: (performance.now() - tp) / 1000,
      });
    }
    await drain(hist, acc);
  };

  try {
    await runPass(1, h1Buf, h1, 0);
    let counted = 0;
    for (const c of h1) counted += c;
    if (counted !== negatives) {
      throw new Error(
        `pair scoring: pass 1 counted ${counted} negatives, expected ${negatives} (GPU error?)`,
      );
    }
    // which top bins hold rank k+1 of each FAR
    const above = new Float64Array(TOP_BINS + 1); // above[b] = negatives in bins ≥ b
    for (let b = TOP_BINS - 1; b >= 0; b--) above[b] = above[b + 1] + h1[b];
    const plan = fars.map((far) => {
      const k = farRank(far, negatives);
      if (k >= negatives) return { far, k, bin: -1 };
      let bin = TOP_BINS - 1;
      while (bin > 0 && !(k < above[bin])) bin--; // rank k+1 lies in the first bin with > k
      return { far, k, bin };
    });
    const targets = [...new Set(plan.filter((p) => p.bin >= 0).map((p) => p.bin))];
    const h2 = new Float64Array(targets.length * LOW_BINS);
    if (targets.length > 0) {
      const tmap = new Int32Array(TOP_BINS).fill(-1);
      targets.forEach((b, s) => tmap[b] = s);
      g.upload(tmapBuf, 0, tmap);
      const h2Bytes = targets.length * LOW_BINS * 4;
      if (h2Bytes > g.maxBinding) {
        throw new Error(`pair scoring: ${targets.length} target bins exceed one binding`);
      }
      const h2Buf = take(h2Bytes, "pair_score pass-2 histogram");
      enc().clearBuffer(h2Buf, 0, h2Bytes);
      const minKey = Math.min(...targets) * LOW_BINS;
      await runPass(2, h2Buf, h2, minKey);
      targets.forEach((b, s) => {
        let sum = 0;
        for (let i = 0; i < LOW_BINS; i++) sum += h2[s * LOW_BINS + i];
        if (sum !== h1[b]) {
          throw new Error(
            `pair scoring: pass 2 counted ${sum} negatives in bin ${b}, pass 1 ${h1[b]}: ` +
              `the GPU's scores differ between passes`,
          );
        }
      });
    }
    const seconds = (performance.now() - t0) / 1000;
    const sortedPos = posScores.slice().sort();
    const results: FarResult[] = plan.map(({ far, k, bin }) => {
      let threshold = -Infinity, accepted = negatives;
      if (bin >= 0) {
        const s = targets.indexOf(bin);
        const r = k - above[bin + 1];
        let cum = 0, sub = LOW_BINS - 1;
        for (; sub >= 0; sub--) {
          const c = h2[s * LOW_BINS + sub];
          if (cum <= r && r < cum + c) break;
          cum += c;
        }
        threshold = keyScore(bin * LOW_BINS + sub);
        accepted = above[bin + 1] + cum;
      }
      const acceptedPositives = positives - upperBound(sortedPos, threshold);
      return {
        far,
        k,
        threshold,
        acceptedNegatives: accepted,
        acceptedPositives,
        tar: positives > 0 ? acceptedPositives / positives : NaN,
      };
    });
    const passes = targets.length > 0 ? 2 : 1;
    return {
      mode,
      pairs,
      positives,
      negatives,
      results,
      dim: E,
      twoPasses: passes === 2,
      seconds,
      gflops: (2 * E * pairs * passes) / seconds / 1e9,
    };
  } finally {
    for (const b of held) alloc.free(b);
  }
}

/** Number of values ≤ x in an ascending array (Float32Array sort puts NaN last). */
function upperBound(a: Float32Array, x: number): number {
  let lo = 0, hi = a.length;
  while (lo < hi) {
    const m = (lo + hi) >> 1;
    if (a[m] <= x) lo = m + 1;
    else hi = m;
  }
  return lo;
}
