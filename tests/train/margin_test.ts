// Fused margin softmax cross-entropy (ArcFace, CosFace, a combined margin, straight-through
// gradient, inter-class filtering) against a float64 CPU reference, over several cosine chunks
// and with rows whose class is on another rank (label −1).
import assert from "node:assert/strict";
import { SingleCollective } from "../../src/dist/single.ts";
import { Tensor } from "../../src/tensor/tensor.ts";
import { ARCFACE, COSFACE, type Margin, resolveMargin } from "../../src/train/margin.ts";
import { marginSoftmaxCrossEntropy } from "../../src/train/margin_softmax.ts";
import { assertClose, rand, setup } from "../util.ts";
import { refMarginSoftmax } from "./reference.ts";

await setup();

const B = 7, N = 45;
const SPLITS = [0, 16, 32, 45]; // three chunks

/** Random cosines with a few at and beyond ±1, and targets with θ + m2 > π. */
function cosines(): Float32Array {
  const c = new Float32Array(B * N);
  for (let i = 0; i < c.length; i++) c[i] = 2 * rand() - 1;
  c[3] = 1;
  c[N + 5] = -1;
  c[2 * N + 7] = 1.0000001;
  c[3 * N + 2] = -0.97; // row 3's target: θ ≈ 2.90, θ + 0.5 > π
  return c;
}
const LABELS = [4, 9, -1, 2, 40, -1, 17];

async function run(m: Margin) {
  const host = cosines();
  const coll = new SingleCollective();
  const chunks = [];
  for (let k = 0; k + 1 < SPLITS.length; k++) {
    const n = SPLITS[k + 1] - SPLITS[k];
    const part = new Float32Array(B * n);
    for (let r = 0; r < B; r++) {
      part.set(host.subarray(r * N + SPLITS[k], r * N + SPLITS[k + 1]), r * n);
    }
    chunks.push({ logits: Tensor.fromArray(part, [B, n]), col0: SPLITS[k] });
  }
  const labels = Tensor.fromArray(new Int32Array(LABELS), [B], "i32");
  const loss = await marginSoftmaxCrossEntropy(chunks, labels, m, coll);
  const got = new Float32Array(B * N);
  for (let k = 0; k < chunks.length; k++) {
    const n = SPLITS[k + 1] - SPLITS[k];
    const g = await chunks[k].logits.readFloat();
    for (let r = 0; r < B; r++) got.set(g.subarray(r * n, (r + 1) * n), r * N + SPLITS[k]);
    chunks[k].logits.dispose();
  }
  const l = (await loss.readFloat())[0];
  loss.dispose();
  labels.dispose();
  return { loss: l, grad: got, ref: refMarginSoftmax(host, LABELS, N, m) };
}

const cases: [string, Margin][] = [
  ["arcface", resolveMargin({ loss: "arcface" })],
  ["cosface", resolveMargin({ loss: "cosface" })],
  ["combined (0.9, 0.4, 0.15)", resolveMargin({ margin_list: [0.9, 0.4, 0.15] })],
  [
    "arcface straight-through",
    resolveMargin({ margin_list: ARCFACE, gradient: "straight-through" }),
  ],
  [
    "cosface + filtering 0.3",
    resolveMargin({ margin_list: COSFACE, interclass_filtering_threshold: 0.3 }),
  ],
  [
    "arcface + filtering 0.2",
    resolveMargin({ loss: "arcface", interclass_filtering_threshold: 0.2 }),
  ],
];

for (const [name, m] of cases) {
  Deno.test(`margin softmax ${name}: loss and cosine gradients match float64 within 1e-5`, async () => {
    const { loss, grad, ref } = await run(m);
    assert.ok(
      Math.abs(loss - ref.loss) <= 1e-5 * Math.abs(ref.loss),
      `loss ${loss} vs ${ref.loss}`,
    );
    assertClose(grad, ref.grad, 1e-5, `${name} cosine gradient`);
    // rows whose class is elsewhere get p (no −1 at a target), rows with a target sum to 0
    for (const r of [2, 5]) {
      for (let j = 0; j < N; j++) assert.ok(grad[r * N + j] >= 0, `row ${r} (label −1) col ${j}`);
    }
  });
}

Deno.test("margin config: both spellings, presets, errors that name the value", () => {
  assert.deepEqual(resolveMargin({ loss: "cosface" }), resolveMargin({ margin_list: [1, 0, 0.4] }));
  assert.equal(resolveMargin({}).m2, 0.5);
  assert.equal(resolveMargin({}).s, 64);
  assert.throws(() => resolveMargin({ loss: "sphereface" as "arcface" }), /sphereface/);
  assert.throws(() => resolveMargin({ loss: "arcface", margin_list: [1, 0, 0.4] }), /disagrees/);
  assert.throws(() => resolveMargin({ margin_list: [1, 0.5] }), /three/);
  assert.throws(
    () => resolveMargin({ interclass_filtering_threshold: 1.5 }),
    /1\.5 outside \[0, 1\)/,
  );
});
