/**
 * Convolution, BatchNorm and PReLU rows of the `kernels` suite (filled in with the conv ops).
 *
 * @module
 */
import type { BenchRow } from "./report.ts";

/** The conv/BN/PReLU rows: none until the conv ops exist. */
export function convRows(_opts: { quick: boolean }): Promise<BenchRow[]> {
  return Promise.resolve([]);
}
