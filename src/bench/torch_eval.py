"""PyTorch peer of `deno task bench eval`: eval-mode forward throughput of a backbone on this
CPU over the same weights (a .pth written by the suite) and the same normalised input.
Prints one JSON line: {"net", "threads", "images_per_s": {batch: value}, "embedding": [...]}
where "embedding" is the first row at the smallest batch (to check the weights agree).

usage: /usr/bin/python3 src/bench/torch_eval.py NET WEIGHTS.pth INPUT.npy BATCHES THREADS MIN_SECONDS
"""
import json
import os
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "tests", "nn"))
from torch_backbones import make  # noqa: E402


def main():
    net, weights, inp = sys.argv[1], sys.argv[2], sys.argv[3]
    batches = [int(b) for b in sys.argv[4].split(",")]
    threads, min_s = int(sys.argv[5]), float(sys.argv[6])
    torch.set_num_threads(threads)
    sd = torch.load(weights, map_location="cpu")
    emb = next(sd[k].shape[0] for k in ("features.weight", "features.layers.3.weight") if k in sd)
    model = make(net, emb)
    model.load_state_dict(sd)
    model.eval()
    x_all = torch.from_numpy(np.load(inp))
    res = {}
    first = None
    with torch.no_grad():
        for b in batches:
            x = x_all[:b]
            y = model(x)  # warm-up
            if first is None:
                first = y[0].tolist()
            times = []
            start = time.perf_counter()
            while len(times) < 2 or time.perf_counter() - start < min_s:
                t0 = time.perf_counter()
                model(x)
                times.append(time.perf_counter() - t0)
            times.sort()
            res[str(b)] = b / times[len(times) // 2]
    print(json.dumps({"net": net, "threads": threads, "images_per_s": res, "embedding": first}))


if __name__ == "__main__":
    main()
