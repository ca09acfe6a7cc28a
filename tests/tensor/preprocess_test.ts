// Upload + normalise + flip on the GPU equals the reference's CPU preprocessing.
import assert from "node:assert/strict";
import { imagesToTensor } from "../../src/tensor/ops/preprocess.ts";
import { assertClose, poison, rand, setup } from "../util.ts";

const g = await setup();

Deno.test("uint8 HWC batches become normalised NCHW with per-image flips", async () => {
  for (const [n, size] of [[1, 112], [3, 7], [5, 112]]) {
    const img = Uint8Array.from({ length: n * size * size * 3 }, () => Math.floor(rand() * 256));
    const flips = Array.from({ length: n }, () => rand() < 0.5);
    flips[0] = true;
    poison([n, 3, size, size]);
    const t = imagesToTensor(img, n, { size, flips });
    assert.deepEqual(t.shape, [n, 3, size, size]);
    const ref = new Float64Array(n * 3 * size * size);
    for (let b = 0; b < n; b++) {
      for (let c = 0; c < 3; c++) {
        for (let y = 0; y < size; y++) {
          for (let x = 0; x < size; x++) {
            const sx = flips[b] ? size - 1 - x : x;
            const v = img[((b * size + y) * size + sx) * 3 + c];
            ref[((b * 3 + c) * size + y) * size + x] = (v / 255 - 0.5) / 0.5;
          }
        }
      }
    }
    assertClose(await t.read(), ref, 1e-6, `preprocess n=${n} size=${size}`);
  }
});

Deno.test({
  name: "preprocess writes f16 when asked; short inputs are rejected",
  ignore: !g.features.f16,
  fn: async () => {
    const img = new Uint8Array(2 * 4 * 4 * 3).fill(255);
    const t = imagesToTensor(img, 2, { size: 4, dtype: "f16" });
    assert.deepEqual(Array.from(await t.read()).slice(0, 3), [1, 1, 1]);
    assert.throws(
      () => imagesToTensor(img, 3, { size: 4 }),
      /imagesToTensor: 96 bytes for 3 images/,
    );
  },
});
