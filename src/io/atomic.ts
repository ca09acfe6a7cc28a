/**
 * Atomic file writes: data goes to a temporary name beside the target, is flushed to disk and
 * renamed over the target, so readers never see half a file and a crash leaves the old one.
 *
 * @module
 */

/** Writes every byte of `bytes` to `file`. */
export async function writeAll(file: Deno.FsFile, bytes: Uint8Array): Promise<void> {
  let done = 0;
  while (done < bytes.byteLength) done += await file.write(bytes.subarray(done));
}

/**
 * Runs `fill` on a temporary file beside `path`, syncs it and renames it to `path`; the
 * temporary file is removed when `fill` fails.
 */
export async function writeAtomically(
  path: string,
  fill: (file: Deno.FsFile) => Promise<void>,
): Promise<void> {
  const tmp = `${path}.${Deno.pid}.${Math.random().toString(36).slice(2, 10)}.tmp`;
  const file = await Deno.open(tmp, { write: true, create: true, truncate: true });
  try {
    await fill(file);
    await file.syncData();
    file.close();
  } catch (e) {
    file.close();
    await Deno.remove(tmp).catch(() => {});
    throw e;
  }
  await Deno.rename(tmp, path);
}

/** Writes `bytes` to `path` atomically (see {@link writeAtomically}). */
export function writeFileAtomically(path: string, bytes: Uint8Array): Promise<void> {
  return writeAtomically(path, (file) => writeAll(file, bytes));
}
