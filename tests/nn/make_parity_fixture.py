"""Parity fixtures: PyTorch's outputs and gradients for weights written by our own
`tests/nn/write_parity_weights.ts` (a .pth of a backbone initialised from a seed).

usage: /usr/bin/python3 tests/nn/make_parity_fixture.py NET WEIGHTS.pth OUT.json [BATCH]

Input and loss are closed-form, so the test regenerates them exactly:
  x[n, i] = sin(0.001·i·(1 + 0.37·n) + 0.5 + n)·0.9 (i over C·H·W; float64 → float32)
  loss = Σ_ij emb[i, j]·cos(0.37·(i·E + j))
For every tensor of the state dict the fixture stores its gradient's L2 norm and its dot with
the probe cos(0.11·k) (flattened), which pins every element without storing them all.
PyTorch runs in float64 (weights and input are exactly the float32 values), so the fixture
is the exact answer and the test measures our float32 error alone; the same signatures from
PyTorch's float32 run (`grads_torch_f32`) say how far float32 itself lands from it.
A few PReLU inputs land on the other side of 0 in float32, which moves the gradients by far
more than rounding does (see parity_branch_ref.py); `grads_f64_torch_f32_branches` are the
float64 gradients with every PReLU taking the branch PyTorch's float32 run took, so that
`grads_torch_f32` against them is float32 rounding alone (`torch_f32_flips`: how many
branches differ from float64's).
"""
import json
import math
import sys

import torch

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from torch_backbones import make  # noqa: E402


def closed_input(n):
    per = 3 * 112 * 112
    i = torch.arange(per, dtype=torch.float64)
    xs = [torch.sin(0.001 * i * (1 + 0.37 * k) + 0.5 + k) * 0.9 for k in range(n)]
    return torch.stack(xs).float().reshape(n, 3, 112, 112)


def probe(t):
    k = torch.arange(t.numel(), dtype=torch.float64)
    return float((t.double().flatten() * torch.cos(0.11 * k)).sum())


def main():
    net, weights, out = sys.argv[1], sys.argv[2], sys.argv[3]
    batch = int(sys.argv[4]) if len(sys.argv) > 4 else 2
    torch.manual_seed(0)
    model = make(net)
    sd = torch.load(weights)
    model.load_state_dict(sd, strict=True)
    # the reference runs in float64, so the fixture holds the exact values of these weights
    model = model.double()
    x = closed_input(batch).double()
    res = {"net": net, "batch": batch}
    model.eval()
    with torch.no_grad():
        res["eval"] = model(x).flatten().tolist()
    model.train()
    emb = model(x)
    e = emb.shape[1]
    k = torch.arange(batch * e, dtype=torch.float64)
    c = torch.cos(0.37 * k).float().double().reshape(batch, e)
    loss = (emb * c).sum()
    loss.backward()
    res["train"] = emb.detach().flatten().tolist()
    res["loss"] = float(loss)
    grads = {}
    for name, p in model.named_parameters():
        if p.grad is not None:
            grads[name] = [float(p.grad.double().norm()), probe(p.grad)]
    res["grads"] = grads
    stats = {}
    for name, b in model.named_buffers():
        if name.endswith("running_mean") or name.endswith("running_var"):
            stats[name] = [float(b.double().norm()), probe(b)]
    res["running"] = stats
    # PyTorch's own float32 run: how far float32 arithmetic lands from the exact gradients
    m32 = make(net)
    m32.load_state_dict(sd, strict=True)
    m32.train()
    masks = {}
    for name, mod in m32.named_modules():
        if isinstance(mod, torch.nn.PReLU):
            def keep(mod, inp, out, name=name):
                masks[name] = (inp[0] > 0).numpy().ravel()
            mod.register_forward_hook(keep)
    (m32(x.float()) * c.float()).sum().backward()
    res["grads_torch_f32"] = {
        name: [float(p.grad.double().norm()), probe(p.grad)]
        for name, p in m32.named_parameters() if p.grad is not None
    }
    from parity_branch_ref import branch_grads  # here: it imports this module
    res["grads_f64_torch_f32_branches"], flips = branch_grads(model, x, masks)
    res["torch_f32_flips"] = sum(n for n, _ in flips.values())
    with open(out, "w") as f:
        json.dump(res, f)


if __name__ == "__main__":
    main()
