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
}

function need(label: string, what: string, r: BufferRange, elements: number) {
  const have = r.byteLength / r.elementBytes;
  if (have < elements) {
    throw new Error(`${label}: ${what} holds ${have} elements, needs ${elements}`);
  }
}

/** Records one GEMM dispatch (no autograd). */
export function gemm(s: GemmSpec): void {
  const label = s.label ?? "gemm";
  const { M, N, K } = s;
  const batch = s.batch ?? 1;
  const lda = s.lda ?? (s.transA ? M : K);
  const ldb = s.ldb ?? (s.transB ? K : N);
  const ldc = s.ldc ?? N;
  const sa = s.strideA ?? M * K;
  const sb = s.strideB ?? K * N;
  const sc = s.strideC ?? M * ldc;
  const rowsA = s.transA ? K : M, rowsB = s.transB ? N : K;
  need(label, "A", s.a, sa * (batch - 1) + (rowsA - 1) * lda + (s.transA ? M : K));
  need(label, "B", s.b, sb * (batch - 1) + (rowsB - 1) * ldb + (s.transB ? K : N));
  need(label, "C", s.c, sc * (batch - 1) + (M - 1) * ldc + N);
  if (s.bias) need(label, "bias", s.bias, N);
  if (M === 0 || N === 0 || batch === 0) return;
  const g = gpu();
  g.dispatch(GEMM, {
    label,
    bindings: [s.a, s.b, s.bias ?? g.dummy, s.c],
    params: [M, N, K, lda, ldb, ldc, sa, sb, sc, f32(s.alpha ?? 1), f32(s.beta ?? 0)],
    workgroups: [Math.ceil(N / 32), Math.ceil(M / 32), batch],
    overrides: {
      TRANS_A: s.transA ? 1 : 0,
      TRANS_B: s.transB ? 1 : 0,
      HAS_BIAS: s.bias ? 1 : 0,
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
