/**
 * Fixtures of the ONNX / engine / eval tests: backbones with non-trivial BatchNorm statistics
 * (so that folding is exercised), tiny hand-built ONNX face models with one rule broken on
 * purpose, and a relative L2 error.
 *
 * @module
 */
import { createBackbone } from "../../src/nn/backbones/mod.ts";
import type { Module } from "../../src/nn/module.ts";
import { OnnxGraphBuilder } from "../../src/eval/onnx_builder.ts";

/** Deterministic uniform [0, 1) generator (mulberry32). */
export function uniform(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * A backbone in eval mode whose BatchNorm running statistics, affine parameters, PReLU
 * slopes and biases are random (a fresh network has mean 0, var 1, γ 1, β 0).
 */
export async function randomBackbone(name: string, seed = 1): Promise<Module> {
  const m = createBackbone(name, { seed });
  const sd = await m.stateDict();
  const r = uniform(seed * 7919 + 1);
  for (const [k, v] of sd) {
    if (v.dtype !== "float32" || v.shape.length !== 1) continue;
    const d = v.data as Float32Array;
    const frozen = k === "features.weight" || k === "head.3.weight"; // γ fixed at 1
    for (let i = 0; i < d.length; i++) {
      if (k.endsWith("running_var")) d[i] = 0.5 + r();
      else if (k.endsWith("running_mean") || k.endsWith("bias")) d[i] = 0.2 * (r() - 0.5);
      else if (k.endsWith("weight") && !frozen) d[i] = 0.5 + r() * 0.5;
    }
  }
  m.loadStateDict(sd);
  m.eval();
  return m;
}

/** ‖a − b‖ / ‖b‖ in double precision. */
export function relL2(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`lengths differ: ${a.length} vs ${b.length}`);
  let num = 0;
  let den = 0;
  for (let i = 0; i < a.length; i++) {
    num += (a[i] - b[i]) ** 2;
    den += b[i] ** 2;
  }
  return Math.sqrt(num / den);
}

/** How a tiny model breaks a rule. */
export interface TinyModelOptions {
  /** Input dims (default ["batch", 3, 112, 112]). */
  inputDims?: (number | string)[];
  /** Output width (default 16). */
  dim?: number;
  /** Also expose the flattened features as a second output. */
  twoOutputs?: boolean;
  /** Store the Gemm bias as float16 (with a Cast to float). */
  fp16Bias?: boolean;
  /** Start with `Sub` and `Mul` on the input (the model normalises raw pixels). */
  normalizes?: boolean;
}

/**
 * A tiny valid face model (10 nodes): conv 16×16/16 → PReLU → 1×1 convs with a residual Add →
 * BatchNorm → Flatten → Gemm → [N, dim]; options break one rule each.
 */
export function tinyModel(opts: TinyModelOptions = {}): Uint8Array {
  const r = uniform(42);
  const rnd = (n: number, s = 0.05) => Float32Array.from({ length: n }, () => s * (r() - 0.5));
  const b = new OnnxGraphBuilder();
  const dim = opts.dim ?? 16;
  let x = "input";
  if (opts.normalizes) {
    b.addFloat("mean", Float32Array.of(127.5), [1]);
    b.addFloat("scale", Float32Array.of(1 / 127.5), [1]);
    x = b.node("Sub", [x, "mean"]);
    x = b.node("Mul", [x, "scale"]);
  }
  const conv = (w: string, c: number, k: number, s: number) =>
    b.node("Conv", [x, b.addFloat(w, rnd(4 * c * k * k), [4, c, k, k])], {
      kernel_shape: [k, k],
      strides: [s, s],
    });
  x = conv("c1", 3, 16, 16);
  x = b.node("PRelu", [x, b.addFloat("p1", Float32Array.of(0.25, 0.25, 0.25, 0.25), [4, 1, 1])]);
  const skip = x;
  x = conv("c2", 4, 1, 1);
  x = b.node("PRelu", [x, b.addFloat("p2", Float32Array.of(0.1, 0.2, 0.3, 0.4), [4, 1, 1])]);
  x = conv("c3", 4, 1, 1);
  x = b.node("Add", [x, skip]);
  const ones = Float32Array.of(1, 1, 1, 1);
  x = b.node("BatchNormalization", [
    x,
    b.addFloat("g", ones, [4]),
    b.addFloat("be", new Float32Array(4), [4]),
    b.addFloat("mu", new Float32Array(4), [4]),
    b.addFloat("var", ones, [4]),
  ], { epsilon: { float: 1e-5 } });
  const flat = b.node("Flatten", [x], { axis: 1 });
  let bias: string;
  if (opts.fp16Bias) {
    // float16 zeros are all-zero bytes
    b.addRaw("bias16", 10, new Uint8Array(2 * dim), [dim]);
    bias = b.node("Cast", ["bias16"], { to: 1 });
  } else bias = b.addFloat("bias", rnd(dim), [dim]);
  b.node(
    "Gemm",
    [flat, b.addFloat("fc", rnd(dim * 196), [dim, 196]), bias],
    { transB: 1 },
    "embedding",
  );
  const outputs = [{ name: "embedding", dims: ["batch", dim] as (number | string)[] }];
  if (opts.twoOutputs) outputs.push({ name: flat, dims: ["batch", 196] });
  return b.toBytes([{ name: "input", dims: opts.inputDims ?? ["batch", 3, 112, 112] }], outputs);
}
