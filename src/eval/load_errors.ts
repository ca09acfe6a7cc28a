/**
 * One-line messages for checkpoints that do not fit the network asked for: `loadStateDict`
 * lists every missing, unexpected and mis-shaped key over many lines; the command-line tools
 * print one line naming the file, the counts and the first key of each kind.
 *
 * @module
 */

/** Rewrites a state-dict load error into one line naming `path` and `network`. */
export function checkpointLoadError(e: unknown, path: string, network: string): Error {
  const msg = (e as Error).message ?? String(e);
  if (!msg.startsWith("cannot load")) return new Error(msg.split("\n")[0]);
  const parts: string[] = [];
  for (const line of msg.split("\n").slice(1)) {
    const m = /^\s*(missing keys|unexpected keys|wrong shapes) \((\d+)\): ([^,;]+)/.exec(line);
    if (m) parts.push(`${m[2]} ${m[1]} (first: ${m[3].trim()})`);
  }
  return new Error(
    `${path}: does not match network ${network}: ${parts.join(", ")}; is --network right?`,
  );
}

/** Throws one line naming `path` when it is not a readable file. */
export async function requireFile(path: string, what: string): Promise<void> {
  let st: Deno.FileInfo;
  try {
    st = await Deno.stat(path);
  } catch (e) {
    const why = e instanceof Deno.errors.NotFound ? "no such file" : (e as Error).message;
    throw new Error(`${path}: cannot read the ${what} (${why})`);
  }
  if (!st.isFile) throw new Error(`${path}: the ${what} is not a file`);
}
