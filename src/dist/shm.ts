/**
 * POSIX shared memory and futexes through Deno FFI (glibc's `libc.so.6`, Linux): the
 * transport under the collectives of the ranks of one machine (`shm_collective.ts`).
 *
 * A `SharedRegion` is a `shm_open` object mapped `MAP_SHARED` into this process; its bytes are
 * an ordinary (non-shared) ArrayBuffer over the mapping, on which `Atomics.load/store/add`
 * work but `Atomics.wait` does not, so waiting goes through the `futex` system call instead
 * (shared, not `FUTEX_PRIVATE`, so it wakes waiters in other processes). A wait runs on
 * Deno's FFI thread pool (`nonblocking`), so the event loop, and the GPU's callbacks, keep
 * running while a rank waits for its peers.
 *
 * @module
 */

const O_RDWR = 0o2;
const O_CREAT = 0o100;
const O_EXCL = 0o200;
const PROT_RW = 0x1 | 0x2;
const MAP_SHARED = 0x1;
const SYS_FUTEX = 202n; // x86_64
const FUTEX_WAIT = 0;
const FUTEX_WAKE = 1;
const ERRNO: Record<number, string> = {
  1: "EPERM",
  2: "ENOENT",
  3: "ESRCH",
  4: "EINTR",
  11: "EAGAIN",
  12: "ENOMEM",
  13: "EACCES",
  17: "EEXIST",
  22: "EINVAL",
  24: "EMFILE",
  28: "ENOSPC",
  110: "ETIMEDOUT",
};

const SYMBOLS = {
  shm_open: { parameters: ["buffer", "i32", "u32"], result: "i32" },
  shm_unlink: { parameters: ["buffer"], result: "i32" },
  ftruncate: { parameters: ["i32", "i64"], result: "i32" },
  fstat: { parameters: ["i32", "buffer"], result: "i32" },
  mmap: { parameters: ["pointer", "usize", "i32", "i32", "i32", "i64"], result: "pointer" },
  munmap: { parameters: ["pointer", "usize"], result: "i32" },
  close: { parameters: ["i32"], result: "i32" },
  kill: { parameters: ["i32", "i32"], result: "i32" },
  prctl: { parameters: ["i32", "u64", "u64", "u64", "u64"], result: "i32" },
  getppid: { parameters: [], result: "i32" },
  __errno_location: { parameters: [], result: "pointer" },
  futex_wait: {
    name: "syscall",
    parameters: ["i64", "pointer", "i32", "i32", "buffer", "pointer", "i32"],
    result: "i64",
    nonblocking: true,
  },
  futex_wake: {
    name: "syscall",
    parameters: ["i64", "pointer", "i32", "i32", "pointer", "pointer", "i32"],
    result: "i64",
  },
} as const;

let lib: Deno.DynamicLibrary<typeof SYMBOLS> | null = null;

function libc(): Deno.DynamicLibrary<typeof SYMBOLS>["symbols"] {
  if (!lib) {
    if (Deno.build.os !== "linux" || Deno.build.arch !== "x86_64") {
      throw new Error(
        `shared-memory collectives need Linux on x86_64 (this is ${Deno.build.os} ` +
          `${Deno.build.arch}); run one process per machine or use a world of one`,
      );
    }
    lib = Deno.dlopen("libc.so.6", SYMBOLS);
  }
  return lib.symbols;
}

function errno(): string {
  const p = libc().__errno_location();
  const e = p ? new Deno.UnsafePointerView(p).getInt32() : 0;
  return ERRNO[e] ?? `errno ${e}`;
}

function cName(name: string): Uint8Array {
  if (!/^\/[A-Za-z0-9._-]{1,200}$/.test(name)) {
    throw new Error(
      `shared memory name "${name}": use "/" followed by 1–200 letters, digits, ".", "_" or "-"`,
    );
  }
  return new TextEncoder().encode(name + "\0");
}

/** A mapped POSIX shared-memory object. */
export class SharedRegion {
  /** The mapped bytes (valid until `close`). */
  readonly bytes: ArrayBuffer;
  #ptr: Deno.PointerObject | null;

  private constructor(readonly name: string, readonly size: number, ptr: Deno.PointerObject) {
    this.#ptr = ptr;
    this.bytes = Deno.UnsafePointerView.getArrayBuffer(ptr, size);
  }

  /**
   * Creates `name` (which must not exist) with `size` zero bytes and maps it.
   * @throws naming the object and the system error (EEXIST: another job uses the name)
   */
  static create(name: string, size: number): SharedRegion {
    const c = libc();
    const n = cName(name);
    const fd = c.shm_open(n, O_RDWR | O_CREAT | O_EXCL, 0o600);
    if (fd < 0) {
      throw new Error(`shm_open("${name}", create): ${errno()}; is another job using the name?`);
    }
    try {
      if (c.ftruncate(fd, BigInt(size)) !== 0) {
        const e = errno();
        c.shm_unlink(n);
        throw new Error(`ftruncate("${name}", ${size} bytes): ${e}; is /dev/shm large enough?`);
      }
      return SharedRegion.#map(name, fd, size);
    } finally {
      c.close(fd);
    }
  }

  /**
   * Maps the existing object `name`, or returns null while it does not exist yet.
   * @throws on other system errors, or when it is smaller than `minSize`
   */
  static open(name: string, minSize: number): SharedRegion | null {
    const c = libc();
    const fd = c.shm_open(cName(name), O_RDWR, 0);
    if (fd < 0) {
      const e = errno();
      if (e === "ENOENT") return null;
      throw new Error(`shm_open("${name}"): ${e}`);
    }
    try {
      const st = new BigInt64Array(18); // struct stat (144 bytes on x86_64); st_size at 48
      if (c.fstat(fd, new Uint8Array(st.buffer)) !== 0) {
        throw new Error(`fstat("${name}"): ${errno()}`);
      }
      const size = Number(st[6]);
      if (size < minSize) return null; // still being sized by its creator
      return SharedRegion.#map(name, fd, size);
    } finally {
      c.close(fd);
    }
  }

  static #map(name: string, fd: number, size: number): SharedRegion {
    const p = libc().mmap(null, BigInt(size), PROT_RW, MAP_SHARED, fd, 0n);
    if (!p || Deno.UnsafePointer.value(p) === 0xffffffffffffffffn) {
      throw new Error(`mmap("${name}", ${size} bytes): ${errno()}`);
    }
    return new SharedRegion(name, size, p);
  }

  /** Removes the name (mappings stay valid until closed); false when it was already gone. */
  static unlink(name: string): boolean {
    return libc().shm_unlink(cName(name)) === 0;
  }

  #addr(byteOffset: number): Deno.PointerObject {
    if (!this.#ptr) throw new Error(`shared region "${this.name}" is closed`);
    if (byteOffset % 4 !== 0 || byteOffset < 0 || byteOffset + 4 > this.size) {
      throw new Error(`futex at byte ${byteOffset} of a ${this.size}-byte region`);
    }
    return Deno.UnsafePointer.offset(this.#ptr, byteOffset) as Deno.PointerObject;
  }

  /**
   * Sleeps while the i32 at `byteOffset` equals `expected`, for at most `timeoutMs`. Returns
   * when woken, on timeout, or at once when the value already differs (callers re-check).
   */
  async wait(byteOffset: number, expected: number, timeoutMs: number): Promise<void> {
    const ts = new BigInt64Array([
      BigInt(Math.floor(timeoutMs / 1000)),
      BigInt(Math.round((timeoutMs % 1000) * 1e6)),
    ]);
    await libc().futex_wait(
      SYS_FUTEX,
      this.#addr(byteOffset),
      FUTEX_WAIT,
      expected | 0,
      new Uint8Array(ts.buffer),
      null,
      0,
    );
  }

  /** Wakes every process waiting on the i32 at `byteOffset`. */
  wake(byteOffset: number): void {
    libc().futex_wake(SYS_FUTEX, this.#addr(byteOffset), FUTEX_WAKE, 0x7fffffff, null, null, 0);
  }

  /** Unmaps the region (its `bytes` must not be used afterwards). */
  close(): void {
    if (!this.#ptr) return;
    libc().munmap(this.#ptr, BigInt(this.size));
    this.#ptr = null;
  }
}

/** True while process `pid` exists (signal 0; a process of another user counts as alive). */
export function processAlive(pid: number): boolean {
  if (libc().kill(pid, 0) === 0) return true;
  return errno() !== "ESRCH";
}

/**
 * Asks the kernel to send this process SIGTERM when its parent exits (prctl
 * PR_SET_PDEATHSIG), so ranks never outlive a launcher that was killed. Returns false when the
 * parent is already gone (its pid is no longer our parent's).
 */
export function terminateWithParent(parentPid: number): boolean {
  const c = libc();
  if (c.prctl(1, /* PR_SET_PDEATHSIG */ 15n, /* SIGTERM */ 0n, 0n, 0n) !== 0) {
    throw new Error(`prctl(PR_SET_PDEATHSIG): ${errno()}`);
  }
  return c.getppid() === parentPid;
}
