/**
 * conv2d forward and gradients against a float64 CPU reference at the layer shapes of
 * IResNet-50 and MobileFaceNet (batch 1–2, some spatial sizes reduced or made odd), every
 * stride/kernel/group combination they use, f16, finite differences, and bad input.
 */
import assert from "node:assert/strict";
import { gpu, initGpu } from "../../src/gpu/device.ts";
import { backward } from "../../src/tensor/autograd.ts";
import { conv2d, setIm2colBudget, setWgradSlots } from "../../src/tensor/ops/conv2d.ts";
import { Tensor } from "../../src/tensor/tensor.ts";
import {
  poisonPool,
  randn,
  type RefConv,
  refConv,
  refConvGrad,
  refOut,
  relErr,
  rounded,
  up,
} from "./conv_ref.ts";

await initGpu();

interface Case extends RefConv {
  label: string;
  bias?: boolean;
}

function c(
  label: string,
  N: number,
  C: number,
  H: number,
  W: number,
  K: number,
  k: number,
  stride: number,
  padding: number,
  groups = 1,
  bias = false,
): Case {
  return { label, N, C, H, W, K, KH: k, KW: k, stride, padding, groups, bias };
}

const CASES: Case[] = [
  // IResNet-50
  c("r50 stem 3→64 3x3 s1 @112", 1, 3, 112, 112, 64, 3, 1, 1),
  c("r50 64→64 3x3 s1 @56", 1, 64, 56, 56, 64, 3, 1, 1),
  c("r50 64→64 3x3 s2 @56 (real @112)", 1, 64, 56, 56, 64, 3, 2, 1),
  c("r50 ds 1x1 64→128 s2 @56", 1, 64, 56, 56, 128, 1, 2, 0),
  c("r50 64→128 3x3 s1 @28 (real @56)", 2, 64, 28, 28, 128, 3, 1, 1),
  c("r50 256→256 3x3 s2 @28", 1, 256, 28, 28, 256, 3, 2, 1),
  c("r50 ds 1x1 256→512 s2 @14", 1, 256, 14, 14, 512, 1, 2, 0),
  c("r50 512→512 3x3 s1 @7 batch 2", 2, 512, 7, 7, 512, 3, 1, 1),
  c("r50 512→512 3x3 s2 @14", 1, 512, 14, 14, 512, 3, 2, 1),
  // MobileFaceNet
  c("mbf stem 3→128 3x3 s2 @112", 1, 3, 112, 112, 128, 3, 2, 1),
  c("mbf 128→128 3x3 groups 64 @56", 1, 128, 56, 56, 128, 3, 1, 1, 64),
  c("mbf dw 128 3x3 s2 @56", 1, 128, 56, 56, 128, 3, 2, 1, 128),
  c("mbf dw 256 3x3 s1 @14 batch 2", 2, 256, 14, 14, 256, 3, 1, 1, 256),
  c("mbf dw 512 3x3 s2 @14", 1, 512, 14, 14, 512, 3, 2, 1, 512),
  c("mbf 1x1 128→128 @28", 1, 128, 28, 28, 128, 1, 1, 0),
  c("mbf 1x1 512→256 @7", 2, 512, 7, 7, 256, 1, 1, 0),
  c("mbf 1x1 256→512 @7", 1, 256, 7, 7, 512, 1, 1, 0),
  c("mbf GDC dw 512 7x7 p0 @7 batch 2", 2, 512, 7, 7, 512, 7, 1, 0, 512),
  // odd spatial sizes, bias
  c("odd 16→24 3x3 s1 @13x11", 1, 16, 13, 11, 24, 3, 1, 1),
  c("odd 16→8 3x3 s2 @15x9 bias", 2, 16, 15, 9, 8, 3, 2, 1, 1, true),
  c("odd 1x1 s2 @9x7 bias", 1, 12, 9, 7, 20, 1, 2, 0, 1, true),
  c("odd grouped 3x3 s2 @11x13 groups 4", 1, 8, 11, 13, 12, 3, 2, 1, 4),
  c("odd dw 3x3 s2 @7x7", 1, 16, 7, 7, 16, 3, 2, 1, 16),
  c("odd dense 7x7 p3 s2 @9x10", 1, 4, 9, 10, 8, 7, 2, 3),
  // depthwise kernels: tiled (8 pixels per invocation with bias, rows narrower than 4, 1×1
  // outputs of 8 images per invocation with a partial last group, channels not a multiple
  // of 4) and whole-plane (planes ≤ 64 elements, channels in groups of 4)
  c("odd dw 3x3 s1 @12x16 bias", 2, 8, 12, 16, 8, 3, 1, 1, 8, true),
  c("odd dw 3x3 s2 @5x5 C6", 1, 6, 5, 5, 6, 3, 2, 1, 6),
  c("odd dw 5x5 p0 @5x5 batch 10 C6", 10, 6, 5, 5, 6, 5, 1, 0, 6),
  c("mbf dw 256 3x3 s1 @7 batch 2", 2, 256, 7, 7, 256, 3, 1, 1, 256),
  c("odd dw 5x5 p0 @5x5 batch 5 C8 (4 images per invocation)", 5, 8, 5, 5, 8, 5, 1, 0, 8),
];

async function check(cs: Case, dtype: "f32" | "f16", tol: number) {
  const [OH, OW] = refOut(cs);
  const xs = [cs.N, cs.C, cs.H, cs.W];
  const ws = [cs.K, cs.C / cs.groups, cs.KH, cs.KW];
  const ys = [cs.N, cs.K, OH, OW];
  const xh = rounded(randn(xs.reduce((a, b) => a * b)), dtype);
  const wh = rounded(randn(ws.reduce((a, b) => a * b), 0.2), dtype);
  const bh = cs.bias ? rounded(randn(cs.K), dtype) : undefined;
  const dyh = rounded(randn(ys.reduce((a, b) => a * b)), dtype);
  const x = up(xh, xs, dtype), w = up(wh, ws, dtype), dy = up(dyh, ys, dtype);
  const b = bh ? up(bh, [cs.K], dtype) : null;
  x.requiresGrad = true;
  w.requiresGrad = true;
  if (b) b.requiresGrad = true;
  poisonPool(dy.size, dtype);
  const y = conv2d(x, w, { stride: cs.stride, padding: cs.padding, groups: cs.groups, bias: b });
  assert.deepEqual(y.shape, ys);
  const ref = refConv(cs, xh, wh, bh);
  const ey = relErr(await y.readFloat(), ref);
  poisonPool(x.size, dtype);
  poisonPool(w.size, dtype);
  backward(y, dy);
  const g = refConvGrad(cs, xh, wh, dyh);
  const ex = relErr(await x.grad!.readFloat(), g.dx);
  const ew = relErr(await w.grad!.readFloat(), g.dw);
  const eb = b ? relErr(await b.grad!.readFloat(), g.db) : 0;
  for (const t of [x, w, dy, y, b, x.grad, w.grad, b?.grad]) t?.dispose();
  const msg = `${cs.label} ${dtype}: y ${ey.toExponential(2)} dx ${ex.toExponential(2)} ` +
    `dw ${ew.toExponential(2)} db ${eb.toExponential(2)}`;
  assert.ok(ey < tol && ex < tol && ew < tol && eb < tol, msg);
}

for (const cs of CASES) {
  Deno.test(`conv2d f32 ${cs.label}`, () => check(cs, "f32", 1e-4));
}

Deno.test("conv2d f16 storage, f32 accumulation", async (t) => {
  if (!gpu().features.f16) {
    console.log("skipped: this adapter has no shader-f16");
    return;
  }
  for (const i of [4, 10, 12, 15, 17, 19, 20, 24, 27]) {
    await t.step(CASES[i].label, () => check(CASES[i], "f16", 1e-2));
  }
});

Deno.test("conv2d GEMM route splits the batch into im2col chunks", async (t) => {
  // A 1-byte budget leaves one image per chunk: 3 chunks forward and per backward-input phase
  // (the 1×1 s2 case: phase (0, 0) runs GEMM + scatter, C·kH·kW = 48).
  const old = setIm2colBudget(1);
  try {
    for (
      const cs of [
        c("chunked 16→24 3x3 s1 @10x9 batch 3", 3, 16, 10, 9, 24, 3, 1, 1),
        c("chunked 1x1 32→48 s2 @9x8 batch 3", 3, 32, 9, 8, 48, 1, 2, 0),
      ]
    ) {
      await t.step(cs.label, () => check(cs, "f32", 1e-4));
    }
  } finally {
    setIm2colBudget(old);
  }
});

Deno.test("conv2d weight gradient GEMM route: image slots, accumulation, chunks", async (t) => {
  // Slots 2 over 5 images: partial sums written, accumulated (beta = 1) over the next images,
  // then reduced; once straight off x (1×1 s1, pixels % 4 == 0), once through im2col in
  // chunks of one image (budget 1 byte: one slot, beta = 1 across chunks), once in one chunk.
  const oldSlots = setWgradSlots(2);
  try {
    for (
      const [cs, budget] of [
        [c("slots 1x1 32→40 s1 @8x6 batch 5", 5, 32, 8, 6, 40, 1, 1, 0), 0],
        [c("slots 3x3 16→24 s1 @7x9 batch 5", 5, 16, 7, 9, 24, 3, 1, 1), 0],
        [c("slots 3x3 16→24 s2 @9x7 batch 3 chunked", 3, 16, 9, 7, 24, 3, 2, 1), 1],
        [c("slots 1x1 32→16 s1 @7x7 batch 3 (im2col)", 3, 32, 7, 7, 16, 1, 1, 0), 0],
      ] as const
    ) {
      const old = budget ? setIm2colBudget(budget) : null;
      try {
        await t.step(`${cs.label} f32`, () => check(cs, "f32", 1e-4));
        if (gpu().features.f16) await t.step(`${cs.label} f16`, () => check(cs, "f16", 1e-2));
      } finally {
        if (old !== null) setIm2colBudget(old);
      }
    }
  } finally {
    setWgradSlots(oldSlots);
  }
});

Deno.test("conv2d gradients match finite differences of the float64 reference", async () => {
  for (
    const cs of [
      c("fd 3x3 s2 groups 2 bias", 2, 4, 5, 6, 6, 3, 2, 1, 2, true),
      c("fd 1x1 s1", 1, 3, 3, 4, 2, 1, 1, 0),
      c("fd dw 3x3 s1", 1, 3, 4, 5, 3, 3, 1, 1, 3),
    ]
  ) {
    const [OH, OW] = refOut(cs);
    const xs = [cs.N, cs.C, cs.H, cs.W], ws = [cs.K, cs.C / cs.groups, cs.KH, cs.KW];
    const xh = rounded(randn(xs.reduce((a, b) => a * b)));
    const wh = rounded(randn(ws.reduce((a, b) => a * b)));
    const bh = rounded(randn(cs.K));
    const r = rounded(randn(cs.N * cs.K * OH * OW));
    const loss = (xv: Float64Array, wv: Float64Array, bv: Float64Array) =>
      refConv(cs, xv, wv, bv).reduce((s, v, i) => s + v * r[i], 0);
    const fd = (v: Float64Array, f: () => number) =>
      v.map((_, i) => {
        const h = 1e-6, o = v[i];
        v[i] = o + h;
        const lp = f();
        v[i] = o - h;
        const lm = f();
        v[i] = o;
        return (lp - lm) / (2 * h);
      });
    const l = () => loss(xh, wh, bh);
    const [gx, gw, gb] = [fd(xh, l), fd(wh, l), fd(bh, l)];
    const x = up(xh, xs), w = up(wh, ws), b = up(bh, [cs.K]);
    for (const t of [x, w, b]) t.requiresGrad = true;
    const y = conv2d(x, w, { stride: cs.stride, padding: cs.padding, groups: cs.groups, bias: b });
    backward(y, up(r, y.shape));
    for (
      const [name, got, want] of [
        ["dx", x.grad!, gx],
        ["dw", w.grad!, gw],
        ["db", b.grad!, gb],
      ] as const
    ) {
      const e = relErr(await got.readFloat(), want);
      assert.ok(e < 1e-5, `${cs.label} ${name}: ${e}`);
    }
  }
});

Deno.test("conv2d rejects bad shapes with the layer, shapes and rule", () => {
  const x = Tensor.empty([1, 6, 5, 5]);
  const cases: [Tensor, Record<string, unknown>, RegExp][] = [
    [
      Tensor.empty([4, 5, 3, 3]),
      {},
      /conv2d\(l1\).*6 channels.*expects 5.*\[1, 6, 5, 5\].*\[4, 5, 3, 3\]/,
    ],
    [
      Tensor.empty([4, 1, 3, 3]),
      { groups: 4 },
      /conv2d\(l1\): groups 4 must divide.*input channels 6/,
    ],
    [
      Tensor.empty([5, 3, 3, 3]),
      { groups: 2 },
      /conv2d\(l1\): groups 2 must divide.*output channels 5/,
    ],
    [Tensor.empty([4, 6, 7, 7]), { padding: 0 }, /conv2d\(l1\): output would be empty/],
    [Tensor.empty([4, 6, 3]), {}, /conv2d\(l1\): weight must be 4-D/],
  ];
  for (const [w, o, re] of cases) {
    assert.throws(() => conv2d(x, w, { ...o, name: "l1" }), re);
  }
  assert.throws(
    () => conv2d(Tensor.empty([6, 8, 8]), Tensor.empty([4, 6, 3, 3])),
    /input must be 4-D/,
  );
});
