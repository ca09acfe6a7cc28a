/**
 * Checkpoints: `model.safetensors` (the backbone's state dict under PyTorch names, loadable by
 * `deno task infer`, `convert` and PyTorch) and `checkpoint.safetensors` (everything training
 * needs to continue: the backbone state, the Partial FC centres and their optimiser state, the
 * backbone's optimiser state and step counters, and a JSON record of step, epoch, sampler
 * position, loss scale and the settings that must match on resume). Both are written to a
 * temporary name and renamed, so a crash never leaves a half-written file.
 *
 * The Partial FC tensors (`pfc.weight`, `pfc.state.<slot>`: [num_local, E] f32) are the same
 * whether the layer keeps its centres on the GPU or in host memory (`pfc_offload`), so a
 * checkpoint resumes in either mode. Loading also tells the layer the step it resumes at, which
 * seeds its per-step class sampling.
 *
 * @module
 */
import type { HostTensor } from "../io/host_tensor.ts";
import { toFloat32 } from "../io/host_tensor.ts";
import { readSafetensors, writeSafetensors } from "../io/safetensors.ts";
import type { Module } from "../nn/module.ts";
import { gpu } from "../gpu/device.ts";
import type { Optimizer } from "./optim.ts";
import type { PartialFC } from "./partial_fc.ts";
import type { LossScalerState } from "./loss_scale.ts";

/** The JSON record stored with a full checkpoint. */
export interface TrainerRecord {
  /** Optimiser steps done. */
  step: number;
  /** Epoch of the next batch. */
  epoch: number;
  /** The data sampler's position. */
  sampler: { epoch: number; position: number };
  /** Network name (resume refuses another). */
  network: string;
  /** Number of classes (resume refuses another). */
  numClasses: number;
  /** Embedding size (resume refuses another). */
  embeddingSize: number;
  /** World size at save time. */
  world: number;
  /** The fp16 loss scaler's state, when one is used. */
  lossScaler?: LossScalerState;
  /** Best validation accuracy per target so far. */
  best: Record<string, number>;
}

/** File names inside the output folder. */
export const MODEL_FILE = "model.safetensors";
/** See MODEL_FILE. */
export const STATE_FILE = "checkpoint.safetensors";

const f32 = (shape: number[], data: Float32Array): HostTensor => ({
  dtype: "float32",
  shape,
  data,
});

/** What a checkpoint covers. */
export interface CheckpointParts {
  /** The backbone. */
  model: Module;
  /** The backbone's optimiser. */
  optimizer: Optimizer;
  /** The Partial FC layer. */
  pfc: PartialFC;
}

/** Saves model.safetensors and checkpoint.safetensors into `dir`; returns the state path. */
export async function saveCheckpoint(
  dir: string,
  parts: CheckpointParts,
  record: TrainerRecord,
): Promise<string> {
  const { model, optimizer, pfc } = parts;
  const sd = await model.stateDict();
  const full = new Map<string, HostTensor>();
  for (const [k, v] of sd) full.set(`backbone.${k}`, v);
  const names = new Map(model.namedParameters().map(([n, t]) => [t, n]));
  const reads: Promise<void>[] = [];
  for (const p of optimizer.params) {
    optimizer.state(p).forEach((s, i) => {
      reads.push(
        s.readFloat().then((d) => {
          full.set(`optim.${names.get(p)}.${i}`, f32([...s.shape], d));
        }),
      );
    });
  }
  reads.push(
    optimizer.ctl.read().then((d) => {
      full.set("optim.ctl", { dtype: "int32", shape: [d.length], data: Int32Array.from(d) });
    }),
  );
  reads.push(readPfc(pfc, full));
  await Promise.all(reads);
  const ordered = new Map([...full].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  const statePath = `${dir}/${STATE_FILE}`;
  await writeSafetensors(statePath, ordered, { trainer: JSON.stringify(record) });
  await writeSafetensors(`${dir}/${MODEL_FILE}`, sd, { network: record.network });
  return statePath;
}

/** Reads this rank's Partial FC tensors (`pfc.ctl`, `pfc.weight`, `pfc.state.<i>`) into `out`. */
async function readPfc(pfc: PartialFC, out: Map<string, HostTensor>): Promise<void> {
  const E = pfc.embeddingSize, rows = pfc.shard.numLocal;
  const reads: Promise<void>[] = [
    pfc.optimizer.ctl.read().then((d) => {
      out.set("pfc.ctl", { dtype: "int32", shape: [d.length], data: Int32Array.from(d) });
    }),
    pfc.readWeights().then((d) => void out.set("pfc.weight", f32([rows, E], d))),
  ];
  for (let i = 0; i < pfc.optimizer.stateSlots; i++) {
    reads.push(pfc.readState(i).then((d) => void out.set(`pfc.state.${i}`, f32([rows, E], d))));
  }
  await Promise.all(reads);
}

/** The Partial FC shard file of rank `rank` (> 0) of a multi-process run (`prev`: the one before). */
export function shardFile(rank: number, prev = false): string {
  return `checkpoint.rank${rank}${prev ? ".prev" : ""}.safetensors`;
}

/**
 * Saves rank `rank`'s Partial FC shard (its centres, their optimiser state and step counter)
 * as `dir/checkpoint.rank<rank>.safetensors`, stamped with the step and world size; rank 0's
 * shard lives in checkpoint.safetensors. The previous shard is kept as
 * `checkpoint.rank<rank>.prev.safetensors` until the next save, so a run killed between the
 * shards and checkpoint.safetensors (written last) still resumes from a matching pair.
 * Returns the path.
 */
export async function saveShard(
  dir: string,
  pfc: PartialFC,
  meta: { rank: number; world: number; step: number },
): Promise<string> {
  const t = new Map<string, HostTensor>();
  await readPfc(pfc, t);
  const path = `${dir}/${shardFile(meta.rank)}`;
  try {
    await Deno.rename(path, `${dir}/${shardFile(meta.rank, true)}`);
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  const ordered = new Map([...t].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  await writeSafetensors(path, ordered, { shard: JSON.stringify(meta) });
  return path;
}

/** Reads a full checkpoint's record without loading tensors into the model. */
export async function readCheckpointRecord(path: string): Promise<TrainerRecord> {
  const { metadata } = await readSafetensors(path, { keys: [] });
  if (!metadata.trainer) {
    throw new Error(
      `${path}: not a training checkpoint (no "trainer" metadata); use ${STATE_FILE}`,
    );
  }
  return JSON.parse(metadata.trainer) as TrainerRecord;
}

/**
 * Restores model, optimiser and Partial FC from a full checkpoint; returns its record. With
 * `rank` > 0 (a multi-process run) the Partial FC shard comes from that rank's shard file
 * beside `path`, which must carry the same step and world.
 */
export async function loadCheckpoint(
  path: string,
  parts: CheckpointParts,
  rank = 0,
): Promise<TrainerRecord> {
  const { tensors, metadata } = await readSafetensors(path);
  if (!metadata.trainer) throw new Error(`${path}: not a training checkpoint`);
  const record = JSON.parse(metadata.trainer) as TrainerRecord;
  const { model, optimizer, pfc } = parts;
  const sd = new Map<string, HostTensor>();
  for (const [k, v] of tensors) if (k.startsWith("backbone.")) sd.set(k.slice(9), v);
  model.loadStateDict(sd, path);
  const names = new Map(model.namedParameters().map(([n, t]) => [t, n]));
  const g = gpu();
  for (const p of optimizer.params) {
    optimizer.state(p).forEach((s, i) => {
      const key = `optim.${names.get(p)}.${i}`;
      const h = tensors.get(key);
      if (!h) throw new Error(`${path}: missing ${key}`);
      g.upload(s.buffer, s.byteOffset, toFloat32(h));
    });
  }
  let pfcPath = path, pfcTensors = tensors;
  if (rank > 0) {
    const seen: string[] = [];
    for (const prev of [false, true]) {
      const p = path.replace(/[^/]*$/, shardFile(rank, prev));
      let shard;
      try {
        shard = await readSafetensors(p);
      } catch (e) {
        if (e instanceof Deno.errors.NotFound) continue;
        throw e;
      }
      const meta = shard.metadata.shard ? JSON.parse(shard.metadata.shard) : {};
      if (meta.step === record.step && meta.world === record.world && meta.rank === rank) {
        pfcPath = p;
        pfcTensors = shard.tensors;
        break;
      }
      seen.push(`${p} (rank ${meta.rank}, step ${meta.step}, world ${meta.world})`);
    }
    if (pfcTensors === tensors) {
      throw new Error(
        `${path} is step ${record.step} of a ${record.world}-process run, but rank ${rank}'s ` +
          `Partial FC shard for it is missing (${seen.join("; ") || "no shard files"}); ` +
          "resume with the output folder of that run and the same --nproc",
      );
    }
  }
  for (
    const [key, ctl, from, t] of [
      ["optim.ctl", optimizer.ctl, path, tensors],
      ["pfc.ctl", pfc.optimizer.ctl, pfcPath, pfcTensors],
    ] as const
  ) {
    const h = t.get(key);
    if (!h) throw new Error(`${from}: missing ${key}`);
    g.upload(ctl.buffer, ctl.byteOffset, h.data as Int32Array);
  }
  const w = pfcTensors.get("pfc.weight");
  if (!w) throw new Error(`${pfcPath}: missing pfc.weight`);
  const states: Float32Array[] = [];
  for (let i = 0; i < pfc.optimizer.stateSlots; i++) {
    const s = pfcTensors.get(`pfc.state.${i}`);
    if (!s) throw new Error(`${pfcPath}: missing pfc.state.${i}`);
    states.push(toFloat32(s));
  }
  pfc.load(toFloat32(w), states);
  // the trainer runs one Partial FC step per micro-batch, as many as `record.step` counts
  pfc.restoreSteps(record.step);
  return record;
}
