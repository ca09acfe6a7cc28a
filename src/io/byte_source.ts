/**
 * Random access to the bytes of a file or of an in-memory buffer, so readers of large files
 * (`.pth`, safetensors) fetch only the ranges they need with positioned reads.
 *
 * @module
 */

/** Something whose bytes can be read at any offset. */
export interface ByteSource {
  /** Name used in error messages (usually the file path). */
  readonly name: string;
  /** Total size in bytes. */
  readonly size: number;
  /**
   * Reads exactly `length` bytes at `offset` into a fresh, 8-byte-aligned buffer; throws an
   * error naming the source and range when they lie beyond the end.
   */
  read(offset: number, length: number): Promise<Uint8Array>;
  /** Releases the underlying file, if any. */
  close(): void;
}

function rangeError(name: string, offset: number, length: number, size: number): Error {
  return new Error(
    `${name}: truncated or corrupt: needs bytes ${offset}..${offset + length} but the file ` +
      `has ${size} bytes`,
  );
}

/** A {@link ByteSource} over bytes already in memory. */
export function bytesSource(bytes: Uint8Array, name = "<bytes>"): ByteSource {
  return {
    name,
    size: bytes.byteLength,
    read(offset: number, length: number): Promise<Uint8Array> {
      if (offset < 0 || length < 0 || offset + length > bytes.byteLength) {
        return Promise.reject(rangeError(name, offset, length, bytes.byteLength));
      }
      return Promise.resolve(bytes.slice(offset, offset + length));
    },
    close() {},
  };
}

/** Opens a file as a {@link ByteSource} that reads by seeking; close it when done. */
export async function openFileSource(path: string): Promise<ByteSource> {
  const file = await Deno.open(path, { read: true });
  let size: number;
  try {
    size = (await file.stat()).size;
  } catch (e) {
    file.close();
    throw e;
  }
  // Positioned reads on one handle must not interleave.
  let queue: Promise<unknown> = Promise.resolve();
  const readAt = async (offset: number, length: number): Promise<Uint8Array> => {
    if (offset < 0 || length < 0 || offset + length > size) {
      throw rangeError(path, offset, length, size);
    }
    const out = new Uint8Array(length);
    await file.seek(offset, Deno.SeekMode.Start);
    let got = 0;
    while (got < length) {
      const n = await file.read(out.subarray(got));
      if (n === null) throw rangeError(path, offset, length, offset + got);
      got += n;
    }
    return out;
  };
  return {
    name: path,
    size,
    read(offset: number, length: number): Promise<Uint8Array> {
      const p = queue.then(() => readAt(offset, length));
      queue = p.catch(() => {});
      return p;
    },
    close() {
      file.close();
    },
  };
}
