// Writes a backbone initialised from a seed as a PyTorch .pth, for make_parity_fixture.py.
// usage: deno run -A tests/nn/write_parity_weights.ts NET SEED OUT.pth
import { initGpu } from "../../src/gpu/device.ts";
import { writePth } from "../../src/io/pth.ts";
import { createBackbone } from "../../src/nn/backbones/mod.ts";

await initGpu();
const [net, seed, out] = Deno.args;
const model = createBackbone(net, { seed: Number(seed) });
await writePth(out, await model.stateDict());
