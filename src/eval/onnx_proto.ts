/**
 * The ONNX protobuf schema, from the maintained `onnx-proto` package (protobufjs static code
 * generated from onnx.proto, ONNX 1.10 / IR 8). Every ONNX file we write or read goes through
 * these classes: `onnx.ModelProto.encode(...).finish()` and `onnx.ModelProto.decode(bytes)`.
 *
 * Not part of the training import graph: only export, model checks and the onnx engine use it.
 *
 * @module
 */
// deno-lint-ignore no-import-prefix -- pinned inline so the module also runs from a URL
import onnxProto from "npm:onnx-proto@8.0.1";
// deno-lint-ignore no-import-prefix -- pinned inline so the module also runs from a URL
import type { onnx as onnxTypes } from "npm:onnx-proto@8.0.1";

/** The `onnx` protobuf namespace (ModelProto, GraphProto, NodeProto, TensorProto, …). */
export const onnx = onnxProto.onnx;

/** A decoded ONNX model. */
export type ModelProto = InstanceType<typeof onnx.ModelProto>;
/** A decoded ONNX graph. */
export type GraphProto = InstanceType<typeof onnx.GraphProto>;
/** A decoded ONNX node. */
export type NodeProto = InstanceType<typeof onnx.NodeProto>;
/** A decoded ONNX tensor (initialiser). */
export type TensorProto = InstanceType<typeof onnx.TensorProto>;
/** The plain-object form of a value info, as repeated fields hold it. */
export type IValueInfoProto = onnxTypes.IValueInfoProto;
/** The plain-object form of a tensor, as repeated fields hold it. */
export type ITensorProto = onnxTypes.ITensorProto;
/** A decoded ONNX value info (graph input or output). */
export type ValueInfoProto = InstanceType<typeof onnx.ValueInfoProto>;

/** ONNX `TensorProto.DataType` codes → names, for messages. */
export const ONNX_DTYPE_NAMES: Record<number, string> = {
  0: "undefined",
  1: "float32",
  2: "uint8",
  3: "int8",
  4: "uint16",
  5: "int16",
  6: "int32",
  7: "int64",
  8: "string",
  9: "bool",
  10: "float16",
  11: "float64",
  12: "uint32",
  13: "uint64",
  14: "complex64",
  15: "complex128",
  16: "bfloat16",
};

/** Bytes per element of each numeric ONNX data type (0 for strings and unknown codes). */
export const ONNX_DTYPE_BYTES: Record<number, number> = {
  1: 4,
  2: 1,
  3: 1,
  4: 2,
  5: 2,
  6: 4,
  7: 8,
  9: 1,
  10: 2,
  11: 8,
  12: 4,
  13: 8,
  14: 8,
  15: 16,
  16: 2,
};
