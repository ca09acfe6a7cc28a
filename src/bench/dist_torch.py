"""Peer of `deno task bench dist`: torch.distributed all_reduce (gloo, CPU tensors) between
WORLD processes of this machine, as arcface_torch's collectives would run without NCCL.

Usage: dist_torch.py INIT_FILE RANK WORLD SIZES REPS_MS
Rank 0 prints one JSON line: {"n": ms per all-reduce (median)}.
"""
import json
import sys
import time

import torch
import torch.distributed as dist

init, rank, world, sizes, reps_ms = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], float(sys.argv[5])
torch.set_num_threads(1)
dist.init_process_group("gloo", init_method=f"file://{init}", rank=rank, world_size=world)
out = {}
for n in [int(s) for s in sizes.split(",")]:
    x = torch.rand(n, dtype=torch.float32)
    for _ in range(3):
        dist.all_reduce(x)
    # calls per sample so that a sample lasts about REPS_MS (agreed by rank 0's estimate)
    t0 = time.perf_counter()
    dist.all_reduce(x)
    one = torch.tensor([time.perf_counter() - t0], dtype=torch.float64)
    dist.broadcast(one, 0)
    reps = max(1, min(1000, int(reps_ms / 1000 / max(one.item(), 1e-6))))
    times = []
    for _ in range(5):
        dist.barrier()
        t0 = time.perf_counter()
        for _ in range(reps):
            dist.all_reduce(x)
        times.append((time.perf_counter() - t0) / reps * 1000)
    times.sort()
    out[str(n)] = times[len(times) // 2]
if rank == 0:
    print(json.dumps(out), flush=True)
dist.destroy_process_group()
