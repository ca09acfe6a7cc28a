/**
 * The checked-in generated kernels equal their generators' output, so an edit to a generator
 * cannot silently leave the kernel the runtime imports behind (or the other way round).
 *
 * @module
 */
import assert from "node:assert/strict";
import { generateGemm } from "../../kernels/gemm_gen.ts";
import { generatePairScore } from "../../kernels/pair_score_gen.ts";

const here = (p: string) => new URL(`../../kernels/${p}`, import.meta.url);

for (
  const [file, gen] of [
    ["gemm.wgsl", () => generateGemm(16, 8)],
    ["pair_score.wgsl", () => generatePairScore(16, 8)],
  ] as const
) {
  Deno.test(`kernels/${file} is what its generator writes`, async () => {
    const onDisk = await Deno.readTextFile(here(file));
    assert.ok(
      onDisk === gen(),
      `kernels/${file} differs from its generator's output; regenerate it with ` +
        `deno run -A kernels/${file.replace(".wgsl", "_gen.ts")} > kernels/${file}`,
    );
  });
}
