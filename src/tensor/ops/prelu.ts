/**
 * PReLU with one slope per channel (dim 1 of (N, C, H, W) or (N, C)), as PyTorch's
 * `F.prelu(x, weight)`, with gradients to the input and the slopes. Slopes are f32; the
 * activation f32 or f16. Kernels: `prelu` (elementwise forward / backward-to-input, the
 * slope uniform per workgroup) and `prelu_slope_grad` (one workgroup per channel).
 * After a BatchNorm prefer the fused `batchNormPrelu`.
 *
 * @module
 */
import preluSrc from "../../../kernels/prelu.wgsl" with { type: "text" };
import slopeSrc from "../../../kernels/prelu_slope_grad.wgsl" with { type: "text" };
import { gpu } from "../../gpu/device.ts";
import { kernel } from "../../gpu/kernel.ts";
import { record } from "../autograd.ts";
import { floatType } from "../launch.ts";
import { fmtShape, Tensor } from "../tensor.ts";

const PRELU = kernel("prelu", preluSrc);
const SLOPE_GRAD = kernel("prelu_slope_grad", slopeSrc);

/**
 * y = x > 0 ? x : slope[c]·x for the channel c of each element.
 * @throws when `slope` is not f32 [C] for the input's C channels
 */
export function prelu(x: Tensor, slope: Tensor, name?: string): Tensor {
  const op = `prelu${name ? `(${name})` : ""}`;
  if (x.rank !== 2 && x.rank !== 4) {
    throw new Error(`${op}: input must be (N, C) or (N, C, H, W); got ${fmtShape(x.shape)}`);
  }
  const T = floatType(op, x);
  const [N, C] = x.shape;
  const HW = x.rank === 4 ? x.shape[2] * x.shape[3] : 1;
  if (slope.rank !== 1 || slope.shape[0] !== C || slope.dtype !== "f32") {
    throw new Error(
      `${op}: slope must be f32 [${C}] for input ${fmtShape(x.shape)} with ${C} channels; ` +
        `got ${slope.dtype} ${fmtShape(slope.shape)}`,
    );
  }
  const g = gpu();
  const y = Tensor.empty(x.shape, x.dtype, "prelu");
  const grid: [number, number, number] = [Math.ceil(HW / 256), C, N];
  g.dispatch(PRELU, {
    label: "prelu",
    bindings: [x, g.dummy, slope, y],
    params: [C, HW],
    workgroups: grid,
    overrides: { BACKWARD: 0 },
    types: { T },
  });
  return record("prelu", [x, slope], y, (dy, [xs, ss]) => {
    let dx: Tensor | null = null;
    if (x.requiresGrad) {
      dx = Tensor.empty(x.shape, x.dtype, "prelu backward");
      g.dispatch(PRELU, {
        label: "prelu backward",
        bindings: [xs, dy, ss, dx],
        params: [C, HW],
        workgroups: grid,
        overrides: { BACKWARD: 1 },
        types: { T },
      });
    }
    let da: Tensor | null = null;
    if (slope.requiresGrad) {
      da = Tensor.empty([C], "f32", "prelu slope grad");
      g.dispatch(SLOPE_GRAD, {
        label: "prelu slope grad",
        bindings: [xs, dy, da],
        params: [N, C, HW],
        workgroups: [C],
        types: { T },
      });
    }
    return [dx, da];
  }, [x, slope]);
}
