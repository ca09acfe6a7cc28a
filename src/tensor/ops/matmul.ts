/**
 * Matrix multiplication with either operand transposed, optional bias and batching, its
 * gradients, and `linear` (PyTorch's `x · Wᵀ + b`). `gemm()` is the raw kernel call that
 * chunked callers (Partial FC) use to write into column ranges of a larger output.
 *
 * @module
 */
import gemmSrc from "../../../kernels/gemm.wgsl" with { type: "text" };
import { gpu } from "../../gpu/device.ts";
import { type BufferRange, f32, kernel, type ScalarType } from "../../gpu/kernel.ts";
import { record } from "../autograd.ts";
import { floatType } from "../launch.ts";
import { fmtShape, Tensor } from "../tensor.ts";
import { sumAxis } from "./reduce.ts";
import { reshape } from "./shape.ts";

const GEMM = kernel("gemm", gemmSrc);

/** A raw GEMM: `C = alpha · op(A) · op(B) + bias + beta · C`, over `batch` matrices. */
export interface GemmSpec {
  /** Operand A: M×K row-major (K×M when transA), leading dimension `lda`. */
  a: BufferRange;
  /** Operand B: K×N row-major (N×K when transB), leading dimension `ldb`. */
  b: BufferRange;
  /** Output C: M×N row-major, leading dimension `ldc`. */
  c: BufferRange;
  /** Optional bias of N elements added to every row. */
  bias?: BufferRange;
  /** Rows of C. */
  M: number;
  /** Columns of C. */
  N: number;
  /** Inner dimension. */
  K: number;
  /** Leading dimensions (elements between rows as stored); default dense. */
  lda?: number;
  /** See `lda`. */
  ldb?: number;
  /** See `lda`. */
  ldc?: number;
  /** Number of matrices; default 1. */
  batch?: number;
  /** Elements between consecutive matrices of A (0 broadcasts); default dense. */
  strideA?: number;
  /** See `strideA`. */
  strideB?: number;
  /** See `strideA`. */
  strideC?: number;
  /** A is stored transposed. */
  transA?: boolean;
  /** B is stored transposed. */
  transB?: boolean;
  /** Scale of the product; default 1. */
  alpha?: number;
  /** Scale of C's old contents; default 0 (C is not read). */
  beta?: number;
  /** Element type of A, B, C and bias. */
  dtype: ScalarType;
  /** Name for errors and the profiler. */
  label?: string;
  /**
   * Largest byte span one binding may cover; default the adapter's
   * `maxStorageBufferBindingSize`. Larger operands are split into chunks (over the batch, over
   * rows of B when transB, over rows of A and C otherwise); tests lower it to force chunks.
   */
  maxBindingBytes?: number;
}

function need(label: string, what: string, r: BufferRange, elements: number) {
  const have = r.byteLength / r.elementBytes;
  if (have < elements) {
    throw new Error(`${label}: ${what} holds ${have} elements, needs ${elements}`);
  }
}

/** Registers per invocation: TR rows × TC columns of C (see kernels/gemm_gen.ts). */
const TR = 16, TC = 8;
/** Invocations per workgroup: 8 SIMD vectors of 8 lanes on lavapipe. */
const WG = 64;

/** Workgroup shape (x over columns, y over rows) that wastes the fewest clamped rows/columns. */
export function gemmWorkgroup(M: number, N: number): [number, number] {
  let best: [number, number] = [8, 8];
  let bestCost = Infinity;
  for (let wy = 1; wy <= WG; wy *= 2) {
    const wx = WG / wy;
    const rows = Math.ceil(M / (TR * wy)) * TR * wy, cols = Math.ceil(N / (TC * wx)) * TC * wx;
    // Work done (incl. waste), then a mild preference for square workgroup tiles.
    const cost = rows * cols * (1 + 0.01 * Math.abs(Math.log2((TR * wy) / (TC * wx))));
    if (cost < bestCost) [best, bestCost] = [[wx, wy], cost];
  }
  return best;
}

/** A range widened to a whole number of 16-byte vec4s (the kernel binds A and B as vec4s). */
function vec4Range(label: string, what: string, r: BufferRange): BufferRange {
  const end = Math.max(
    Math.ceil((r.byteOffset + r.byteLength) / 16) * 16,
    Math.floor(r.byteOffset / 16) * 16 + 16, // a binding holds at least one vec4
  );
  if (end > r.buffer.size) {
    throw new Error(
      `${label}: ${what}'s buffer (${r.buffer.size} bytes) must extend to a multiple of 16 bytes`,
    );
  }
  return { ...bufferRangeOf(r), byteLength: end - r.byteOffset };
}

function bufferRangeOf(r: BufferRange): BufferRange {
  return {
    buffer: r.buffer,
    byteOffset: r.byteOffset,
    byteLength: r.byteLength,
    elementBytes: r.elementBytes,
  };
}

/** A sub-range starting `elements` in, `length` elements long. */
function sub(r: BufferRange, elements: number, length: number): BufferRange {
  return {
    buffer: r.buffer,
    byteOffset: r.byteOffset + elements * r.elementBytes,
    byteLength: length * r.elementBytes,
    elementBytes: r.elementBytes,
  };
}

/** Whether a vec4 view of `r` starting at element offsets that are multiples of 4 is aligned. */
function vecOk(r: BufferRange, ld: number, stride: number, batch: number): boolean {
  return r.byteOffset % (4 * r.elementBytes) === 0 && ld % 4 === 0 &&
    (batch === 1 || stride % 4 === 0);
}

/**
 * Records one batched GEMM (no autograd): `C = alpha · op(A) · op(B) + bias + beta · C`.
 * Operands larger than one storage binding are processed in chunks (see `maxBindingBytes`).
 * @throws when a range is too small for the shapes, naming the op and the operand
 */
export function gemm(s: GemmSpec): void {
  const label = s.label ?? "gemm";
  const { M, N, K } = s;
  for (const [k, v] of [["M", M], ["N", N], ["K", K]] as const) {
    if (!Number.isInteger(v) || v < 0) throw new Error(`${label}: ${k} = ${v} is not a size`);
  }
  const batch = s.batch ?? 1;
  const lda = s.lda ?? (s.transA ? M : K);
  const ldb = s.ldb ?? (s.transB ? K : N);
  const ldc = s.ldc ?? N;
  const sa = s.strideA ?? M * K;
  const sb = s.strideB ?? K * N;
  const sc = s.strideC ?? M * ldc;
  const rowsA = s.transA ? K : M, rowsB = s.transB ? N : K;
  if (lda < (s.transA ? M : K) || ldb < (s.transB ? K : N) || ldc < N) {
    throw new Error(`${label}: leading dimensions lda ${lda}, ldb ${ldb}, ldc ${ldc} too small`);
  }
  if (M === 0 || N === 0 || batch === 0) return;
  const spanA = sa * (batch - 1) + (rowsA - 1) * lda + (s.transA ? M : K);
  const spanB = sb * (batch - 1) + (rowsB - 1) * ldb + (s.transB ? K : N);
  const spanC = sc * (batch - 1) + (M - 1) * ldc + N;
  if (K > 0) {
    need(label, "A", s.a, spanA);
    need(label, "B", s.b, spanB);
  }
  need(label, "C", s.c, spanC);
  if (s.bias) need(label, "bias", s.bias, N);
  for (const [what, r] of [["A", s.a], ["B", s.b], ["C", s.c], ["bias", s.bias]] as const) {
    if (r && r.elementBytes !== (s.dtype === "f16" ? 2 : 4)) {
      throw new Error(`${label}: ${what} has ${r.elementBytes}-byte elements, dtype is ${s.dtype}`);
    }
  }
  const g = gpu();
  const limit = Math.min(s.maxBindingBytes ?? g.maxBinding, g.maxBinding) - 256;
  const eb = s.c.elementBytes;
  // Too large for one binding: split, and recurse on the pieces.
  const tooBig = (elements: number) => (elements + 8) * eb > limit;
  if (tooBig(spanA) || tooBig(spanB) || tooBig(spanC)) {
    const base = { ...s, lda, ldb, ldc, strideA: sa, strideB: sb, strideC: sc };
    if (batch > 1) {
      const half = Math.ceil(batch / 2);
      gemm({ ...base, batch: half });
      gemm({
        ...base,
        batch: batch - half,
        a: sub(s.a, half * sa, s.a.byteLength / eb - half * sa),
        b: sub(s.b, half * sb, s.b.byteLength / eb - half * sb),
        c: sub(s.c, half * sc, s.c.byteLength / eb - half * sc),
      });
      return;
    }
    if (tooBig(spanB) && s.transB && N > 1) {
      // Rows of B (columns of C): the Partial FC layout, W [classes, dim] in row chunks.
      const rows = Math.max(1, Math.min(N - 1, Math.floor(limit / eb / ldb) - 1));
      for (let n0 = 0; n0 < N; n0 += rows) {
        const n = Math.min(rows, N - n0);
        gemm({
          ...base,
          N: n,
          b: sub(s.b, n0 * ldb, (n - 1) * ldb + K),
          c: sub(s.c, n0, (M - 1) * ldc + n),
          bias: s.bias && sub(s.bias, n0, n),
        });
      }
      return;
    }
    if ((tooBig(spanC) || (tooBig(spanA) && !s.transA)) && M > 1) {
      const rows = Math.max(1, Math.min(M - 1, Math.floor(limit / eb / Math.max(ldc, lda)) - 1));
      for (let m0 = 0; m0 < M; m0 += rows) {
        const m = Math.min(rows, M - m0);
        gemm({
          ...base,
          M: m,
          a: s.transA ? sub(s.a, m0, (K - 1) * lda + m) : sub(s.a, m0 * lda, (m - 1) * lda + K),
          c: sub(s.c, m0 * ldc, (m - 1) * ldc + N),
        });
      }
      return;
    }
    throw new Error(
      `${label}: an operand of ${batch}×${M}×${N}×${K} (transA ${!!s.transA}, transB ` +
        `${!!s.transB}) spans more than the ${limit + 256}-byte storage binding limit and ` +
        `cannot be split along this layout`,
    );
  }
  const [wx, wy] = gemmWorkgroup(M, N);
  g.dispatch(GEMM, {
    label,
    bindings: [
      vec4Range(label, "A", s.a),
      vec4Range(label, "B", s.b),
      s.bias ?? g.dummy,
      s.c,
    ],
    params: [M, N, K, lda, ldb, ldc, sa, sb, sc, f32(s.alpha ?? 1), f32(s.beta ?? 0)],
    workgroups: [Math.ceil(N / (TC * wx)), Math.ceil(M / (TR * wy)), batch],
    overrides: {
      TRANS_A: s.transA ? 1 : 0,
      TRANS_B: s.transB ? 1 : 0,
      HAS_BIAS: s.bias ? 1 : 0,
      VEC_A: vecOk(s.a, lda, sa, batch) ? 1 : 0,
      VEC_B: vecOk(s.b, ldb, sb, batch) ? 1 : 0,
      WG_X: wx,
      WG_Y: wy,
    },
    types: { T: s.dtype },
  });
}

/** Options of `matmul`. */
export interface MatmulOptions {
  /** Use Aᵀ (A stored K×M). */
  transA?: boolean;
  /** Use Bᵀ (B stored N×K). */
  transB?: boolean;
  /** Bias of N elements added to every output row. */
  bias?: Tensor;
  /** Scale of the product. */
  alpha?: number;
}

/**
 * op(A) · op(B) (+ bias). A and B are 2-D, or both 3-D with the same batch size; a 3-D A with
 * a 2-D B (not transA) multiplies every batch matrix by B.
 */
export function matmul(a: Tensor, b: Tensor, opts: MatmulOptions = {}): Tensor {
  const { transA = false, transB = false, bias, alpha = 1 } = opts;
  const where = `matmul ${fmtShape(a.shape)}${transA ? "ᵀ" : ""} · ${fmtShape(b.shape)}${
    transB ? "ᵀ" : ""
  }`;
  const T = floatType("matmul", a);
  if (b.dtype !== a.dtype || (bias && bias.dtype !== a.dtype)) {
    throw new Error(
      `${where}: dtypes differ (${a.dtype}, ${b.dtype}${bias ? ", " + bias.dtype : ""})`,
    );
  }
  if (a.rank === 3 && b.rank === 2 && !transA) {
    const [B, M, K] = a.shape;
    const flat = matmul(reshape(a, [B * M, K]), b, opts);
    return reshape(flat, [B, M, flat.shape[1]]);
  }
  if (!((a.rank === 2 && b.rank === 2) || (a.rank === 3 && b.rank === 3))) {
    throw new Error(`${where}: operands must both be 2-D or both 3-D (or 3-D · 2-D)`);
  }
  const batched = a.rank === 3;
  const batch = batched ? a.shape[0] : 1;
  if (batched && b.shape[0] !== batch) {
    throw new Error(`${where}: batch sizes ${a.shape[0]} and ${b.shape[0]} differ`);
  }
  const [ar, ac] = a.shape.slice(-2);
  const [br, bc] = b.shape.slice(-2);
  const M = transA ? ac : ar, K = transA ? ar : ac;
  const Kb = transB ? bc : br, N = transB ? br : bc;
  if (K !== Kb) throw new Error(`${where}: inner dimensions ${K} and ${Kb} differ`);
  if (bias && (bias.rank !== 1 || bias.shape[0] !== N)) {
    throw new Error(`${where}: bias ${fmtShape(bias.shape)} must be [${N}]`);
  }
  const out = Tensor.empty(batched ? [batch, M, N] : [M, N], a.dtype, "matmul");
  gemm({ a, b, c: out, bias, M, N, K, batch, transA, transB, alpha, dtype: T, label: "matmul" });
  const inputs = bias ? [a, b, bias] : [a, b];
  return record("matmul", inputs, out, (g, [as, bs]) => {
    let ga: Tensor, gb: Tensor;
    if (!transA && !transB) {
      ga = matmul(g, bs, { transB: true, alpha });
      gb = matmul(as, g, { transA: true, alpha });
    } else if (!transA && transB) {
      ga = matmul(g, bs, { alpha });
      gb = matmul(g, as, { transA: true, alpha });
    } else if (transA && !transB) {
      ga = matmul(bs, g, { transB: true, alpha });
      gb = matmul(as, g, { alpha });
    } else {
      ga = matmul(bs, g, { transA: true, transB: true, alpha });
      gb = matmul(g, as, { transA: true, transB: true, alpha });
    }
    const grads: (Tensor | null)[] = [ga, gb];
    if (bias) grads.push(sumAxis(g.view([g.size / N, N]), 0));
    return grads;
  }, [a, b]);
}

/** PyTorch's linear: x · Wᵀ + b, with W stored [out, in]. */
export function linear(x: Tensor, weight: Tensor, bias?: Tensor): Tensor {
  return matmul(x, weight, { transB: true, bias });
}
