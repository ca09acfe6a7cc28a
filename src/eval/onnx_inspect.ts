/**
 * Reads what the model checks and the onnx engine need from an ONNX file without running it:
 * the real graph inputs (initialisers listed as inputs, as older exporters do, are left
 * out), outputs with their element types and dimensions (a number, a symbolic name, or null
 * when unknown), initialisers with their data types and storage, the first nodes, and the
 * pixel normalisation the model expects.
 *
 * @module
 */
import { dirname, join } from "node:path";
import {
  type ITensorProto,
  type IValueInfoProto,
  type ModelProto,
  onnx,
  ONNX_DTYPE_BYTES,
  ONNX_DTYPE_NAMES,
} from "./onnx_proto.ts";

/** One graph input or output. */
export interface OnnxIo {
  /** Value name. */
  name: string;
  /** Element type name (`float32`, `float16`, …). */
  elemType: string;
  /** Dimensions: a number, a symbolic name (dynamic), or null (unknown). */
  dims: (number | string | null)[] | null;
}

/** One initialiser. */
export interface OnnxInit {
  /** Name. */
  name: string;
  /** Data type name. */
  dataType: string;
  /** Bytes per element (0 when not numeric). */
  itemBytes: number;
  /** Element count. */
  elements: number;
  /** Whether its data lives in an external file. */
  external: boolean;
}

/** A summary of an ONNX model. */
export interface OnnxSummary {
  /** The file it came from (for messages). */
  path: string;
  /** File size in bytes. */
  fileBytes: number;
  /** IR version. */
  irVersion: number;
  /** Opset per domain ("" = default). */
  opsets: Record<string, number>;
  /** Graph inputs that are not initialisers. */
  inputs: OnnxIo[];
  /** Graph outputs. */
  outputs: OnnxIo[];
  /** Initialisers (and Constant-node tensors, named `Constant:<node>`). */
  initialisers: OnnxInit[];
  /** Node count. */
  nodeCount: number;
  /** Operator types of the nodes in order. */
  opTypes: string[];
  /** Names of the nodes in order. */
  nodeNames: string[];
  /** Metadata properties. */
  metadata: Record<string, string>;
}

/** Pixel normalisation: the model's input is `(pixel − mean) / std` of RGB 0…255 values. */
export interface PixelNorm {
  /** Subtracted from each pixel. */
  mean: number;
  /** Divides the difference. */
  std: number;
  /** Where it came from. */
  source: "pixel_norm.txt" | "graph" | "default";
}

function num(v: unknown): number {
  if (typeof v === "number") return v;
  if (v && typeof (v as { toNumber?: () => number }).toNumber === "function") {
    return (v as { toNumber: () => number }).toNumber();
  }
  return Number(v ?? 0);
}

function io(v: IValueInfoProto): OnnxIo {
  const tt = v.type?.tensorType;
  const dims = tt?.shape?.dim
    ? tt.shape.dim.map((d) =>
      d.dimParam ? d.dimParam : d.dimValue !== undefined && d.dimValue !== null &&
          num(d.dimValue) > 0
        ? num(d.dimValue)
        : null
    )
    : null;
  return {
    name: v.name ?? "",
    elemType: ONNX_DTYPE_NAMES[tt?.elemType ?? 0] ?? `type ${tt?.elemType}`,
    dims,
  };
}

function tensorInfo(t: ITensorProto, name: string): OnnxInit {
  const dt = t.dataType ?? 0;
  return {
    name,
    dataType: ONNX_DTYPE_NAMES[dt] ?? `type ${dt}`,
    itemBytes: ONNX_DTYPE_BYTES[dt] ?? 0,
    elements: (t.dims ?? []).reduce((a: number, d) => a * num(d), 1),
    external: t.dataLocation === onnx.TensorProto.DataLocation.EXTERNAL,
  };
}

/** Decodes ONNX bytes; errors name the file. */
export function decodeOnnx(bytes: Uint8Array, path: string): ModelProto {
  try {
    const m = onnx.ModelProto.decode(bytes);
    if (!m.graph) throw new Error("no graph");
    return m;
  } catch (e) {
    throw new Error(`${path}: not an ONNX model (${(e as Error).message})`);
  }
}

/** Summarises a decoded model. */
export function summarizeOnnx(m: ModelProto, path: string, fileBytes: number): OnnxSummary {
  const g = m.graph!;
  const initNames = new Set((g.initializer ?? []).map((t) => t.name ?? ""));
  const initialisers = (g.initializer ?? []).map((t) => tensorInfo(t, t.name ?? ""));
  for (const n of g.node ?? []) {
    if (n.opType !== "Constant") continue;
    for (const a of n.attribute ?? []) {
      if (a.name === "value" && a.t) initialisers.push(tensorInfo(a.t, `Constant:${n.name}`));
    }
  }
  const opsets: Record<string, number> = {};
  for (const o of m.opsetImport ?? []) opsets[o.domain ?? ""] = num(o.version);
  const metadata: Record<string, string> = {};
  for (const p of m.metadataProps ?? []) metadata[p.key ?? ""] = p.value ?? "";
  return {
    path,
    fileBytes,
    irVersion: num(m.irVersion),
    opsets,
    inputs: (g.input ?? []).filter((v) => !initNames.has(v.name ?? "")).map(io),
    outputs: (g.output ?? []).map(io),
    initialisers,
    nodeCount: (g.node ?? []).length,
    opTypes: (g.node ?? []).map((n) => n.opType ?? ""),
    nodeNames: (g.node ?? []).map((n) => n.name ?? ""),
    metadata,
  };
}

/** Reads and summarises an ONNX file. */
export async function inspectOnnx(path: string): Promise<OnnxSummary> {
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(path);
  } catch (e) {
    throw new Error(`${path}: cannot read the model (${(e as Error).message})`);
  }
  return summarizeOnnx(decodeOnnx(bytes, path), path, bytes.length);
}

/**
 * Reads `pixel_norm.txt` beside the model: two lines, mean then std (the reference's
 * submission format). Returns null when the file is absent; throws on a malformed one.
 */
export async function readPixelNormFile(modelPath: string): Promise<PixelNorm | null> {
  const file = join(dirname(modelPath), "pixel_norm.txt");
  let text: string;
  try {
    text = await Deno.readTextFile(file);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return null;
    throw new Error(`${file}: cannot read (${(e as Error).message})`);
  }
  const lines = text.split(/\r?\n/).map((l) => l.trim()).filter((l) => l.length > 0);
  const vals = lines.map(Number);
  if (lines.length !== 2 || vals.some((v) => !Number.isFinite(v)) || vals[1] === 0) {
    throw new Error(
      `${file}: must hold two lines, the pixel mean and a non-zero std (got ${lines.length} lines)`,
    );
  }
  return { mean: vals[0], std: vals[1], source: "pixel_norm.txt" };
}

/**
 * The pixel normalisation a model expects: `pixel_norm.txt` beside it when present; else, if
 * its first 8 nodes include both a subtraction and a multiplication/division (the model
 * normalises raw pixels itself, as MXNet-converted models do), mean 0 and std 1; else the
 * reference's 127.5 / 127.5.
 */
export async function detectPixelNorm(s: OnnxSummary): Promise<PixelNorm> {
  const file = await readPixelNormFile(s.path);
  if (file) return file;
  const head = s.opTypes.slice(0, 8);
  const names = s.nodeNames.slice(0, 8);
  const has = (ops: string[], prefixes: string[]) =>
    head.some((o) => ops.includes(o)) || names.some((n) => prefixes.some((p) => n.startsWith(p)));
  if (has(["Sub"], ["Sub", "_minus"]) && has(["Mul", "Div"], ["Mul", "_mul", "Div"])) {
    return { mean: 0, std: 1, source: "graph" };
  }
  return { mean: 127.5, std: 127.5, source: "default" };
}
