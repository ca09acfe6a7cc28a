/**
 * Float64 CPU references for the conv2d, BatchNorm and PReLU tests, and the helpers they
 * share (seeded random data, relative L2 error, poisoned outputs).
 *
 * @module
 */
import { gpu } from "../../src/gpu/device.ts";
import { Tensor } from "../../src/tensor/tensor.ts";
import { roundHalf } from "../../src/tensor/dtype.ts";

/** A seeded uniform generator in [-1, 1) (mulberry32). */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (((t ^ (t >>> 14)) >>> 0) / 4294967296) * 2 - 1;
  };
}

let seedCounter = Date.now() % 100000;

/** `n` fresh random values in [-scale, scale) (a new seed each call). */
export function randn(n: number, scale = 1): Float64Array {
  const r = rng(seedCounter++);
  const a = new Float64Array(n);
  for (let i = 0; i < n; i++) a[i] = r() * scale;
  return a;
}

/** ‖a − b‖ / ‖b‖; NaN anywhere gives Infinity. */
export function relErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`relErr: lengths ${a.length} and ${b.length}`);
  let num = 0, den = 0;
  for (let i = 0; i < a.length; i++) {
    if (!Number.isFinite(a[i])) return Infinity;
    num += (a[i] - b[i]) ** 2;
    den += b[i] ** 2;
  }
  return Math.sqrt(num / Math.max(den, 1e-300));
}

/** Overwrites a tensor with NaN (so unwritten outputs show), in order with recorded work. */
export function poison(t: Tensor): void {
  const bytes = t.byteLength;
  const data = new Uint8Array(Math.ceil(bytes / 4) * 4).fill(0xff);
  gpu().upload(t.buffer, t.byteOffset, data.subarray(0, bytes));
}

/** Conv geometry for the references. */
export interface RefConv {
  N: number;
  C: number;
  H: number;
  W: number;
  K: number;
  KH: number;
  KW: number;
  stride: number;
  padding: number;
  groups: number;
}

/** Output size of a reference conv. */
export function refOut(g: RefConv): [number, number] {
  return [
    Math.floor((g.H + 2 * g.padding - g.KH) / g.stride) + 1,
    Math.floor((g.W + 2 * g.padding - g.KW) / g.stride) + 1,
  ];
}

/** Calls `f(n, oc, oy, ox, ic(global), icl, ky, kx, xIndex, wIndex, yIndex)` for every tap. */
function eachTap(
  g: RefConv,
  f: (xi: number, wi: number, yi: number) => void,
): void {
  const [OH, OW] = refOut(g);
  const Cig = g.C / g.groups, Cog = g.K / g.groups;
  for (let n = 0; n < g.N; n++) {
    for (let oc = 0; oc < g.K; oc++) {
      const grp = Math.floor(oc / Cog);
      for (let oy = 0; oy < OH; oy++) {
        for (let ox = 0; ox < OW; ox++) {
          const yi = ((n * g.K + oc) * OH + oy) * OW + ox;
          for (let icl = 0; icl < Cig; icl++) {
            const ic = grp * Cig + icl;
            for (let ky = 0; ky < g.KH; ky++) {
              const iy = oy * g.stride - g.padding + ky;
              if (iy < 0 || iy >= g.H) continue;
              for (let kx = 0; kx < g.KW; kx++) {
                const ix = ox * g.stride - g.padding + kx;
                if (ix < 0 || ix >= g.W) continue;
                f(
                  ((n * g.C + ic) * g.H + iy) * g.W + ix,
                  ((oc * Cig + icl) * g.KH + ky) * g.KW + kx,
                  yi,
                );
              }
            }
          }
        }
      }
    }
  }
}

/** Reference forward conv (float64). */
export function refConv(
  g: RefConv,
  x: ArrayLike<number>,
  w: ArrayLike<number>,
  bias?: ArrayLike<number>,
): Float64Array {
  const [OH, OW] = refOut(g);
  const y = new Float64Array(g.N * g.K * OH * OW);
  if (bias) {
    for (let i = 0; i < y.length; i++) y[i] = bias[Math.floor(i / (OH * OW)) % g.K];
  }
  eachTap(g, (xi, wi, yi) => y[yi] += x[xi] * w[wi]);
  return y;
}

/** Reference gradients of a conv (float64): dx, dw, db. */
export function refConvGrad(
  g: RefConv,
  x: ArrayLike<number>,
  w: ArrayLike<number>,
  dy: ArrayLike<number>,
): { dx: Float64Array; dw: Float64Array; db: Float64Array } {
  const [OH, OW] = refOut(g);
  const dx = new Float64Array(x.length);
  const dw = new Float64Array(w.length);
  const db = new Float64Array(g.K);
  eachTap(g, (xi, wi, yi) => {
    dx[xi] += dy[yi] * w[wi];
    dw[wi] += dy[yi] * x[xi];
  });
  for (let i = 0; i < dy.length; i++) db[Math.floor(i / (OH * OW)) % g.K] += dy[i];
  return { dx, dw, db };
}

/** Reference BatchNorm forward (float64): y, batch mean and biased variance per channel. */
export function refBatchNorm(
  x: ArrayLike<number>,
  shape: readonly number[],
  weight: ArrayLike<number> | null,
  bias: ArrayLike<number> | null,
  mean: ArrayLike<number> | null,
  variance: ArrayLike<number> | null,
  eps: number,
): { y: Float64Array; mean: Float64Array; var: Float64Array } {
  const [N, C] = shape;
  const HW = shape.length === 4 ? shape[2] * shape[3] : 1;
  const M = N * HW;
  const m = new Float64Array(C), v = new Float64Array(C);
  for (let c = 0; c < C; c++) {
    if (mean && variance) {
      m[c] = mean[c];
      v[c] = variance[c];
      continue;
    }
    let s = 0;
    for (let n = 0; n < N; n++) for (let i = 0; i < HW; i++) s += x[(n * C + c) * HW + i];
    m[c] = s / M;
    let q = 0;
    for (let n = 0; n < N; n++) {
      for (let i = 0; i < HW; i++) q += (x[(n * C + c) * HW + i] - m[c]) ** 2;
    }
    v[c] = q / M;
  }
  const y = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) {
    const c = Math.floor(i / HW) % C;
    y[i] = (x[i] - m[c]) / Math.sqrt(v[c] + eps) * (weight ? weight[c] : 1) +
      (bias ? bias[c] : 0);
  }
  return { y, mean: m, var: v };
}

/** Reference PReLU (float64): one slope per channel (dim 1). */
export function refPrelu(
  x: ArrayLike<number>,
  shape: readonly number[],
  slope: ArrayLike<number>,
): Float64Array {
  const C = shape[1];
  const HW = shape.length === 4 ? shape[2] * shape[3] : 1;
  const y = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) {
    const c = Math.floor(i / HW) % C;
    y[i] = x[i] > 0 ? x[i] : slope[c] * x[i];
  }
  return y;
}

/** Uploads float64 data as an f32 (or f16) tensor. */
export function up(
  data: ArrayLike<number>,
  shape: readonly number[],
  dtype: "f32" | "f16" = "f32",
): Tensor {
  return Tensor.fromArray(Float32Array.from(data), shape, dtype);
}

/** The values an f32 (f16) upload of `data` actually holds, as float64. */
export function rounded(data: ArrayLike<number>, dtype: "f32" | "f16" = "f32"): Float64Array {
  const f = Float64Array.from(Float32Array.from(data));
  return dtype === "f32" ? f : f.map(roundHalf);
}

/**
 * Fills `count` pooled buffers of the size class of `elements` × `dtype` with NaN and returns
 * them to the allocator, so the next outputs of that size the ops allocate start poisoned.
 */
export function poisonPool(elements: number, dtype: "f32" | "f16" = "f32", count = 4): void {
  const ts = Array.from({ length: count }, () => Tensor.empty([elements], dtype, "poison"));
  for (const t of ts) poison(t);
  for (const t of ts) t.dispose();
}
