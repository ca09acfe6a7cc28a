/**
 * Host staging of tensors for collectives that exchange data through host memory: read a
 * tensor's elements (after the work recorded before it) and write elements back (ordered
 * after the work recorded so far).
 *
 * @module
 */
import { gpu } from "../gpu/device.ts";
import type { Tensor } from "../tensor/tensor.ts";
import type { HostArray } from "./collective.ts";

/** The elements of an f32 or i32 tensor as a host array. */
export async function stageOut(t: Tensor): Promise<HostArray> {
  const raw = await gpu().read(t.buffer, t.byteOffset, t.byteLength);
  return t.dtype === "i32" ? new Int32Array(raw) : new Float32Array(raw);
}

/** Records an upload of `data` into `t` (from element `offset` of `data`, `t.size` values). */
export function stageIn(t: Tensor, data: HostArray, offset = 0): void {
  const view = t.dtype === "i32"
    ? new Int32Array(data.buffer, data.byteOffset + offset * 4, t.size)
    : new Float32Array(data.buffer, data.byteOffset + offset * 4, t.size);
  gpu().upload(t.buffer, t.byteOffset, view);
}
