/**
 * ONNX export of a backbone in eval mode: IResNet (r18 … r2060), MobileFaceNet and the toy net
 * become Conv / BatchNormalization / PRelu / Add / Flatten / Gemm nodes with fp32
 * initialisers named after the PyTorch state-dict keys. Input `input` `[batch, 3, 112, 112]`
 * float32 (normalised as the reference, `(x − 127.5) / 127.5`), one output `embedding`
 * `[batch, E]`. By default each BatchNorm that directly follows a Conv or Gemm is folded into
 * it (γ/√(σ²+ε) scales the weight, the shift becomes the bias), as PyTorch's exporter does in
 * eval mode; BatchNorms after an Add (IResNet's pre-activation `bn1`) stay BatchNormalization.
 *
 * The graph is written per module class (a rule per layer and per block), not traced, so a
 * module this file does not know is an error naming it.
 *
 * @module
 */
import { initGpu } from "../gpu/device.ts";
import { writeFileAtomically } from "../io/atomic.ts";
import type { HostTensor } from "../io/host_tensor.ts";
import { toFloat32 } from "../io/host_tensor.ts";
import { IBasicBlock, IResNet, MobileFaceNet, ToyNet } from "../nn/backbones/mod.ts";
import { createBackbone } from "../nn/backbones/mod.ts";
import { BatchNorm, Conv2d, Dropout, Flatten, Linear, PReLU, Sequential } from "../nn/layers.ts";
import type { Module } from "../nn/module.ts";
import { readWeights } from "../nn/weights.ts";
import { checkpointLoadError, requireFile } from "./load_errors.ts";
import { type BuiltNode, OnnxGraphBuilder } from "./onnx_builder.ts";

/** Options of {@link exportOnnx}. */
export interface ExportOptions {
  /** Default-domain opset (default 17; 13 … 21 accepted). */
  opset?: number;
  /** Fold BatchNorm into a preceding Conv/Gemm (default true). */
  foldBatchNorm?: boolean;
  /** Input name (default `input`). */
  inputName?: string;
  /** Output name (default `embedding`). */
  outputName?: string;
  /** Network name, recorded in the model's metadata. */
  network?: string;
}

/** What {@link exportOnnx} produced. */
export interface ExportedModel {
  /** The serialised ModelProto. */
  bytes: Uint8Array;
  /** Embedding size E of the output. */
  embeddingSize: number;
  /** Node count by operator type. */
  ops: Record<string, number>;
  /** Number of initialisers and their total element count. */
  initialisers: { count: number; elements: number };
}

/** The opsets the exporter accepts. */
export const EXPORT_OPSETS = { min: 13, max: 21, default: 17 } as const;

interface Value {
  name: string;
  rank: number;
  channels: number;
}

interface Ctx {
  b: OnnxGraphBuilder;
  sd: Map<string, HostTensor>;
}

function weight(ctx: Ctx, key: string, dims?: number[]): string {
  const h = ctx.sd.get(key);
  if (!h) throw new Error(`export: the state dict has no ${key}`);
  if (!ctx.b.inits.has(key)) ctx.b.addFloat(key, toFloat32(h), dims ?? [...h.shape]);
  return key;
}

/** Emits the graph of module `m` (state-dict prefix `p`) applied to `x`. */
function emit(ctx: Ctx, m: Module, p: string, x: Value): Value {
  const { b } = ctx;
  if (m instanceof Conv2d) {
    const ins = [x.name, weight(ctx, `${p}weight`)];
    if (m.bias) ins.push(weight(ctx, `${p}bias`));
    const k = m.kernel, s = m.stride, q = m.padding;
    const y = b.node("Conv", ins, {
      kernel_shape: [k, k],
      strides: [s, s],
      pads: [q, q, q, q],
      dilations: [1, 1],
      group: m.groups,
    });
    return { name: y, rank: 4, channels: m.outChannels };
  }
  if (m instanceof BatchNorm) {
    const y = b.node(
      "BatchNormalization",
      [
        x.name,
        weight(ctx, `${p}weight`),
        weight(ctx, `${p}bias`),
        weight(ctx, `${p}running_mean`),
        weight(ctx, `${p}running_var`),
      ],
      { epsilon: { float: m.eps } },
    );
    return { ...x, name: y };
  }
  if (m instanceof PReLU) {
    const c = m.weight.shape[0];
    // the slope broadcasts over [N, C, H, W] only when shaped [C, 1, 1]
    const dims = x.rank === 4 ? [c, 1, 1] : [c];
    const key = `${p}weight`;
    const h = ctx.sd.get(key);
    if (!h) throw new Error(`export: the state dict has no ${key}`);
    b.addFloat(key, toFloat32(h), dims);
    return { ...x, name: b.node("PRelu", [x.name, key]) };
  }
  if (m instanceof Linear) {
    const ins = [x.name, weight(ctx, `${p}weight`)];
    if (m.bias) ins.push(weight(ctx, `${p}bias`));
    const y = b.node("Gemm", ins, { transB: 1 });
    return { name: y, rank: 2, channels: m.weight.shape[0] };
  }
  if (m instanceof Flatten) {
    return { name: b.node("Flatten", [x.name], { axis: 1 }), rank: 2, channels: -1 };
  }
  if (m instanceof Dropout) return x; // identity in eval mode
  if (m instanceof IBasicBlock) {
    const kids = new Map(m.children());
    let y = x;
    for (const n of ["bn1", "conv1", "bn2", "prelu", "conv2", "bn3"]) {
      y = emit(ctx, kids.get(n)!, `${p}${n}.`, y);
    }
    const down = kids.get("downsample");
    const id = down ? emit(ctx, down, `${p}downsample.`, x) : x;
    return { ...y, name: b.node("Add", [y.name, id.name]) };
  }
  if (m instanceof IResNet) {
    let y = x;
    for (const [n, c] of m.children()) {
      if (n === "fc") y = emit(ctx, new Flatten(), "", y);
      y = emit(ctx, c, `${p}${n}.`, y);
    }
    return y;
  }
  if (m instanceof Sequential || m instanceof MobileFaceNet || m instanceof ToyNet) {
    let y = x;
    for (const [n, c] of m.children()) y = emit(ctx, c, `${p}${n}.`, y);
    return y;
  }
  // MobileFaceNet's blocks: one child `layers`, optionally added to their input
  const kids = m.children();
  const residual = (m as unknown as { residual?: unknown }).residual;
  if (kids.length === 1 && kids[0][0] === "layers" && typeof residual === "boolean") {
    const y = emit(ctx, kids[0][1], `${p}layers.`, x);
    return residual ? { ...y, name: b.node("Add", [x.name, y.name]) } : y;
  }
  throw new Error(
    `export: no ONNX rule for module ${p.replace(/\.$/, "") || "<root>"} (${m.constructor.name})`,
  );
}

function initFloats(b: OnnxGraphBuilder, name: string): Float32Array {
  const t = b.inits.get(name)!;
  return new Float32Array(t.raw.slice().buffer);
}

/**
 * Folds each BatchNormalization whose input comes from a Conv or Gemm (transB = 1) read by
 * nothing else into that node's weight and bias, computed in double precision.
 */
function foldBatchNorms(b: OnnxGraphBuilder): void {
  const producer = new Map<string, BuiltNode>();
  for (const n of b.nodes) for (const o of n.outputs) producer.set(o, n);
  const consumers = b.consumers();
  const drop = new Set<BuiltNode>();
  for (const bn of b.nodes) {
    if (bn.opType !== "BatchNormalization") continue;
    const p = producer.get(bn.inputs[0]);
    if (!p || (p.opType !== "Conv" && p.opType !== "Gemm")) continue;
    if ((consumers.get(p.outputs[0]) ?? []).length !== 1) continue;
    if (p.opType === "Gemm" && p.attrs.transB !== 1) continue;
    const [gamma, beta, mean, varr] = bn.inputs.slice(1).map((k) => initFloats(b, k));
    const eps = (bn.attrs.epsilon as { float: number }).float;
    const w = initFloats(b, p.inputs[1]);
    const out = gamma.length;
    const per = w.length / out;
    const bias = p.inputs[2] ? initFloats(b, p.inputs[2]) : new Float32Array(out);
    const nw = new Float32Array(w.length);
    const nb = new Float32Array(out);
    for (let o = 0; o < out; o++) {
      const s = gamma[o] / Math.sqrt(varr[o] + eps);
      for (let i = 0; i < per; i++) nw[o * per + i] = w[o * per + i] * s;
      nb[o] = (bias[o] - mean[o]) * s + beta[o];
    }
    const wName = p.inputs[1];
    const base = wName.replace(/\.weight$/, "");
    const dims = b.inits.get(wName)!.dims;
    p.inputs[1] = b.addFloat(`${wName}+${bn.inputs[1].replace(/\.weight$/, "")}`, nw, dims);
    p.inputs[2] = b.addFloat(`${base}.bias+${bn.inputs[1].replace(/\.weight$/, "")}`, nb, [out]);
    p.outputs = bn.outputs;
    drop.add(bn);
  }
  b.nodes = b.nodes.filter((n) => !drop.has(n));
  b.pruneInitialisers();
}

/**
 * Exports `model` (its current weights, eval-mode semantics) as ONNX bytes. The state dict is
 * read back from the GPU once.
 */
export async function exportOnnx(model: Module, opts: ExportOptions = {}): Promise<ExportedModel> {
  const opset = opts.opset ?? EXPORT_OPSETS.default;
  if (!Number.isInteger(opset) || opset < EXPORT_OPSETS.min || opset > EXPORT_OPSETS.max) {
    throw new Error(
      `export: opset ${opset} is not supported (${EXPORT_OPSETS.min} … ${EXPORT_OPSETS.max})`,
    );
  }
  const inputName = opts.inputName ?? "input";
  const outputName = opts.outputName ?? "embedding";
  const sd = await model.stateDict();
  const b = new OnnxGraphBuilder();
  const y = emit({ b, sd }, model, "", { name: inputName, rank: 4, channels: 3 });
  if (y.rank !== 2 || y.channels < 1) {
    throw new Error(`export: the network's output is not [N, E] (rank ${y.rank})`);
  }
  if (opts.foldBatchNorm ?? true) foldBatchNorms(b);
  const last = b.nodes.find((n) => n.outputs[0] === y.name) ??
    b.nodes[b.nodes.length - 1];
  last.outputs = [outputName];
  b.pruneInitialisers();
  const E = y.channels;
  const bytes = b.toBytes(
    [{ name: inputName, dims: ["batch", 3, 112, 112] }],
    [{ name: outputName, dims: ["batch", E] }],
    {
      opset,
      graphName: opts.network ?? model.constructor.name,
      doc: "Face embedding backbone in eval mode. Input: RGB 112x112, (x - 127.5) / 127.5.",
      metadata: {
        network: opts.network ?? model.constructor.name,
        embedding_size: String(E),
        pixel_mean: "127.5",
        pixel_std: "127.5",
      },
    },
  );
  const ops: Record<string, number> = {};
  for (const n of b.nodes) ops[n.opType] = (ops[n.opType] ?? 0) + 1;
  let elements = 0;
  for (const t of b.inits.values()) elements += t.raw.length / 4;
  return { bytes, embeddingSize: E, ops, initialisers: { count: b.inits.size, elements } };
}

/** Embedding size stored in a backbone state dict (its final BatchNorm1d), or undefined. */
export function checkpointEmbeddingSize(sd: Map<string, HostTensor>): number | undefined {
  const feat = sd.get("features.weight") ?? sd.get("features.layers.3.weight") ??
    sd.get("head.3.weight");
  return feat?.shape[0];
}

/**
 * Reads a checkpoint (.pth / .safetensors) of `network`, exports it and writes `outPath`
 * atomically. Errors name the checkpoint.
 */
export async function exportCheckpoint(
  checkpoint: string,
  network: string,
  outPath: string,
  opts: ExportOptions = {},
): Promise<ExportedModel> {
  await requireFile(checkpoint, "checkpoint");
  await initGpu();
  const sd = await readWeights(checkpoint);
  const emb = checkpointEmbeddingSize(sd);
  const model = createBackbone(network, { embeddingSize: emb });
  try {
    model.loadStateDict(sd, checkpoint);
  } catch (e) {
    throw checkpointLoadError(e, checkpoint, network);
  }
  model.eval();
  const out = await exportOnnx(model, { ...opts, network });
  await writeFileAtomically(outPath, out.bytes);
  return out;
}
