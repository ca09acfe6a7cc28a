/**
 * Argument checks shared by the `deno task eval` targets.
 *
 * @module
 */

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
