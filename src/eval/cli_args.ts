/**
 * Argument checks shared by the `deno task eval` targets.
 *
 * @module
 */
import type { EngineKind } from "./engine.ts";

/**
 * The positive integer an option gave (`undefined` when it was absent); throws naming the
 * option and the value otherwise.
 */
export function positiveInt(v: string | undefined, what: string): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) {
    throw new Error(`${what} must be a positive integer, got ${v}`);
  }
  return n;
}

/** The `parseArgs` options, shared by every eval target, that choose and run its engine. */
export const ENGINE_ARGS = {
  model: { type: "string" },
  network: { type: "string" },
  engine: { type: "string", default: "auto" },
  batch: { type: "string" },
  threads: { type: "string" },
} as const;

/** How a target opens its engine (`openEngine`). */
export interface EngineArgs {
  /** `.onnx` model or `.pth` / `.safetensors` checkpoint. */
  model: string;
  /** Network of a checkpoint. */
  network?: string;
  /** Engine (default auto: by the model's extension). */
  engine?: EngineKind;
  /** Images per forward (default 32). */
  batch?: number;
  /** onnxruntime threads. */
  threads?: number;
}

/**
 * Checks and converts the values `ENGINE_ARGS` parsed.
 * @throws naming the option: no --model, an unknown --engine, a --batch or --threads that
 *   is not a positive integer
 */
export function engineArgs(values: {
  model?: string;
  network?: string;
  engine?: string;
  batch?: string;
  threads?: string;
}): EngineArgs {
  if (!values.model) throw new Error("--model FILE is required (.onnx, .pth or .safetensors)");
  const engine = (values.engine ?? "auto") as EngineKind;
  if (!["auto", "onnx", "webgpu"].includes(engine)) {
    throw new Error(`--engine must be auto, onnx or webgpu, got ${values.engine}`);
  }
  return {
    model: values.model,
    network: values.network,
    engine,
    batch: positiveInt(values.batch, "--batch"),
    threads: positiveInt(values.threads, "--threads"),
  };
}
