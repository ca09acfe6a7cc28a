/**
 * Convolution, BatchNorm and PReLU rows of the `kernels` suite: every distinct conv shape of
 * IResNet-50 and MobileFaceNet at batch 8 (forward, backward-to-input, backward-to-weight)
 * in GFLOP/s against tfjs-backend-webgpu's conv2d / depthwiseConv2d and their gradient
 * kernels (Conv2DBackpropInput/Filter, DepthwiseConv2dNativeBackpropInput/Filter) on the same
 * adapter in the same run (tfjs in its native NHWC / HWIO layout); and BN+PReLU rows in GB/s
 * against the adapter's copy bandwidth (copyBufferToBuffer, bytes read + written, measured in
 * the same run; the goal is ratio ≥ 0.5). FLOPs count 2·N·K·OH·OW·(C/groups)·kH·kW for each
 * pass; bytes count each input read once and each output written once.
 *
 * Filters (after `deno task bench kernels`): `--conv-pass=fwd,bwd-input` keeps only those
 * passes (fwd, bwd-input, bwd-weight), `--conv-match=TEXT` only the layers whose label
 * contains TEXT, `--no-bn` drops the BN+PReLU rows, `--bn-only` keeps only them. Every row
 * is timed many calls per GPU synchronisation, on both sides (see `amortise`);
 * `--sync-each` times the conv rows one call per synchronisation instead.
 *
 * @module
 */
import copyVec4Src from "../../kernels/copy_vec4.wgsl" with { type: "text" };
import { gpu, initGpu } from "../gpu/device.ts";
import { kernel } from "../gpu/kernel.ts";
import { backward } from "../tensor/autograd.ts";
import { batchNorm } from "../tensor/ops/batchnorm.ts";
import { batchNormPrelu } from "../tensor/ops/bn_prelu.ts";
import {
  conv2dBackwardInput,
  conv2dBackwardWeight,
  conv2dForward,
  conv2dGeometry,
  type ConvGeometry,
} from "../tensor/ops/conv2d.ts";
import { prelu } from "../tensor/ops/prelu.ts";
import { Tensor, tidy } from "../tensor/tensor.ts";
import { type BenchRow, row, timeMedian } from "./report.ts";
import { loadTfjs, syncTfjs, type Tfjs, type TfTensor } from "./tfjs.ts";

/** One conv layer shape: [label, C, H(=W), K, kernel, stride, padding, groups]. */
type Shape = [string, number, number, number, number, number, number, number];

/** Distinct conv shapes of IResNet-50 (112×112 input). */
export const R50_SHAPES: Shape[] = [
  ["r50 stem", 3, 112, 64, 3, 1, 1, 1],
  ["r50 l1 3x3", 64, 112, 64, 3, 1, 1, 1],
  ["r50 l1 3x3 s2", 64, 112, 64, 3, 2, 1, 1],
  ["r50 l1 ds 1x1 s2", 64, 112, 64, 1, 2, 0, 1],
  ["r50 l1 3x3 @56", 64, 56, 64, 3, 1, 1, 1],
  ["r50 l2 3x3 64→128", 64, 56, 128, 3, 1, 1, 1],
  ["r50 l2 3x3 s2", 128, 56, 128, 3, 2, 1, 1],
  ["r50 l2 ds 1x1 s2", 64, 56, 128, 1, 2, 0, 1],
  ["r50 l2 3x3 @28", 128, 28, 128, 3, 1, 1, 1],
  ["r50 l3 3x3 128→256", 128, 28, 256, 3, 1, 1, 1],
  ["r50 l3 3x3 s2", 256, 28, 256, 3, 2, 1, 1],
  ["r50 l3 ds 1x1 s2", 128, 28, 256, 1, 2, 0, 1],
  ["r50 l3 3x3 @14", 256, 14, 256, 3, 1, 1, 1],
  ["r50 l4 3x3 256→512", 256, 14, 512, 3, 1, 1, 1],
  ["r50 l4 3x3 s2", 512, 14, 512, 3, 2, 1, 1],
  ["r50 l4 ds 1x1 s2", 256, 14, 512, 1, 2, 0, 1],
  ["r50 l4 3x3 @7", 512, 7, 512, 3, 1, 1, 1],
];

/** Distinct conv shapes of MobileFaceNet (scale 2, 112×112 input). */
export const MBF_SHAPES: Shape[] = [
  ["mbf stem 3x3 s2", 3, 112, 128, 3, 2, 1, 1],
  ["mbf 3x3 g64", 128, 56, 128, 3, 1, 1, 64],
  ["mbf 1x1 @56", 128, 56, 128, 1, 1, 0, 1],
  ["mbf dw 3x3 s2 @56", 128, 56, 128, 3, 2, 1, 128],
  ["mbf 1x1 @28", 128, 28, 128, 1, 1, 0, 1],
  ["mbf dw 3x3 @28", 128, 28, 128, 3, 1, 1, 128],
  ["mbf 1x1 128→256 @28", 128, 28, 256, 1, 1, 0, 1],
  ["mbf dw 3x3 s2 @28", 256, 28, 256, 3, 2, 1, 256],
  ["mbf 1x1 @14", 256, 14, 256, 1, 1, 0, 1],
  ["mbf dw 3x3 @14", 256, 14, 256, 3, 1, 1, 256],
  ["mbf 1x1 256→512 @14", 256, 14, 512, 1, 1, 0, 1],
  ["mbf dw 3x3 s2 @14", 512, 14, 512, 3, 2, 1, 512],
  ["mbf 1x1 512→256 @7", 512, 7, 256, 1, 1, 0, 1],
  ["mbf 1x1 @7", 256, 7, 256, 1, 1, 0, 1],
  ["mbf dw 3x3 @7", 256, 7, 256, 3, 1, 1, 256],
  ["mbf 1x1 256→512 @7", 256, 7, 512, 1, 1, 0, 1],
  ["mbf GDC dw 7x7", 512, 7, 512, 7, 1, 0, 512],
];

function random(n: number): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = Math.random() * 2 - 1;
  return a;
}

/**
 * Calls per synchronisation: by default every timed sample records the op R times, then
 * waits once, and reports the time over R, on both sides. R is chosen per op and side so
 * that a sample holds about AMORTISE_MS of work (1 ≤ R ≤ `maxReps`, at most 1000), from a
 * two-point estimate of one call's time (2 and 10 calls per wait: the difference cancels
 * the wait). With `--sync-each`, R = 1. Why: an empty `onSubmittedWorkDone` round trip
 * alone takes ~11 ms under Deno's WebGPU (measured 2026-12-04), more than a whole small
 * layer (the GDC forward: ~0.3 ms), for ours and the peer alike, so such rows would compare
 * the round trip instead of the kernels; a training step, too, records hundreds of
 * dispatches before it waits. With 250 ms of work per sample the round trip is ≤ 5 % of it.
 * (Until 2026-12-05 conv rows took R ≤ 16 from one call including the round trip: the GDC
 * forward ran ~10 calls per 11 ms wait, so the wait was ~80 % of both sides' figures.)
 */
let amortise = true;
const AMORTISE_MS = 250;

/**
 * Median ms per call of `record` (records one op), R calls per `wait` (see `amortise`;
 * `always`: even with `--sync-each`, as the BN rows and the copy bandwidth).
 */
async function amortisedMs(
  record: () => void,
  { wait = () => gpu().sync(), maxReps = 1000, always = false }: {
    wait?: () => Promise<void>;
    maxReps?: number;
    always?: boolean;
  } = {},
): Promise<number> {
  const many = amortise || always;
  const batch = async (n: number) => {
    const t0 = performance.now();
    for (let r = 0; r < n; r++) record();
    await wait();
    return performance.now() - t0;
  };
  let reps = 1, slow = false;
  if (many) {
    await batch(1); // compiles the pipelines
    const one = await batch(1);
    if (one >= AMORTISE_MS / 4) {
      // the wait is a small part of one call already: no two-point estimate
      reps = Math.max(1, Math.min(maxReps, Math.round(AMORTISE_MS / one)));
      slow = one >= 4 * AMORTISE_MS;
    } else {
      const two = await batch(2);
      const ten = await batch(10);
      const per = Math.max((ten - two) / 8, ten / 10 / 20, 1e-3);
      reps = Math.max(1, Math.min(maxReps, 1000, Math.ceil(AMORTISE_MS / per)));
    }
  }
  return await timeMedian(() => batch(reps).then(() => {}), {
    warmup: many ? 0 : 1,
    minRuns: slow ? 1 : 3,
    minMs: many ? 0 : 600,
  }) / reps;
}

/** `amortisedMs` of one of our ops; its outputs are disposed right after recording. */
function timeOurs(fn: () => Tensor, always = false): Promise<number> {
  return amortisedMs(() => tidy(() => void fn()), { always });
}

/**
 * Median ms of a tfjs op, synchronised on tfjs's queue (see `syncTfjs`); its outputs
 * (`outBytes` each) live until the wait, so at most 256 MiB of them per sample.
 */
async function peerTime(
  tf: Tfjs | null,
  outBytes: number,
  fn: (tf: Tfjs) => TfTensor,
): Promise<number | null> {
  if (!tf) return null;
  try {
    const outs: TfTensor[] = [];
    return await amortisedMs(() => void outs.push(fn(tf)), {
      wait: async () => {
        await syncTfjs(tf, outs[outs.length - 1]);
        for (const o of outs.splice(0)) o.dispose();
      },
      maxReps: Math.max(1, Math.floor((256 << 20) / outBytes)),
    });
  } catch (e) {
    console.error(`tfjs peer failed: ${(e as Error).message}`);
    return null;
  }
}

/** Which passes of a conv layer to time. */
type Passes = ReadonlySet<"fwd" | "bwd-input" | "bwd-weight">;
const ALL_PASSES: Passes = new Set(["fwd", "bwd-input", "bwd-weight"]);

async function convShapeRows(
  tf: Tfjs | null,
  s: Shape,
  N: number,
  passes: Passes = ALL_PASSES,
): Promise<BenchRow[]> {
  const [label, C, H, K, k, stride, padding, groups] = s;
  const geo: ConvGeometry = conv2dGeometry([N, C, H, H], [K, C / groups, k, k], {
    stride,
    padding,
    groups,
  });
  const { OH, OW } = geo;
  const flops = 2 * N * K * OH * OW * (C / groups) * k * k;
  const shape = `${N}x${C}x${H}x${H}→${K} ${k}x${k} s${stride}` + (groups > 1 ? ` g${groups}` : "");
  const x = Tensor.fromArray(random(N * C * H * H), [N, C, H, H]);
  const w = Tensor.fromArray(random(K * (C / groups) * k * k).map((v) => v * 0.1), [
    K,
    C / groups,
    k,
    k,
  ]);
  const dy = Tensor.fromArray(random(N * K * OH * OW), [N, K, OH, OW]);
  const depthwise = groups === C && K === C && groups > 1;
  const dense = groups === 1;
  let tx: TfTensor | null = null, tw: TfTensor | null = null, tdy: TfTensor | null = null;
  if (tf && (dense || depthwise)) {
    tx = tf.tensor4d(random(N * H * H * C), [N, H, H, C]);
    tw = depthwise
      ? tf.tensor4d(random(k * k * C), [k, k, C, 1])
      : tf.tensor4d(random(k * k * C * K), [k, k, C, K]);
    tdy = tf.tensor4d(random(N * OH * OW * K), [N, OH, OW, K]);
  }
  const peerOk = tf && tx && tw && tdy ? tf : null;
  const attrs = {
    strides: [stride, stride] as [number, number],
    pad: padding,
    dataFormat: "NHWC",
    dilations: [1, 1] as [number, number],
  };
  const rows: BenchRow[] = [];
  const gf = (ms: number | null) => (ms === null ? null : flops / ms / 1e6);
  const note = groups > 1 && !depthwise ? { note: "tfjs has no grouped conv" } : {};

  if (passes.has("fwd")) {
    const fwdOurs = await timeOurs(() => conv2dForward(x, w, null, geo));
    const fwdPeer = await peerTime(
      peerOk,
      4 * N * K * OH * OW,
      (t) =>
        depthwise
          ? t.depthwiseConv2d(tx as never, tw as never, stride, padding as never)
          : t.conv2d(tx as never, tw as never, stride, padding as never),
    );
    rows.push(row(`conv fwd ${label}`, "GFLOP/s", gf(fwdOurs)!, gf(fwdPeer), { shape, ...note }));
  }

  if (C > 3 && passes.has("bwd-input")) {
    const biOurs = await timeOurs(() => conv2dBackwardInput(dy, w, geo));
    const biPeer = await peerTime(peerOk, 4 * N * C * H * H, (t) =>
      t.engine().runKernel(
        depthwise ? "DepthwiseConv2dNativeBackpropInput" : "Conv2DBackpropInput",
        { dy: tdy!, filter: tw! },
        { ...attrs, inputShape: [N, H, H, C] },
      ) as TfTensor);
    rows.push(
      row(`conv bwd-input ${label}`, "GFLOP/s", gf(biOurs)!, gf(biPeer), { shape, ...note }),
    );
  }

  if (passes.has("bwd-weight")) {
    const bwOurs = await timeOurs(() => conv2dBackwardWeight(x, dy, geo));
    const bwPeer = await peerTime(peerOk, 4 * K * (C / groups) * k * k, (t) =>
      t.engine().runKernel(
        depthwise ? "DepthwiseConv2dNativeBackpropFilter" : "Conv2DBackpropFilter",
        { x: tx!, dy: tdy! },
        { ...attrs, filterShape: depthwise ? [k, k, C, 1] : [k, k, C, K] },
      ) as TfTensor);
    rows.push(
      row(`conv bwd-weight ${label}`, "GFLOP/s", gf(bwOurs)!, gf(bwPeer), { shape, ...note }),
    );
  }

  for (const t of [x, w, dy]) t.dispose();
  for (const t of [tx, tw, tdy]) t?.dispose();
  return rows;
}

const COPY_VEC4 = kernel("copy_vec4", copyVec4Src);

/** GB/s of a buffer-to-buffer copy of `bytes` (read + written). */
async function copyBandwidth(bytes: number): Promise<number> {
  const g = gpu();
  const usage = GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST | GPUBufferUsage.STORAGE;
  const a = g.device.createBuffer({ size: bytes, usage });
  const b = g.device.createBuffer({ size: bytes, usage });
  // many copies per synchronisation, as the BN rows (see `amortisedMs`)
  const ms = await amortisedMs(() => g.copy(a, 0, b, 0, bytes), { always: true });
  a.destroy();
  b.destroy();
  return 2 * bytes / ms / 1e6;
}

/**
 * GB/s of the fastest plain WGSL copy kernel (kernels/copy_vec4.wgsl) over `bytes` (read +
 * written), timed as `copyBandwidth`: the ceiling of a kernel that reads and writes each
 * element once, to set the BN rows against (`ofKernelCopy`) beside the adapter's memcpy.
 */
async function kernelCopyBandwidth(bytes: number): Promise<number> {
  const n = bytes / 4;
  const x = Tensor.empty([n], "f32", "kernel copy source");
  const y = Tensor.empty([n], "f32", "kernel copy destination");
  const ms = await amortisedMs(() =>
    gpu().dispatch(COPY_VEC4, {
      bindings: [x, y],
      params: [n / 4],
      workgroups: [Math.ceil(n / 4096)],
    }), { always: true });
  x.dispose();
  y.dispose();
  return 2 * bytes / ms / 1e6;
}

async function bnRows(
  N: number,
  C: number,
  H: number,
  copyGBs: number,
  kernelCopyGBs: number,
): Promise<BenchRow[]> {
  const n = N * C * H * H;
  const shape = `${N}x${C}x${H}x${H}`;
  const x = Tensor.fromArray(random(n), [N, C, H, H]);
  const dy = Tensor.fromArray(random(n), [N, C, H, H]);
  const params = [1, 0, 0, 1, 0.25].map((v) => Tensor.full([C], v));
  const [w, b, rm, rv, a] = params;
  const opts = { training: true };
  const fwd = await timeOurs(() => batchNormPrelu(x, w, b, rm, rv, a, opts), true);
  const fwdSplit = await timeOurs(() => prelu(batchNorm(x, w, b, rm, rv, opts), a), true);
  const fb = (fused: boolean) =>
    timeOurs(() => {
      for (const t of [x, w, b, a]) t.requiresGrad = true;
      const y = fused
        ? batchNormPrelu(x, w, b, rm, rv, a, opts)
        : prelu(batchNorm(x, w, b, rm, rv, opts), a);
      backward(y, dy);
      for (const t of [x, w, b, a]) {
        t.grad?.dispose();
        t.grad = null;
        t.requiresGrad = false;
      }
      return y;
    }, true);
  const both = await fb(true);
  const bothSplit = await fb(false);
  const gbs = (bytes: number, ms: number) => bytes / ms / 1e6;
  for (const t of [x, dy, ...params]) t.dispose();
  return [
    row(`bn+prelu fwd train`, "GB/s", gbs(8 * n, fwd), copyGBs, {
      shape,
      unfusedGBs: gbs(8 * n, fwdSplit),
      kernelCopyGBs,
      ofKernelCopy: gbs(8 * n, fwd) / kernelCopyGBs,
      note: "peer = copy bandwidth",
    }),
    row(`bn+prelu fwd+bwd train`, "GB/s", gbs(20 * n, both), copyGBs, {
      shape,
      unfusedGBs: gbs(20 * n, bothSplit),
      kernelCopyGBs,
      ofKernelCopy: gbs(20 * n, both) / kernelCopyGBs,
      note: "peer = copy bandwidth; bytes: x, y fwd + x, dy, dx bwd",
    }),
  ];
}

/**
 * The conv and BN+PReLU rows. With `quick`, two small rows only (smoke test).
 * tfjs is loaded lazily; if it cannot run, peers are null.
 */
export async function convRows(
  opts: { quick: boolean; args?: readonly string[] },
): Promise<BenchRow[]> {
  const flag = (name: string) =>
    opts.args?.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
  const passArg = flag("conv-pass");
  const passes: Passes = passArg ? new Set(passArg.split(",") as never[]) : ALL_PASSES;
  for (const p of passes) {
    if (!ALL_PASSES.has(p)) {
      throw new Error(`--conv-pass: unknown pass "${p}" (valid: fwd, bwd-input, bwd-weight)`);
    }
  }
  const match = flag("conv-match");
  amortise = !(opts.args?.includes("--sync-each") ?? false);
  const withBn = !opts.args?.includes("--no-bn");
  const bnOnly = opts.args?.includes("--bn-only") ?? false;
  await initGpu();
  let tf: Tfjs | null = null;
  try {
    if (!bnOnly) tf = await loadTfjs();
  } catch (e) {
    console.error(`tfjs peer unavailable: ${(e as Error).message}`);
  }
  const rows: BenchRow[] = [];
  if (opts.quick) {
    const copyGBs = await copyBandwidth(16 << 20);
    rows.push(...await convShapeRows(tf, ["r50 l4 3x3 @7", 512, 7, 512, 3, 1, 1, 1], 2));
    const kernelCopyGBs = await kernelCopyBandwidth(16 << 20);
    rows.push(...(await bnRows(2, 64, 28, copyGBs, kernelCopyGBs)).slice(0, 1));
    return rows;
  }
  for (const s of [...R50_SHAPES, ...MBF_SHAPES]) {
    if (bnOnly || (match && !s[0].includes(match))) continue;
    rows.push(...await convShapeRows(tf, s, 8, passes));
  }
  if (!withBn) return rows;
  // the references again before each shape: on a machine shared with other jobs the
  // bandwidth swings by 2× within a minute, and a row's ratio should compare like with like
  for (const [N, C, H] of [[8, 64, 112], [8, 128, 28], [8, 512, 7]]) {
    const copy = await copyBandwidth(64 << 20);
    rows.push(...await bnRows(N, C, H, copy, await kernelCopyBandwidth(64 << 20)));
  }
  return rows;
}
