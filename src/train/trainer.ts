/**
 * The training loop of one rank: data (this rank's share) → GPU preprocessing → backbone →
 * Partial FC (this rank's classes; fused margin softmax, its own update) → backbone backward →
 * gradients averaged over the ranks (`GradSync`, when there are several) → clip → optimiser →
 * schedule; logs, validation, checkpoints (rank 0, plus every other rank's Partial FC shard),
 * resume, and a clean stop on SIGINT/SIGTERM, at the same step on every rank.
 *
 * Everything that can be checked without the GPU (output folder, data, checkpoint to resume)
 * is checked first, so bad input fails in one line before any GPU work.
 *
 * @module
 */
import type { Config } from "../../configs/base.ts";
import { hashSeed, Rng } from "../data/rng.ts";
import { openDataset } from "../data/open.ts";
import { DataLoader } from "../data/loader.ts";
import type { Dataset } from "../data/dataset.ts";
import { gpu, initGpu } from "../gpu/device.ts";
import { createBackbone } from "../nn/backbones/mod.ts";
import { setDropoutSeed } from "../nn/layers.ts";
import { backward, tidy } from "../tensor/mod.ts";
import { imagesToTensor } from "../tensor/ops/preprocess.ts";
import type { Collective } from "../dist/collective.ts";
import { SingleCollective } from "../dist/single.ts";
import { checkReplicas, GradSync } from "../dist/grad_sync.ts";
import { clipGradNorm } from "./clip.ts";
import {
  loadCheckpoint,
  MODEL_FILE,
  readCheckpointRecord,
  saveCheckpoint,
  saveShard,
  STATE_FILE,
  type TrainerRecord,
} from "./checkpoint.ts";
import { formatTrainLine, formatValidationLines, LogTimer } from "./log_line.ts";
import { MetricsLog, TrainingLog } from "./logs.ts";
import { Optimizer, type OptimizerConfig } from "./optim.ts";
import { scaler2021 } from "./loss_scale.ts";
import { PartialFC } from "./partial_fc.ts";
import { type LrSchedule, PolySchedule, scaledLr, StepDecaySchedule } from "./schedule.ts";
import { EventWriter } from "./tensorboard.ts";
import { loadBinSet, toySet, validate as runValidation, type ValidationSet } from "./validation.ts";
import { plotFromMetrics, writePlot } from "./plot.ts";
import { ProgressBar } from "./progress.ts";
import { readMetrics } from "./logs.ts";

/** Options of `train` besides the config. */
export interface TrainOptions {
  /** Config name (for messages). */
  name: string;
  /** The ranks of this job (default: a world of one). */
  collective?: Collective;
  /** Print to the console as well as training.log (default true). */
  echo?: boolean;
}

/** What a finished (or stopped) run reports. */
export interface TrainResult {
  /** Optimiser steps done. */
  steps: number;
  /** The last logged loss. */
  loss: number;
  /** Whether the run stopped on a signal before the end. */
  interrupted: boolean;
  /** The output folder. */
  output: string;
  /** Final held-out accuracy of the toy run (fraction), when it has one. */
  heldOut?: number;
  /** Raw-pixel baseline of the same pairs (fraction). */
  pixelBaseline?: number;
}

async function checkWritable(dir: string): Promise<void> {
  try {
    await Deno.mkdir(dir, { recursive: true });
    const probe = `${dir}/.write-probe-${Deno.pid}`; // per process: ranks probe at once
    await Deno.writeTextFile(probe, "");
    await Deno.remove(probe);
  } catch (e) {
    throw new Error(
      `output folder ${dir} is not writable (${(e as Error).message}); pass --output DIR`,
    );
  }
}

/** Checks everything that needs no GPU; returns the data and the record to resume from. */
export async function preflight(
  config: Config,
): Promise<{ data: Dataset; resume: TrainerRecord | null }> {
  await checkWritable(config.output);
  let resume: TrainerRecord | null = null;
  if (config.resume) {
    const path = `${config.output}/${STATE_FILE}`;
    try {
      await Deno.stat(path);
    } catch {
      throw new Error(
        `--resume: no checkpoint at ${path}; train without --resume first, or pass the ` +
          `--output folder of the run to continue`,
      );
    }
    resume = await readCheckpointRecord(path);
    if (resume.network !== config.network) {
      throw new Error(
        `--resume: ${path} is a ${resume.network} checkpoint, the config trains ` +
          `${config.network}; use the same network or another --output`,
      );
    }
  }
  if (!config.rec) throw new Error("config has no `rec`: give the training data (--rec PATH)");
  // a bare "synthetic" (the reference's spelling) takes its sizes from the config
  const spec = config.rec === "synthetic"
    ? `synthetic:classes=${config.num_classes || 1000},images=${config.num_image || 1000000}`
    : config.rec;
  const data = openDataset(spec);
  if (config.num_classes && data.numClasses !== null && config.num_classes !== data.numClasses) {
    throw new Error(
      `num_classes ${config.num_classes} in the config, but ${config.rec} holds ` +
        `${data.numClasses} classes; set --num_classes ${data.numClasses}`,
    );
  }
  if (config.num_image && config.num_image !== data.length) {
    throw new Error(
      `num_image ${config.num_image} in the config, but ${config.rec} holds ${data.length} ` +
        `images; set --num_image ${data.length}`,
    );
  }
  if (resume && data.numClasses !== null && resume.numClasses !== data.numClasses) {
    throw new Error(
      `--resume: the checkpoint has ${resume.numClasses} classes, the data ${data.numClasses}`,
    );
  }
  return { data, resume };
}

/** Finds the validation sets: `<target>.bin` beside the data, and the toy pairs for toy data. */
async function validationSets(config: Config, log: TrainingLog): Promise<ValidationSet[]> {
  const sets: ValidationSet[] = [];
  if (config.rec.startsWith("toy")) {
    // the held-out pairs follow the training set's seed and variation; `pairs=N` sizes them
    const get = (k: string) => {
      const m = new RegExp(`[:,]${k}=([\\d.]+)`).exec(config.rec);
      return m ? Number(m[1]) : undefined;
    };
    sets.push(toySet((get("seed") ?? 0) + 1000, get("pairs") ?? 600, get("variation")));
  }
  const dir = /\.rec$/.test(config.rec) ? config.rec.replace(/\/[^/]*$/, "") : config.rec;
  for (const t of config.val_targets) {
    const path = `${dir}/${t}.bin`;
    try {
      await Deno.stat(path);
    } catch {
      log.info(`validation target ${t}: ${path} not found, skipped`);
      continue;
    }
    sets.push(await loadBinSet(path, t));
  }
  return sets;
}

/** Trains `config`. */
export async function train(config: Config, opts: TrainOptions): Promise<TrainResult> {
  const { data, resume } = await preflight(config);
  const collective = opts.collective ?? new SingleCollective();
  const { rank, world } = collective;
  // rank 0 writes the logs, metrics, events, plot, model file and validation; every rank
  // its Partial FC shard, and rank r > 0 its own log under <output>/rank<r>/
  const lead = rank === 0;
  if (resume && resume.world !== world) {
    throw new Error(
      `--resume: ${config.output}/${STATE_FILE} was saved by ${resume.world} process(es); ` +
        `resume with --nproc ${resume.world}`,
    );
  }
  const g = await initGpu();
  let bar: ProgressBar | null = null;
  const log = await TrainingLog.open(lead ? config.output : `${config.output}/rank${rank}`, {
    echo: lead && (opts.echo ?? true),
    beforeEcho: () => bar?.clear(),
  });
  const events = lead ? await EventWriter.create(`${config.output}/tensorboard`) : null;
  const metrics = events ? await MetricsLog.open(`${config.output}/metrics.jsonl`, events) : null;
  if (world > 1) log.info(`rank ${rank} of ${world} (pid ${Deno.pid})`);
  log.info(`adapter: ${g.description}`);
  for (const [k, v] of Object.entries(config)) log.info(`${k.padEnd(32)}${JSON.stringify(v)}`);
  const fp16 = config.fp16 && g.features.f16;
  if (config.fp16 && !fp16) log.info("fp16: this adapter has no shader-f16; training in fp32");

  const numClasses = data.numClasses ?? config.num_classes;
  const loader = await DataLoader.create(data, {
    batchSize: config.batch_size,
    seed: config.seed,
    rank,
    worldSize: world,
    workers: config.num_workers,
    numClasses,
  });
  const stepsPerEpoch = loader.batchesPerEpoch;
  const totalSteps = stepsPerEpoch * config.num_epoch;
  const lastStep = config.max_steps > 0 ? Math.min(config.max_steps, totalSteps) : totalSteps;

  const model = createBackbone(config.network, {
    embeddingSize: config.embedding_size,
    dropout: config.dropout,
    seed: config.seed,
    fp16,
  });
  // the 2021 scaler: starts at the batch size, grows ×2 every 100 clean steps up to 128·batch
  const scaler = fp16 ? scaler2021(config.batch_size) : null;
  model.train();
  const baseLr = config.scheduler === "step" && config.optimizer === "sgd"
    ? scaledLr(config.lr, config.batch_size, world)
    : config.lr;
  const optConfig: OptimizerConfig = config.optimizer === "sgd"
    ? { kind: "sgd", lr: baseLr, momentum: config.momentum, weightDecay: config.weight_decay }
    : { kind: "adamw", lr: baseLr, weightDecay: config.weight_decay };
  const optimizer = new Optimizer(model.trainableParameters(), optConfig, {
    skipIf: scaler?.foundInf,
  });
  const gradSync = world > 1 ? new GradSync(optimizer.params, collective) : null;
  const pfc = new PartialFC({
    numClasses,
    embeddingSize: config.embedding_size,
    sampleRate: config.sample_rate,
    margin: {
      margin_list: config.margin_list,
      interclass_filtering_threshold: config.interclass_filtering_threshold,
    },
    optimizer: optConfig,
    collective,
    seed: config.seed,
    maxGlobalBatch: config.batch_size * world,
    offload: config.pfc_offload,
  });
  const warmup = Math.max(0, config.warmup_epoch) * stepsPerEpoch;
  const schedule: LrSchedule = config.scheduler === "poly"
    ? new PolySchedule({ baseLr, warmupSteps: warmup, totalSteps })
    : new StepDecaySchedule({
      baseLr,
      warmupSteps: warmup,
      decaySteps: config.decay_epoch.map((e) => e * stepsPerEpoch),
    });

  let step = 0;
  const best: Record<string, number> = {};
  if (resume) {
    const rec = await loadCheckpoint(
      `${config.output}/${STATE_FILE}`,
      { model, optimizer, pfc },
      rank,
    );
    step = rec.step;
    loader.restore(rec.sampler);
    Object.assign(best, rec.best);
    if (scaler && rec.lossScaler) scaler.restore(rec.lossScaler);
    log.info(`resumed from ${config.output}/${STATE_FILE} at step ${step}`);
  }
  const valSets = lead ? await validationSets(config, log) : [];

  let stop: string | null = null;
  const onSignal = (sig: Deno.Signal) => () => {
    if (stop) Deno.exit(130);
    stop = sig;
    console.error(`\n${sig}: finishing the step, then saving a checkpoint (again to abort)`);
  };
  const handlers: [Deno.Signal, () => void][] = [["SIGINT", onSignal("SIGINT")], [
    "SIGTERM",
    onSignal("SIGTERM"),
  ]];
  for (const [s, h] of handlers) Deno.addSignalListener(s, h);

  const timer = new LogTimer({
    frequent: config.frequent,
    totalSteps: lastStep,
    batchSize: config.batch_size,
    worldSize: world,
  });
  bar = lead ? new ProgressBar({ total: lastStep, startStep: step }) : null;
  let pendingLoss: Promise<number> | null = null;
  let lastLoss = NaN;
  const record = async (): Promise<TrainerRecord> => ({
    lossScaler: scaler ? await scaler.read() : undefined,
    step,
    epoch: Math.floor(step / stepsPerEpoch),
    sampler: loader.state(),
    network: config.network,
    numClasses,
    embeddingSize: config.embedding_size,
    world,
    best,
  });
  // the shards of ranks > 0 first, checkpoint.safetensors (rank 0) last, after a barrier
  const save = async () => {
    const shard = lead ? null : await saveShard(config.output, pfc, { rank, world, step });
    if (world > 1) await collective.barrier();
    const path = lead
      ? await saveCheckpoint(config.output, { model, optimizer, pfc }, await record())
      : `${config.output}/${STATE_FILE}`;
    if (world > 1) await collective.barrier();
    log.info(
      shard
        ? `saved ${shard} (this rank's Partial FC shard) at step ${step}`
        : `saved ${path} and ${config.output}/${MODEL_FILE} at step ${step}`,
    );
    return path;
  };
  // a signal reaches the ranks at different moments: they stop together at the first step
  // after which any of them has one
  const stopAll = async () => {
    if (world === 1) return stop;
    const flags = await collective.allGatherHost(Int32Array.of(stop ? 1 : 0));
    const r = flags.findIndex((f) => f !== 0);
    if (r >= 0 && !stop) stop = `a signal to rank ${r}`;
    return stop;
  };
  const lastAcc: Record<string, number> = {};
  const validate = async () => {
    for (const set of valSets) {
      const r = await runValidation(model, config.embedding_size, set);
      lastAcc[set.name] = r.accuracy;
      best[set.name] = Math.max(best[set.name] ?? 0, r.accuracy);
      for (
        const line of formatValidationLines({
          target: set.name,
          globalStep: step,
          xnorm: r.xnorm,
          acc: r.accuracy,
          std: r.std,
          highest: best[set.name],
        })
      ) log.info(line);
      metrics?.append({
        kind: "val",
        step,
        target: set.name,
        acc: r.accuracy,
        std: r.std,
        xnorm: r.xnorm,
        highest: best[set.name],
        time: Date.now() / 1000,
      });
    }
  };

  const stepRng = (s: number) => new Rng(hashSeed(config.seed, rank, s));
  try {
    outer: while (step < lastStep) {
      const epoch = Math.floor(step / stepsPerEpoch);
      for await (const batch of loader.epoch()) {
        const b = batch.labels.length;
        const rng = stepRng(step);
        const flips = Array.from({ length: b }, () => rng.next() < 0.5);
        setDropoutSeed(hashSeed(config.seed, rank, step, 1));
        const lr = schedule.lrAt(step);
        optimizer.lr = lr;
        const emb = tidy(() => model.call(imagesToTensor(batch.images, b, { flips })));
        const out = await pfc.forwardBackward(emb, batch.labels, { lr });
        const seed = scaler ? scaler.scale(out.featureGrad) : out.featureGrad;
        backward(emb, seed);
        emb.dispose();
        out.featureGrad.dispose();
        if (seed !== out.featureGrad) seed.dispose();
        // every gradient_acc micro-batches (the later reference's semantics: gradients summed,
        // the schedule and step counter advance per micro-batch): fp16 unscale (Inf/NaN makes
        // the optimiser skip the step), clip to norm 5, step, clear the gradients. Partial FC
        // updates its centres every micro-batch.
        if ((step + 1) % config.gradient_acc === 0) {
          await gradSync?.average();
          scaler?.unscale(optimizer.params.flatMap((p) => (p.grad ? [p.grad] : [])));
          const norm = clipGradNorm(optimizer.params, 5);
          optimizer.step();
          scaler?.update();
          norm.dispose();
          for (const p of optimizer.params) {
            p.grad?.dispose();
            p.grad = null;
          }
        }
        step++;
        // the loss reaches the host one step behind: no sync inside the step
        const prev = pendingLoss;
        pendingLoss = out.loss.read().then((v) => {
          out.loss.dispose();
          return v[0];
        });
        if (prev) lastLoss = await prev;
        const due = timer.due(step);
        if (due) {
          lastLoss = await pendingLoss;
          const gradScale = scaler ? (await scaler.read()).scale : undefined;
          const line = formatTrainLine({
            speed: due.speed,
            loss: lastLoss,
            lr,
            epoch,
            globalStep: step,
            gradScale,
            requiredHours: due.requiredHours,
          });
          log.info(line);
          metrics?.append({
            kind: "train",
            step,
            epoch,
            loss: lastLoss,
            lr,
            speed: due.speed,
            ...(gradScale !== undefined ? { grad_scale: gradScale } : {}),
            eta_hours: due.requiredHours,
            time: Date.now() / 1000,
          });
        }
        bar?.update(step, { loss: lastLoss, epoch });
        if (config.verbose > 0 && step % config.verbose === 0) await validate();
        if (config.save_every > 0 && step % config.save_every === 0) await save();
        if ((await stopAll()) || step >= lastStep) break;
      }
      if (pendingLoss) lastLoss = await pendingLoss;
      pendingLoss = null;
      if (stop) break outer;
      await save();
    }
    bar?.clear();
    if (stop) {
      const path = await save();
      console.log(`stopped by ${stop} at step ${step}; resume with --resume (state in ${path})`);
      return { steps: step, loss: lastLoss, interrupted: true, output: config.output };
    }
    if (step % config.verbose !== 0 || lastAcc.toy === undefined) await validate();
    const result: TrainResult = {
      steps: step,
      loss: lastLoss,
      interrupted: false,
      output: config.output,
    };
    const toy = valSets.find((s) => s.kind === "toy");
    if (toy?.kind === "toy") {
      result.heldOut = lastAcc.toy;
      result.pixelBaseline = toy.pixelBaseline;
    }
    if (world > 1) {
      const h = await checkReplicas(model.namedParameters().map(([, t]) => t), collective);
      log.info(`replicas identical on ${world} ranks (parameter hash ${h.toString(16)})`);
    }
    if (lead) {
      const history = await readMetrics(`${config.output}/metrics.jsonl`);
      await writePlot(`${config.output}/training.svg`, plotFromMetrics(history, opts.name));
      log.info(`finished ${step} steps; plot in ${config.output}/training.svg`);
    } else log.info(`finished ${step} steps`);
    return result;
  } finally {
    for (const [s, h] of handlers) Deno.removeSignalListener(s, h);
    loader.close();
    gradSync?.dispose();
    metrics?.close();
    events?.close();
    log.close();
    bar?.clear();
    await gpu().sync().catch(() => {});
  }
}
