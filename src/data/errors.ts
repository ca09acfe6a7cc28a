/**
 * The error every data-pipeline failure is reported with: it names the file, the record key
 * (or sample index) and the byte offset where the problem was found, so a user can find the
 * bad record in a 100 GB pack.
 *
 * @module
 */

/** Where in a dataset a problem was found. */
export interface DataLocation {
  /** The file (a `.rec`, `.idx`, or an image file). */
  file: string;
  /** The record key or sample index, when known. */
  key?: number;
  /** The byte offset in `file`, when known. */
  offset?: number;
}

/** A bad-input error with its location in the message and as fields. */
export class DataError extends Error {
  /** The file the problem is in. */
  readonly file: string;
  /** The record key or sample index, or undefined. */
  readonly key: number | undefined;
  /** The byte offset, or undefined. */
  readonly offset: number | undefined;
  /** The problem, without the location. */
  readonly problem: string;

  /** Creates the error; the message is `problem (file …, key …, offset …)`. */
  constructor(problem: string, where: DataLocation) {
    const parts = [`file ${where.file}`];
    if (where.key !== undefined) parts.push(`key ${where.key}`);
    if (where.offset !== undefined) parts.push(`offset ${where.offset}`);
    super(`${problem} (${parts.join(", ")})`);
    this.name = "DataError";
    this.file = where.file;
    this.key = where.key;
    this.offset = where.offset;
    this.problem = problem;
  }
}

/** Wraps any error as a DataError at `where`, keeping an existing DataError unchanged. */
export function asDataError(e: unknown, where: DataLocation): DataError {
  if (e instanceof DataError) return e;
  return new DataError(e instanceof Error ? e.message : String(e), where);
}
