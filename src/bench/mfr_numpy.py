"""NumPy peer of `deno task bench mfr`: exact TAR@FAR over all pairs i < j of N L2-normalised
embeddings, the straightforward way: float32 GEMM in row blocks, every negative score
materialised, np.partition for the (k+1)-th largest. Same definition as
src/eval/pair_scoring.ts: k = floor(FAR * negatives), t = (k+1)-th largest negative (or -inf
when k >= negatives), accepted <=> score > t.

usage: mfr_numpy.py EMB.npy LABELS.npy FAR[,FAR...]  -> one JSON line on stdout
"""
import json
import math
import sys
import time

import numpy as np


def far_rank(far, n):
    x = far * n
    k = math.floor(x)
    if k + 1 <= x * (1 + 1e-12):
        k += 1
    return min(k, n)


def main():
    x = np.load(sys.argv[1]).astype(np.float32, copy=False)
    labels = np.load(sys.argv[2]).astype(np.int64)
    fars = [float(f) for f in sys.argv[3].split(",")]
    n = x.shape[0]
    t0 = time.perf_counter()
    pairs = n * (n - 1) // 2
    _, counts = np.unique(labels, return_counts=True)
    n_pos = int((counts * (counts - 1) // 2).sum())
    neg = np.empty(pairs - n_pos, dtype=np.float32)
    pos = np.empty(n_pos, dtype=np.float32)
    ni = pi = 0
    block = 1024
    for a in range(0, n, block):
        b = min(n, a + block)
        s = x[a:b] @ x[a:].T  # float32 GEMM, rows a..b against columns a..n
        rows = np.arange(a, b)[:, None]
        cols = np.arange(a, n)[None, :]
        upper = cols > rows
        same = labels[a:b, None] == labels[None, a:]
        p = s[upper & same]
        q = s[upper & ~same]
        pos[pi:pi + p.size] = p
        neg[ni:ni + q.size] = q
        pi += p.size
        ni += q.size
    assert pi == n_pos and ni == neg.size
    out = []
    for far in fars:
        k = far_rank(far, neg.size)
        if k >= neg.size:
            t = -math.inf
        else:
            t = float(np.partition(neg, neg.size - 1 - k)[neg.size - 1 - k])
        out.append({
            "far": far,
            "k": k,
            "threshold": t if math.isfinite(t) else None,
            "acceptedNegatives": int((neg > t).sum()),
            "tar": float((pos > t).mean()) if pos.size else None,
        })
    seconds = time.perf_counter() - t0
    print(json.dumps({"pairs": pairs, "positives": n_pos, "seconds": seconds, "results": out}))


if __name__ == "__main__":
    main()
