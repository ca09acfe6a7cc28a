/**
 * The GPU: adapter and device with the adapter's real limits and optional features, the
 * caching allocator, pipeline and bind-group caches, and command batching — every dispatch
 * of a step is recorded into one compute pass of one encoder and submitted once, when the
 * host needs a result (`read`) or calls `flush()`.
 *
 * Kernel parameters go to one uniform arena per batch: each dispatch gets a 256-byte slot,
 * and the arena is written with a single `writeBuffer` just before the submit. The slot
 * starts with one u32 element offset per bound storage range (ranges are bound at 256-byte
 * aligned windows, so a view can start anywhere), then the kernel's own parameters.
 *
 * @module
 */
import { Allocator } from "./allocator.ts";
import {
  type BufferRange,
  type Kernel,
  type Param,
  type ScalarType,
  typeHeader,
} from "./kernel.ts";
import { Profiler } from "./profiler.ts";

/** Optional features this device has enabled. */
export interface GpuFeatures {
  /** `shader-f16`: f16 storage and arithmetic in WGSL. */
  f16: boolean;
  /** `subgroups`: subgroup operations in WGSL. */
  subgroups: boolean;
  /** `timestamp-query`: GPU timestamps for the profiler. */
  timestamps: boolean;
}

/** Options of `initGpu`. */
export interface GpuOptions {
  /** Ask for a high-performance or low-power adapter. */
  powerPreference?: GPUPowerPreference;
  /** Enable the profiler (default: env `ARCFACE_PROFILE=1`). */
  profile?: boolean;
}

/** One dispatch to record. */
export interface DispatchSpec {
  /** Storage ranges, bound at @binding(1), (2), … in order. */
  bindings: readonly BufferRange[];
  /** Kernel parameters after the per-binding offsets. */
  params?: readonly Param[];
  /** Workgroup counts; y and z default to 1. */
  workgroups: readonly [number, number?, number?];
  /** `override` constants of the pipeline. */
  overrides?: Record<string, number>;
  /** Element type aliases of the kernel (see `typeHeader`). */
  types?: Record<string, ScalarType>;
  /** Name for the profiler, default the kernel's. */
  label?: string;
}

const SLOT = 256; // bytes of uniform arena per dispatch
const ARENA = 1 << 20; // bytes of uniform arena per batch (4096 dispatches)
const MAX_BIND_GROUPS = 50_000;

/** The device and everything that runs on it. Get it with `initGpu()` / `gpu()`. */
export class Gpu {
  /** The adapter. */
  readonly adapter: GPUAdapter;
  /** The device. */
  readonly device: GPUDevice;
  /** A one-line description of the adapter. */
  readonly description: string;
  /** The device's limits (the adapter's real ones). */
  readonly limits: GPUSupportedLimits;
  /** Enabled optional features. */
  readonly features: GpuFeatures;
  /** The caching buffer allocator. */
  readonly allocator: Allocator;
  /** The profiler, when enabled. */
  readonly profiler?: Profiler;
  /** Counters: submits and dispatches since creation. */
  readonly stats = { submits: 0, dispatches: 0, bindGroupsCreated: 0, pipelinesCreated: 0 };

  /** A small zeroed buffer for bindings a kernel variant does not read. */
  readonly dummy: BufferRange;

  #modules = new Map<string, GPUShaderModule>();
  #pipelines = new Map<string, { pipeline: GPUComputePipeline; id: number }>();
  #bindGroups = new Map<string, GPUBindGroup>();
  #bufferIds = new WeakMap<GPUBuffer, number>();
  #nextId = 1;
  #encoder?: GPUCommandEncoder;
  #pass?: GPUComputePassEncoder;
  #arena: GPUBuffer;
  #arenaHost = new ArrayBuffer(ARENA);
  #arenaI32 = new Int32Array(this.#arenaHost);
  #arenaF32 = new Float32Array(this.#arenaHost);
  #arenaUsed = 0;
  #error: Error | null = null;
  #lost = false;

  /** Wraps an adapter and its device (use `initGpu`, which picks and configures them). */
  constructor(adapter: GPUAdapter, device: GPUDevice, features: GpuFeatures, profile: boolean) {
    this.adapter = adapter;
    this.device = device;
    this.features = features;
    this.limits = device.limits;
    const info = adapter.info;
    this.description = [info.description || info.device, info.vendor && `vendor ${info.vendor}`]
      .filter(Boolean).join(", ") +
      (features.f16 ? ", shader-f16" : "") +
      (features.subgroups ? ", subgroups" : "");
    this.allocator = new Allocator(device, device.limits.maxBufferSize, () => {
      this.#bindGroups.clear();
    });
    if (profile) this.profiler = new Profiler(device, features.timestamps);
    this.#arena = device.createBuffer({
      size: ARENA,
      usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST,
      label: "uniform arena",
    });
    this.dummy = {
      buffer: device.createBuffer({ size: 256, usage: GPUBufferUsage.STORAGE, label: "dummy" }),
      byteOffset: 0,
      byteLength: 256,
      elementBytes: 4,
    };
    device.addEventListener("uncapturederror", (e) => {
      const err = (e as GPUUncapturedErrorEvent).error;
      this.#error ??= new Error(`WebGPU error: ${err.message}`);
    });
    device.lost.then((info) => {
      this.#lost = true;
      if (info.reason !== "destroyed") {
        console.error(`WebGPU device lost (${info.reason}): ${info.message}`);
      }
    });
  }

  /** Largest byte range one storage binding may cover. */
  get maxBinding(): number {
    return this.limits.maxStorageBufferBindingSize;
  }

  #id(buffer: GPUBuffer): number {
    let id = this.#bufferIds.get(buffer);
    if (id === undefined) this.#bufferIds.set(buffer, id = this.#nextId++);
    return id;
  }

  #pipeline(k: Kernel, spec: DispatchSpec): { pipeline: GPUComputePipeline; id: number } {
    const header = typeHeader(spec.types);
    const o = spec.overrides;
    const key = `${k.name}|${header}|${o ? JSON.stringify(o) : ""}`;
    let p = this.#pipelines.get(key);
    if (p) return p;
    const mkey = `${k.name}|${header}`;
    let module = this.#modules.get(mkey);
    if (!module) {
      module = this.device.createShaderModule({ code: header + k.code, label: k.name });
      this.#modules.set(mkey, module);
    }
    const pipeline = this.device.createComputePipeline({
      layout: "auto",
      compute: { module, entryPoint: k.entry, constants: o },
      label: key,
    });
    p = { pipeline, id: this.#nextId++ };
    this.stats.pipelinesCreated++;
    this.#pipelines.set(key, p);
    return p;
  }

  /**
   * Records one dispatch of `kernel`. Nothing runs until the batch is submitted.
   * @throws when a binding exceeds the adapter's binding limit, or on an earlier GPU error
   */
  dispatch(k: Kernel, spec: DispatchSpec): void {
    if (this.#error) this.#throwError();
    const [x, y = 1, z = 1] = spec.workgroups;
    if (x === 0 || y === 0 || z === 0) return;
    const maxWg = this.limits.maxComputeWorkgroupsPerDimension;
    if (x > maxWg || y > maxWg || z > maxWg) {
      throw new Error(
        `${spec.label ?? k.name}: ${x}×${y}×${z} workgroups exceed the adapter's ` +
          `maxComputeWorkgroupsPerDimension ${maxWg}`,
      );
    }
    const { pipeline, id } = this.#pipeline(k, spec);
    if (this.#arenaUsed + SLOT > ARENA || this.profiler?.full) this.flush();
    const slot = this.#arenaUsed;
    this.#arenaUsed += SLOT;
    const nb = spec.bindings.length;
    const params = spec.params ?? [];
    if ((nb + params.length) * 4 > SLOT) {
      throw new Error(`${k.name}: too many parameters (${nb + params.length} > ${SLOT / 4})`);
    }
    const base = slot / 4;
    const align = this.limits.minStorageBufferOffsetAlignment;
    let key = `${id}|${slot}`;
    const entries: GPUBindGroupEntry[] = [{
      binding: 0,
      resource: { buffer: this.#arena, offset: slot, size: SLOT },
    }];
    for (let i = 0; i < nb; i++) {
      const r = spec.bindings[i];
      const start = Math.floor(r.byteOffset / align) * align;
      const end = r.byteOffset + Math.max(r.byteLength, r.elementBytes);
      const size = Math.min(Math.ceil((end - start) / 4) * 4, r.buffer.size - start);
      if (size > this.maxBinding) {
        throw new Error(
          `${spec.label ?? k.name}: binding ${i} spans ${size} bytes, beyond this adapter's ` +
            `maxStorageBufferBindingSize of ${this.maxBinding} bytes; process it in chunks`,
        );
      }
      this.#arenaI32[base + i] = (r.byteOffset - start) / r.elementBytes;
      key += `|${this.#id(r.buffer)}:${start}:${size}`;
      entries.push({ binding: i + 1, resource: { buffer: r.buffer, offset: start, size } });
    }
    for (let j = 0; j < params.length; j++) {
      const v = params[j];
      if (typeof v === "number") this.#arenaI32[base + nb + j] = v;
      else this.#arenaF32[base + nb + j] = v.f32;
    }
    let group = this.#bindGroups.get(key);
    if (!group) {
      if (this.#bindGroups.size >= MAX_BIND_GROUPS) this.#bindGroups.clear();
      group = this.device.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries });
      this.#bindGroups.set(key, group);
      this.stats.bindGroupsCreated++;
    }
    const encoder = this.#encoder ??= this.device.createCommandEncoder();
    let pass: GPUComputePassEncoder;
    if (this.profiler) {
      this.#endPass();
      pass = encoder.beginComputePass({
        timestampWrites: this.profiler.next(spec.label ?? k.name),
      });
      this.#pass = pass;
    } else {
      pass = this.#pass ??= encoder.beginComputePass();
    }
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, group);
    pass.dispatchWorkgroups(x, y, z);
    this.stats.dispatches++;
  }

  #endPass() {
    if (this.#pass) {
      this.#pass.end();
      this.#pass = undefined;
    }
  }

  /** The open encoder, outside any compute pass (for copies). */
  encoder(): GPUCommandEncoder {
    this.#endPass();
    return this.#encoder ??= this.device.createCommandEncoder();
  }

  /** Records a buffer-to-buffer copy in order with the recorded dispatches. */
  copy(src: GPUBuffer, srcOffset: number, dst: GPUBuffer, dstOffset: number, bytes: number): void {
    if (bytes === 0) return;
    this.encoder().copyBufferToBuffer(src, srcOffset, dst, dstOffset, bytes);
  }

  /**
   * Records an upload of `data` into `dst` at `dstOffset`, ordered after what is already
   * recorded. Small uploads go through a mapped staging buffer and a copy in the batch.
   * From UPLOAD_DIRECT bytes up, what is recorded is submitted first and the data goes by
   * `queue.writeBuffer` (which runs before any later submit, so it must not jump ahead of
   * unsubmitted work): measured on lavapipe 2026-12-05, 64 MB took 19–38 ms that way against
   * 130–144 ms through a staging buffer, most of it spent filling the mapped range.
   */
  upload(dst: GPUBuffer, dstOffset: number, data: ArrayBufferView): void {
    const bytes = data.byteLength;
    if (bytes === 0) return;
    const padded = Math.ceil(bytes / 4) * 4;
    if (bytes >= UPLOAD_DIRECT) {
      this.flush();
      let src = new Uint8Array(data.buffer, data.byteOffset, bytes);
      if (padded !== bytes) {
        const p = new Uint8Array(padded);
        p.set(src);
        src = p;
      }
      this.device.queue.writeBuffer(dst, dstOffset, src as Uint8Array<ArrayBuffer>);
      return;
    }
    const staging = this.device.createBuffer({
      size: padded,
      usage: GPUBufferUsage.COPY_SRC,
      mappedAtCreation: true,
    });
    new Uint8Array(staging.getMappedRange()).set(
      new Uint8Array(data.buffer, data.byteOffset, bytes),
    );
    staging.unmap();
    this.copy(staging, 0, dst, dstOffset, padded);
    this.#staging.push(staging);
  }
  #staging: GPUBuffer[] = [];

  /** Submits everything recorded so far (one submit). A no-op when nothing is recorded. */
  flush(): void {
    if (!this.#encoder) return;
    this.#endPass();
    const after = this.profiler?.resolve(this.#encoder);
    if (this.#arenaUsed > 0) {
      this.device.queue.writeBuffer(this.#arena, 0, this.#arenaHost, 0, this.#arenaUsed);
    }
    this.device.queue.submit([this.#encoder.finish()]);
    this.stats.submits++;
    this.#encoder = undefined;
    this.#arenaUsed = 0;
    for (const s of this.#staging) s.destroy();
    this.#staging = [];
    after?.();
  }

  #flushing?: Promise<void>;
  /** Flushes once at the end of the current task, so reads issued together share a submit. */
  #flushSoon(): Promise<void> {
    return this.#flushing ??= Promise.resolve().then(() => {
      this.#flushing = undefined;
      this.flush();
    });
  }

  /**
   * Reads `bytes` bytes of `buffer` from `offset` once all recorded work has run. Submits
   * the batch (once for all reads issued in the same task); resolves when the copy is mapped.
   */
  async read(buffer: GPUBuffer, offset: number, bytes: number): Promise<ArrayBuffer> {
    const start = Math.floor(offset / 4) * 4;
    const size = Math.ceil((offset + bytes - start) / 4) * 4;
    const staging = this.device.createBuffer({
      size: Math.max(4, size),
      usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
    });
    if (size > 0) this.copy(buffer, start, staging, 0, size);
    else this.encoder();
    await this.#flushSoon();
    try {
      await staging.mapAsync(GPUMapMode.READ);
    } catch (e) {
      if (this.#lost) throw new Error("WebGPU device was lost; see the message above");
      throw e;
    }
    const out = staging.getMappedRange().slice(offset - start, offset - start + bytes);
    staging.unmap();
    staging.destroy();
    if (this.#error) this.#throwError();
    return out;
  }

  /** Waits until all submitted work has finished; throws an earlier GPU error if any. */
  async sync(): Promise<void> {
    this.flush();
    await this.device.queue.onSubmittedWorkDone();
    if (this.#error) this.#throwError();
  }

  #throwError(): never {
    const e = this.#error!;
    this.#error = null;
    throw e;
  }
}

/** Uploads of at least this many bytes go by `queue.writeBuffer` (see `Gpu.upload`). */
const UPLOAD_DIRECT = 256 << 10;

let current: Gpu | undefined;
let pending: Promise<Gpu> | undefined;

/** The message shown when no WebGPU adapter exists. */
export const NO_ADAPTER_MESSAGE: string =
  "No WebGPU adapter found. On a machine without a GPU, install Mesa's Vulkan CPU driver " +
  "(lavapipe): `sudo apt-get install mesa-vulkan-drivers`; with a GPU, install its Vulkan " +
  "driver. Deno's WebGPU needs no flag.";

/**
 * Creates (once) and returns the GPU: requests an adapter, enables `shader-f16`, `subgroups`
 * and `timestamp-query` when present, and asks for the adapter's full limits.
 * @throws with `NO_ADAPTER_MESSAGE` when there is no adapter
 */
export function initGpu(opts: GpuOptions = {}): Promise<Gpu> {
  if (current) return Promise.resolve(current);
  return pending ??= (async () => {
    const gpuApi = (globalThis.navigator as Navigator | undefined)?.gpu;
    if (!gpuApi) throw new Error(NO_ADAPTER_MESSAGE);
    const adapter = await gpuApi.requestAdapter({
      powerPreference: opts.powerPreference ?? "high-performance",
    });
    if (!adapter) throw new Error(NO_ADAPTER_MESSAGE);
    const want: GPUFeatureName[] = ["shader-f16", "subgroups", "timestamp-query"];
    const requiredFeatures = want.filter((f) => adapter.features.has(f));
    const requiredLimits: Record<string, number> = {};
    for (
      const name of [
        "maxStorageBufferBindingSize",
        "maxBufferSize",
        "maxComputeWorkgroupStorageSize",
        "maxComputeInvocationsPerWorkgroup",
        "maxComputeWorkgroupSizeX",
        "maxComputeWorkgroupSizeY",
        "maxComputeWorkgroupsPerDimension",
        "maxStorageBuffersPerShaderStage",
      ] as const
    ) requiredLimits[name] = adapter.limits[name];
    const device = await adapter.requestDevice({ requiredFeatures, requiredLimits });
    const features: GpuFeatures = {
      f16: device.features.has("shader-f16"),
      subgroups: device.features.has("subgroups"),
      timestamps: device.features.has("timestamp-query"),
    };
    const profile = opts.profile ?? Deno.env.get("ARCFACE_PROFILE") === "1";
    current = new Gpu(adapter, device, features, profile);
    return current;
  })();
}

/** The GPU created by `initGpu()`; throws if it was not awaited first. */
export function gpu(): Gpu {
  if (!current) throw new Error("GPU not initialised: await initGpu() first");
  return current;
}
