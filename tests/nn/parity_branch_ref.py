"""Exact (float64) parameter gradients of the parity loss with every PReLU taking given branches.

usage: /usr/bin/python3 tests/nn/parity_branch_ref.py NET WEIGHTS.pth BATCH MASKS.json MASKS.bin

A PReLU's derivative jumps from 1 to its slope at 0, so an input that float32 rounding moves
across 0 changes the gradient by (1 − slope)·dy there, whatever the arithmetic's precision:
one such element late in the network shifts every earlier gradient by ~1e-3. Which elements
cross is luck (mbf has ~10 of its ~10⁷ PReLU inputs within float32 error of 0). Comparing a
float32 run with float64 under the float32 run's own branches measures its rounding alone.

MASKS.json lists [prelu module name, element count] in call order; MASKS.bin holds one byte
per element (1 where the float32 input was > 0), concatenated in that order. Prints JSON:
{"grads": {name: [norm, probe]}, "flips": {prelu: [count, max |x|/rms(x) over flipped]}}
where a flip is an element whose given branch differs from float64's own.
"""
import json
import sys

import numpy as np
import torch

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from make_parity_fixture import closed_input, probe  # noqa: E402
from torch_backbones import make  # noqa: E402


def branch_grads(model, x, masks):
    """Signatures of the parameter gradients of the parity loss Σ model(x)·c (float64) with
    the PReLUs of `model` following `masks` ({name: bool array}, True = identity branch)."""
    flips = {}
    handles = []
    for name, mod in model.named_modules():
        if isinstance(mod, torch.nn.PReLU):
            def hook(mod, inp, out, name=name):
                z = inp[0]
                mk = torch.from_numpy(masks[name]).reshape(z.shape)
                own = z.detach() > 0
                diff = mk != own
                rms = float(z.detach().pow(2).mean().sqrt())
                worst = float(z.detach()[diff].abs().max()) / rms if diff.any() else 0.0
                flips[name] = [int(diff.sum()), worst]
                w = mod.weight.view(1, -1, *([1] * (z.dim() - 2)))
                return torch.where(mk, z, w * z)
            handles.append(mod.register_forward_hook(hook))
    model.zero_grad()
    model.train()
    emb = model(x)
    (emb * loss_weights(*emb.shape)).sum().backward()
    for h in handles:
        h.remove()
    grads = {n: [float(p.grad.double().norm()), probe(p.grad)]
             for n, p in model.named_parameters() if p.grad is not None}
    return grads, flips


def loss_weights(batch, e):
    """The parity loss's c[i, j] = cos(0.37·(i·E + j)), rounded to float32."""
    k = torch.arange(batch * e, dtype=torch.float64)
    return torch.cos(0.37 * k).float().double().reshape(batch, e)


def main():
    net, weights, batch, index, bits = sys.argv[1:6]
    batch = int(batch)
    with open(index) as f:
        layout = json.load(f)
    raw = np.fromfile(bits, dtype=np.uint8)
    total = sum(n for _, n in layout)
    if raw.size != total:
        raise SystemExit(f"{bits}: {raw.size} bytes, but {index} lists {total} PReLU inputs")
    masks, off = {}, 0
    for name, n in layout:
        masks[name] = raw[off:off + n] != 0
        off += n
    torch.manual_seed(0)
    model = make(net)
    model.load_state_dict(torch.load(weights), strict=True)
    model = model.double()
    missing = [n for n, m in model.named_modules()
               if isinstance(m, torch.nn.PReLU) and n not in masks]
    if missing:
        raise SystemExit(f"{index}: no mask for PReLU {missing[0]} (of {len(missing)})")
    grads, flips = branch_grads(model, closed_input(batch).double(), masks)
    json.dump({"grads": grads, "flips": flips}, sys.stdout)


if __name__ == "__main__":
    main()
