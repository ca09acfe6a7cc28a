"""PyTorch peer of `deno task bench models`: forward + backward step time of a backbone on this
CPU, same shapes, same loss. Prints one JSON line: {"net", "batch", "step_ms", "threads"}.

usage: /usr/bin/python3 src/bench/torch_models.py NET BATCH THREADS MIN_SECONDS
"""
import json
import os
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "tests", "nn"))
from torch_backbones import make  # noqa: E402


def main():
    net, batch, threads, min_s = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
    torch.set_num_threads(threads)
    model = make(net).train()
    x = torch.randn(batch, 3, 112, 112)

    def step():
        model.zero_grad(set_to_none=True)
        e = model(x)
        (e * e).sum().backward()

    step()
    times = []
    start = time.perf_counter()
    while len(times) < 2 or time.perf_counter() - start < min_s:
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    times.sort()
    print(json.dumps({"net": net, "batch": batch, "threads": threads,
                      "step_ms": 1000 * times[len(times) // 2]}))


if __name__ == "__main__":
    main()
