/**
 * Backbone weights in and out of files: PyTorch `.pth` (zip or legacy) and `.safetensors`,
 * chosen by extension. Keys wrapped by DistributedDataParallel (`module.`) or saved inside a
 * `state_dict` entry are unwrapped so model-zoo files load as they are.
 *
 * @module
 */
import type { HostTensor } from "../io/host_tensor.ts";
import { readPth, writePth } from "../io/pth.ts";
import { readSafetensors, writeSafetensors } from "../io/safetensors.ts";

function kind(path: string): "pth" | "safetensors" {
  if (/\.safetensors$/i.test(path)) return "safetensors";
  if (/\.(pth|pt|ckpt|bin)$/i.test(path)) return "pth";
  throw new Error(
    `${path}: unknown weight format; use a .pth/.pt (PyTorch) or .safetensors file`,
  );
}

/** Strips a common `module.` / `state_dict.` / `model.` prefix from every key. */
export function unwrapKeys(sd: Map<string, HostTensor>): Map<string, HostTensor> {
  let cur = sd;
  for (const prefix of ["state_dict.", "model.", "module."]) {
    const keys = [...cur.keys()];
    if (keys.length > 0 && keys.every((k) => k.startsWith(prefix))) {
      cur = new Map(keys.map((k) => [k.slice(prefix.length), cur.get(k)!]));
    }
  }
  return cur;
}

/** Reads a backbone state dict from a .pth or .safetensors file. */
export async function readWeights(path: string): Promise<Map<string, HostTensor>> {
  const sd = kind(path) === "pth" ? await readPth(path) : (await readSafetensors(path)).tensors;
  return unwrapKeys(sd);
}

/** Writes a state dict as .pth or .safetensors (by extension), atomically. */
export async function writeWeights(path: string, sd: Map<string, HostTensor>): Promise<void> {
  if (kind(path) === "pth") await writePth(path, sd);
  else await writeSafetensors(path, sd);
}
