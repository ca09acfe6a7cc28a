/**
 * A small builder of ONNX graphs over the `onnx-proto` schema: float32 initialisers from
 * typed arrays, nodes with typed attributes, one model with named inputs and outputs whose
 * dimensions are numbers or symbolic names. Used by the exporter and by tests that build
 * models on purpose (broken variants for the model checks).
 *
 * @module
 */
import { onnx } from "./onnx_proto.ts";

/** An attribute value: int, float, ints, floats or string (ints are written as INT/INTS). */
export type OnnxAttr = number | number[] | string | { float: number } | { floats: number[] };

/** A graph input or output: name, element type (default float32) and dims (string = dynamic). */
export interface OnnxValue {
  /** Value name. */
  name: string;
  /** Dimensions; a string is a symbolic (dynamic) dimension. */
  dims: (number | string)[];
  /** ONNX data type code (default 1, float32). */
  elemType?: number;
}

/** One node while building. */
export interface BuiltNode {
  /** Operator type (`Conv`, `Add`, …). */
  opType: string;
  /** Node name. */
  name: string;
  /** Input value names ("" for an omitted optional input). */
  inputs: string[];
  /** Output value names. */
  outputs: string[];
  /** Attributes. */
  attrs: Record<string, OnnxAttr>;
}

/** One initialiser while building: raw little-endian bytes of the given data type. */
export interface BuiltInit {
  /** Name. */
  name: string;
  /** Dimensions. */
  dims: number[];
  /** ONNX data type code. */
  dataType: number;
  /** Raw little-endian bytes. */
  raw: Uint8Array;
}

/** Options of {@link OnnxGraphBuilder.toBytes}. */
export interface ModelOptions {
  /** Default-domain opset version (default 17). */
  opset?: number;
  /** Graph name. */
  graphName?: string;
  /** Producer name written into the model. */
  producer?: string;
  /** Free-form `metadata_props`. */
  metadata?: Record<string, string>;
  /** Model doc string. */
  doc?: string;
}

/** The IR version that goes with an opset (IR 8 up to opset 18, 9 for 19–20, 10 from 21). */
export function irVersionFor(opset: number): number {
  return opset <= 18 ? 8 : opset <= 20 ? 9 : 10;
}

function attrProto(name: string, v: OnnxAttr) {
  const T = onnx.AttributeProto.AttributeType;
  if (typeof v === "number") {
    if (!Number.isInteger(v)) return { name, type: T.FLOAT, f: v };
    return { name, type: T.INT, i: v };
  }
  if (typeof v === "string") return { name, type: T.STRING, s: new TextEncoder().encode(v) };
  if (Array.isArray(v)) return { name, type: T.INTS, ints: v };
  if ("float" in v) return { name, type: T.FLOAT, f: v.float };
  return { name, type: T.FLOATS, floats: v.floats };
}

function valueInfo(v: OnnxValue) {
  return {
    name: v.name,
    type: {
      tensorType: {
        elemType: v.elemType ?? onnx.TensorProto.DataType.FLOAT,
        shape: {
          dim: v.dims.map((d) => typeof d === "string" ? { dimParam: d } : { dimValue: d }),
        },
      },
    },
  };
}

/** Builds one ONNX graph: add initialisers and nodes, then serialise. */
export class OnnxGraphBuilder {
  /** Nodes in topological order. */
  nodes: BuiltNode[] = [];
  /** Initialisers by name. */
  inits = new Map<string, BuiltInit>();
  #counts = new Map<string, number>();

  /** Adds a float32 initialiser (copied) and returns its name. */
  addFloat(name: string, data: Float32Array, dims: number[]): string {
    const n = dims.reduce((a, b) => a * b, 1);
    if (n !== data.length) {
      throw new Error(`initialiser ${name}: ${data.length} values for dims [${dims}]`);
    }
    // ONNX raw data is little-endian, as every host Deno runs on
    const raw = new Uint8Array(new Float32Array(data).buffer);
    return this.addRaw(name, onnx.TensorProto.DataType.FLOAT, raw, dims);
  }

  /** Adds an initialiser of any data type from its raw little-endian bytes. */
  addRaw(name: string, dataType: number, raw: Uint8Array, dims: number[]): string {
    if (this.inits.has(name)) throw new Error(`duplicate initialiser ${name}`);
    this.inits.set(name, { name, dims: [...dims], dataType, raw });
    return name;
  }

  /** A fresh value or node name with the given stem (`Conv_0`, `Conv_1`, …). */
  fresh(stem: string): string {
    const k = this.#counts.get(stem) ?? 0;
    this.#counts.set(stem, k + 1);
    return `${stem}_${k}`;
  }

  /** Adds a node with one output and returns that output's name. */
  node(
    opType: string,
    inputs: string[],
    attrs: Record<string, OnnxAttr> = {},
    out?: string,
  ): string {
    const name = this.fresh(opType);
    const output = out ?? `${name}_out`;
    this.nodes.push({ opType, name, inputs, outputs: [output], attrs });
    return output;
  }

  /** Names of the nodes that read each value. */
  consumers(): Map<string, BuiltNode[]> {
    const m = new Map<string, BuiltNode[]>();
    for (const n of this.nodes) {
      for (const i of n.inputs) {
        if (!i) continue;
        const l = m.get(i) ?? [];
        l.push(n);
        m.set(i, l);
      }
    }
    return m;
  }

  /** Drops initialisers no node reads. */
  pruneInitialisers(): void {
    const used = new Set(this.nodes.flatMap((n) => n.inputs));
    for (const k of [...this.inits.keys()]) if (!used.has(k)) this.inits.delete(k);
  }

  /** The model as an `onnx.ModelProto` message. */
  toModel(inputs: OnnxValue[], outputs: OnnxValue[], opts: ModelOptions = {}) {
    const opset = opts.opset ?? 17;
    const graph = {
      name: opts.graphName ?? "graph",
      node: this.nodes.map((n) => ({
        name: n.name,
        opType: n.opType,
        input: n.inputs,
        output: n.outputs,
        attribute: Object.entries(n.attrs).map(([k, v]) => attrProto(k, v)),
      })),
      initializer: [...this.inits.values()].map((t) => ({
        name: t.name,
        dims: t.dims,
        dataType: t.dataType,
        rawData: t.raw,
      })),
      input: inputs.map(valueInfo),
      output: outputs.map(valueInfo),
    };
    return onnx.ModelProto.create({
      irVersion: irVersionFor(opset),
      producerName: opts.producer ?? "arcface-webgpu",
      producerVersion: "0.1.0",
      docString: opts.doc ?? "",
      opsetImport: [{ domain: "", version: opset }],
      graph: onnx.GraphProto.fromObject(graph),
      metadataProps: Object.entries(opts.metadata ?? {}).map(([key, value]) => ({ key, value })),
    });
  }

  /** The serialised model bytes. */
  toBytes(inputs: OnnxValue[], outputs: OnnxValue[], opts: ModelOptions = {}): Uint8Array {
    const buf = onnx.ModelProto.encode(this.toModel(inputs, outputs, opts)).finish();
    // protobufjs hands back a Node Buffer under Deno: return a plain view of the same bytes
    return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
  }
}
