/**
 * A caching allocator for GPU buffers: requests are rounded up to size classes, freed buffers
 * go back to a per-class free list and are reused by later requests, so a training loop that
 * allocates the same shapes every step creates no buffers after its first step. It counts the
 * bytes live and their peak: the "GPU memory" figure of every benchmark.
 *
 * @module
 */

/** Usage flags of every pooled buffer: storage for kernels, copies both ways. */
export const POOL_USAGE = 0x80 /* STORAGE */ | 0x04 /* COPY_SRC */ | 0x08; /* COPY_DST */

/**
 * Rounds a request up to its size class: 256-byte granules below 4 KiB, then four classes per
 * power of two (2^k · {1, 1.25, 1.5, 1.75}), so at most 25 % is wasted.
 */
export function sizeClass(bytes: number): number {
  if (bytes <= 256) return 256;
  if (bytes <= 4096) return Math.ceil(bytes / 256) * 256;
  const p = 2 ** Math.floor(Math.log2(bytes));
  const step = p / 4;
  return Math.ceil(bytes / step) * step;
}

/** Counters of an allocator. */
export interface AllocatorStats {
  /** Bytes (size classes) handed out and not yet freed. */
  liveBytes: number;
  /** Highest `liveBytes` since creation or the last `resetPeak()`. */
  peakBytes: number;
  /** Bytes held in free lists for reuse. */
  pooledBytes: number;
  /** Buffers created from the device (pool misses). */
  created: number;
  /** Requests served from the pool. */
  reused: number;
  /** Largest single request since creation or the last `resetPeak()` (bytes). */
  largest: number;
}

/** The caching allocator. One per device. */
export class Allocator {
  #device: GPUDevice;
  #maxBuffer: number;
  #free = new Map<number, GPUBuffer[]>();
  #sizes = new WeakMap<GPUBuffer, number>();
  #onDestroy: (buffer: GPUBuffer) => void;
  /** Live counters. */
  readonly stats: AllocatorStats = {
    liveBytes: 0,
    peakBytes: 0,
    pooledBytes: 0,
    created: 0,
    reused: 0,
    largest: 0,
  };

  /**
   * An allocator with empty pools.
   * @param device the device buffers come from
   * @param maxBuffer the adapter's `maxBufferSize`
   * @param onDestroy told of each buffer destroyed (so caches holding it can drop it)
   */
  constructor(device: GPUDevice, maxBuffer: number, onDestroy: (b: GPUBuffer) => void = () => {}) {
    this.#device = device;
    this.#maxBuffer = maxBuffer;
    this.#onDestroy = onDestroy;
  }

  /**
   * Returns a storage buffer of at least `bytes` bytes. Its contents are undefined.
   * @param bytes requested size
   * @param what who asks (op and shape), named in errors
   */
  alloc(bytes: number, what: string): GPUBuffer {
    if (!Number.isFinite(bytes) || bytes < 0) {
      throw new Error(`${what}: invalid buffer size ${bytes}`);
    }
    const size = sizeClass(Math.max(4, bytes));
    if (bytes > this.stats.largest) this.stats.largest = bytes;
    if (size > this.#maxBuffer) {
      throw new Error(
        `${what}: needs a buffer of ${bytes} bytes, beyond this adapter's maxBufferSize of ` +
          `${this.#maxBuffer} bytes; split the tensor into chunks or lower the batch size`,
      );
    }
    const list = this.#free.get(size);
    let buffer = list?.pop();
    if (buffer) {
      this.stats.reused++;
      this.stats.pooledBytes -= size;
    } else {
      buffer = this.#device.createBuffer({ size, usage: POOL_USAGE, label: what });
      this.#sizes.set(buffer, size);
      this.stats.created++;
    }
    this.stats.liveBytes += size;
    if (this.stats.liveBytes > this.stats.peakBytes) this.stats.peakBytes = this.stats.liveBytes;
    return buffer;
  }

  /** Returns a buffer to the pool. */
  free(buffer: GPUBuffer): void {
    const size = this.#sizes.get(buffer);
    if (size === undefined) throw new Error("Allocator.free: buffer was not allocated here");
    this.stats.liveBytes -= size;
    this.stats.pooledBytes += size;
    let list = this.#free.get(size);
    if (!list) this.#free.set(size, list = []);
    list.push(buffer);
  }

  /** The size class actually allocated for `buffer`. */
  sizeOf(buffer: GPUBuffer): number {
    return this.#sizes.get(buffer) ?? buffer.size;
  }

  /** Destroys every pooled (free) buffer, returning their memory to the driver. */
  trim(): void {
    for (const list of this.#free.values()) {
      for (const b of list) {
        this.#onDestroy(b);
        b.destroy();
      }
    }
    this.#free.clear();
    this.stats.pooledBytes = 0;
  }

  /** Starts a new peak measurement from the current live bytes. */
  resetPeak(): void {
    this.stats.peakBytes = this.stats.liveBytes;
    this.stats.largest = 0;
  }
}
