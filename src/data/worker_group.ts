/**
 * The plumbing shared by the worker pools (`DecodePool` for training data, `AlignPool` for IJB
 * faces): start N module workers, send each its init message and wait for its `ready` reply
 * (an `error` reply or a failed start terminates them all), then route every reply to the
 * request with its `id`. A worker that crashes rejects everything it had pending and breaks
 * the group; a closed group rejects too; nothing ever waits forever. What a reply means is the
 * pool's business: requests resolve with the raw reply message.
 *
 * @module
 */

/** Replies a worker of a group posts: `ready` after init, otherwise a reply to request `id`. */
export type GroupReply =
  | { type: "ready" }
  | { type: "error"; id: number; message: string }
  | { type: string; id: number };

interface Pending<R> {
  resolve: (m: R) => void;
  reject: (e: Error) => void;
}

/** A started set of workers with request/reply routing by id. */
export class WorkerGroup<R extends GroupReply> {
  readonly #label: string;
  readonly #workers: Worker[];
  readonly #pending: Map<number, Pending<R>>[];
  #nextId = 0;
  #broken: Error | null = null;

  private constructor(label: string, workers: Worker[]) {
    this.#label = label;
    this.#workers = workers;
    this.#pending = workers.map(() => new Map());
    workers.forEach((w, i) => this.#wire(w, i));
  }

  /**
   * Starts `count` workers of module `url`, posts `init(w)` to each and waits for every
   * `ready` reply; resolves with the group and the ready messages in worker order. `label`
   * names the workers in errors (`decode worker 1: …`).
   */
  static async start<R extends GroupReply>(
    url: URL,
    count: number,
    label: string,
    init: (w: number) => unknown,
  ): Promise<{ group: WorkerGroup<R>; ready: Extract<R, { type: "ready" }>[] }> {
    const workers: Worker[] = [];
    const ready: Promise<Extract<R, { type: "ready" }>>[] = [];
    for (let w = 0; w < count; w++) {
      const worker = new Worker(url, { type: "module" });
      workers.push(worker);
      ready.push(
        new Promise((resolve, reject) => {
          worker.onmessage = (e: MessageEvent<R>) => {
            const m = e.data;
            if (m.type === "ready") resolve(m as Extract<R, { type: "ready" }>);
            else if (m.type === "error") {
              reject(new Error(`${label} worker ${w}: ${(m as { message: string }).message}`));
            }
          };
          worker.onerror = (e) => {
            e.preventDefault();
            reject(new Error(`${label} worker ${w} failed to start: ${e.message}`));
          };
        }),
      );
      worker.postMessage(init(w));
    }
    try {
      const msgs = await Promise.all(ready);
      return { group: new WorkerGroup<R>(label, workers), ready: msgs };
    } catch (e) {
      for (const w of workers) w.terminate();
      throw e;
    }
  }

  #wire(worker: Worker, w: number) {
    const pending = this.#pending[w];
    worker.onmessage = (e: MessageEvent<R>) => {
      const m = e.data;
      if (m.type === "ready") return;
      const p = pending.get((m as { id: number }).id);
      if (!p) return;
      pending.delete((m as { id: number }).id);
      p.resolve(m);
    };
    const die = (why: string) => {
      const err = new Error(`${this.#label} worker ${w} died: ${why}`);
      this.#broken ??= err;
      for (const p of pending.values()) p.reject(err);
      pending.clear();
    };
    worker.onerror = (e) => {
      e.preventDefault();
      die(e.message);
    };
    worker.onmessageerror = () => die("a message could not be deserialised");
  }

  /** Number of workers. */
  get size(): number {
    return this.#workers.length;
  }

  /** Throws the error that broke the group (a dead worker, or close), if any. */
  check(): void {
    if (this.#broken) throw this.#broken;
  }

  /**
   * Posts `build(id)` (a message carrying a fresh `id`) to worker `w`; resolves with the
   * worker's reply to that id, rejects when the worker dies or the group closes first.
   */
  request(w: number, build: (id: number) => unknown): Promise<R> {
    const id = this.#nextId++;
    return new Promise<R>((resolve, reject) => {
      if (this.#broken) return reject(this.#broken);
      this.#pending[w].set(id, { resolve, reject });
      this.#workers[w].postMessage(build(id));
    });
  }

  /** Stops the workers; pending requests reject with `reason`. */
  close(reason: string): void {
    const err = new Error(reason);
    this.#broken ??= err;
    this.#workers.forEach((worker, w) => {
      for (const p of this.#pending[w].values()) p.reject(err);
      this.#pending[w].clear();
      worker.terminate();
    });
  }
}
