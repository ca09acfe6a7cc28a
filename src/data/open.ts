/**
 * Opening datasets: from a spec (in worker threads) or from what a user types — a RecordIO
 * folder or `.rec`, an image folder, `synthetic[:key=value,…]` or `toy[:key=value,…]`.
 *
 * @module
 */
import type { Dataset, DatasetSpec } from "./dataset.ts";
import { ImageFolderDataset } from "./image_folder.ts";
import { RecordIODataset } from "./recordio_dataset.ts";
import { SyntheticDataset } from "./synthetic.ts";
import { ToyFacesDataset } from "./toy_dataset.ts";

/** Reopens a dataset from its spec. */
export function openDatasetSpec(spec: DatasetSpec): Dataset {
  switch (spec.kind) {
    case "recordio":
      return RecordIODataset.fromSpec(spec);
    case "folder":
      return ImageFolderDataset.fromSpec(spec);
    case "synthetic":
      return SyntheticDataset.fromSpec(spec);
    case "toy":
      return ToyFacesDataset.fromSpec(spec);
  }
}

function options(s: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const kv of s.split(",").filter(Boolean)) {
    const [k, v] = kv.split("=");
    const n = Number(v);
    if (!k || !Number.isFinite(n)) throw new Error(`bad dataset option "${kv}" (want key=number)`);
    out[k] = n;
  }
  return out;
}

/**
 * Opens what a user names: `toy[:ids=N,per=K,seed=S,variation=V]`, `synthetic[:images=N,classes=C]`, a
 * `.rec` file, a folder holding `train.rec`, or an image folder.
 */
export function openDataset(data: string): Dataset {
  const [head, rest = ""] = data.split(/:(.*)/s);
  if (head === "toy") {
    const o = options(rest);
    return new ToyFacesDataset({
      seed: o.seed ?? 0,
      numIdentities: o.ids ?? 1000,
      imagesPerIdentity: o.per ?? 20,
      variation: o.variation,
    });
  }
  if (head === "synthetic") {
    const o = options(rest);
    return new SyntheticDataset({
      numImages: o.images,
      numClasses: o.classes,
      label: o.label,
      seed: o.seed,
    });
  }
  let st: Deno.FileInfo;
  try {
    st = Deno.statSync(data);
  } catch {
    throw new Error(`dataset "${data}" not found (a .rec, a folder, "toy" or "synthetic")`);
  }
  if (st.isFile) return RecordIODataset.open(data);
  try {
    Deno.statSync(`${data.replace(/\/$/, "")}/train.rec`);
    return RecordIODataset.open(data);
  } catch {
    return ImageFolderDataset.open(data);
  }
}
