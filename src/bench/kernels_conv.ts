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
 * @module
 */
import { gpu, initGpu } from "../gpu/device.ts";
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

const TIMING = { warmup: 1, minRuns: 1, minMs: 600 };

async function timeOurs(fn: () => Tensor): Promise<number> {
  return await timeMedian(async () => {
    tidy(() => {
      fn();
    });
    await gpu().sync();
  }, TIMING);
}

/** Median ms of a tfjs op, synchronised on tfjs's queue (see `syncTfjs`). */
async function peerTime(tf: Tfjs | null, fn: (tf: Tfjs) => TfTensor): Promise<number | null> {
  if (!tf) return null;
  try {
    return await timeMedian(async () => {
      const out = fn(tf);
      await syncTfjs(tf, out);
      out.dispose();
    }, TIMING);
  } catch (e) {
    console.error(`tfjs peer failed: ${(e as Error).message}`);
    return null;
  }
}

async function convShapeRows(tf: Tfjs | null, s: Shape, N: number): Promise<BenchRow[]> {
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

  const fwdOurs = await timeOurs(() => conv2dForward(x, w, null, geo));
  const fwdPeer = await peerTime(
    peerOk,
    (t) =>
      depthwise
        ? t.depthwiseConv2d(tx as never, tw as never, stride, padding as never)
        : t.conv2d(tx as never, tw as never, stride, padding as never),
  );
  rows.push(row(`conv fwd ${label}`, "GFLOP/s", gf(fwdOurs)!, gf(fwdPeer), { shape, ...note }));

  if (C > 3) {
    const biOurs = await timeOurs(() => conv2dBackwardInput(dy, w, geo));
    const biPeer = await peerTime(peerOk, (t) =>
      t.engine().runKernel(
        depthwise ? "DepthwiseConv2dNativeBackpropInput" : "Conv2DBackpropInput",
        { dy: tdy!, filter: tw! },
        { ...attrs, inputShape: [N, H, H, C] },
      ) as TfTensor);
    rows.push(
      row(`conv bwd-input ${label}`, "GFLOP/s", gf(biOurs)!, gf(biPeer), { shape, ...note }),
    );
  }

  const bwOurs = await timeOurs(() => conv2dBackwardWeight(x, dy, geo));
  const bwPeer = await peerTime(peerOk, (t) =>
    t.engine().runKernel(
      depthwise ? "DepthwiseConv2dNativeBackpropFilter" : "Conv2DBackpropFilter",
      { x: tx!, dy: tdy! },
      { ...attrs, filterShape: depthwise ? [k, k, C, 1] : [k, k, C, K] },
    ) as TfTensor);
  rows.push(
    row(`conv bwd-weight ${label}`, "GFLOP/s", gf(bwOurs)!, gf(bwPeer), { shape, ...note }),
  );

  for (const t of [x, w, dy]) t.dispose();
  for (const t of [tx, tw, tdy]) t?.dispose();
  return rows;
}

/** GB/s of a buffer-to-buffer copy of `bytes` (read + written). */
async function copyBandwidth(bytes: number): Promise<number> {
  const g = gpu();
  const usage = GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST | GPUBufferUsage.STORAGE;
  const a = g.device.createBuffer({ size: bytes, usage });
  const b = g.device.createBuffer({ size: bytes, usage });
  const ms = await timeMedian(async () => {
    g.copy(a, 0, b, 0, bytes);
    await g.sync();
  }, { warmup: 1, minRuns: 3, minMs: 300 });
  a.destroy();
  b.destroy();
  return 2 * bytes / ms / 1e6;
}

async function bnRows(N: number, C: number, H: number, copyGBs: number): Promise<BenchRow[]> {
  const n = N * C * H * H;
  const shape = `${N}x${C}x${H}x${H}`;
  const x = Tensor.fromArray(random(n), [N, C, H, H]);
  const dy = Tensor.fromArray(random(n), [N, C, H, H]);
  const params = [1, 0, 0, 1, 0.25].map((v) => Tensor.full([C], v));
  const [w, b, rm, rv, a] = params;
  const opts = { training: true };
  const fwd = await timeOurs(() => batchNormPrelu(x, w, b, rm, rv, a, opts));
  const fwdSplit = await timeOurs(() => prelu(batchNorm(x, w, b, rm, rv, opts), a));
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
    });
  const both = await fb(true);
  const bothSplit = await fb(false);
  const gbs = (bytes: number, ms: number) => bytes / ms / 1e6;
  for (const t of [x, dy, ...params]) t.dispose();
  return [
    row(`bn+prelu fwd train`, "GB/s", gbs(8 * n, fwd), copyGBs, {
      shape,
      unfusedGBs: gbs(8 * n, fwdSplit),
      note: "peer = copy bandwidth",
    }),
    row(`bn+prelu fwd+bwd train`, "GB/s", gbs(20 * n, both), copyGBs, {
      shape,
      unfusedGBs: gbs(20 * n, bothSplit),
      note: "peer = copy bandwidth; bytes: x, y fwd + x, dy, dx bwd",
    }),
  ];
}

/**
 * The conv and BN+PReLU rows. With `quick`, two small rows only (smoke test).
 * tfjs is loaded lazily; if it cannot run, peers are null.
 */
export async function convRows(opts: { quick: boolean }): Promise<BenchRow[]> {
  await initGpu();
  let tf: Tfjs | null = null;
  try {
    tf = await loadTfjs();
  } catch (e) {
    console.error(`tfjs peer unavailable: ${(e as Error).message}`);
  }
  const rows: BenchRow[] = [];
  const copyGBs = await copyBandwidth(opts.quick ? 16 << 20 : 64 << 20);
  if (opts.quick) {
    rows.push(...await convShapeRows(tf, ["r50 l4 3x3 @7", 512, 7, 512, 3, 1, 1, 1], 2));
    rows.push(...(await bnRows(2, 64, 28, copyGBs)).slice(0, 1));
    return rows;
  }
  for (const s of [...R50_SHAPES, ...MBF_SHAPES]) rows.push(...await convShapeRows(tf, s, 8));
  rows.push(...await bnRows(8, 64, 112, copyGBs));
  rows.push(...await bnRows(8, 128, 28, copyGBs));
  rows.push(...await bnRows(8, 512, 7, copyGBs));
  return rows;
}
