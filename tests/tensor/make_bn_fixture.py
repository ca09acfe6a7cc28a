"""Writes tests/fixtures/bn_torch.json: BatchNorm (2-D and 1-D) and BN+PReLU cases computed
by PyTorch (float32, CPU), for tests/tensor/batchnorm_test.ts.

Run with Debian's PyTorch:  /usr/bin/python3 tests/tensor/make_bn_fixture.py
Each case holds the inputs, the outputs and gradients of two training steps (running
statistics after each, PyTorch's momentum 0.1 and unbiased running variance), and one eval
step with the final running statistics.
"""
import json
import os

import torch
import torch.nn.functional as F

torch.manual_seed(1234)


def flat(t):
    return [float(f"{v:.9g}") for v in t.detach().reshape(-1).tolist()]  # exact for f32


def case(name, shape, affine=True, frozen_weight=False, prelu=False):
    C = shape[1]
    weight = (torch.rand(C) + 0.5) if affine else None
    if frozen_weight:
        weight = torch.ones(C)
    bias = torch.randn(C) * 0.1 if affine else None
    slope = torch.rand(C) * 0.5 if prelu else None
    rm0 = torch.randn(C) * 0.1
    rv0 = torch.rand(C) + 0.5
    rm, rv = rm0.clone(), rv0.clone()
    out = {"name": name, "shape": list(shape), "eps": 1e-5, "momentum": 0.1,
           "weight": flat(weight) if weight is not None else None,
           "bias": flat(bias) if bias is not None else None,
           "slope": flat(slope) if slope is not None else None,
           "frozen_weight": frozen_weight,
           "running_mean0": flat(rm0), "running_var0": flat(rv0), "steps": []}
    for step, training in enumerate([True, True, False]):
        x = (torch.randn(*shape) * 2 + 0.7).requires_grad_(True)
        w = weight.clone().requires_grad_(not frozen_weight) if weight is not None else None
        b = bias.clone().requires_grad_(True) if bias is not None else None
        a = slope.clone().requires_grad_(True) if slope is not None else None
        y = F.batch_norm(x, rm, rv, w, b, training=training, momentum=0.1, eps=1e-5)
        if a is not None:
            y = F.prelu(y, a)
        dy = torch.randn(*shape)
        y.backward(dy)
        out["steps"].append({
            "training": training, "x": flat(x), "dy": flat(dy), "y": flat(y),
            "dx": flat(x.grad),
            "dweight": flat(w.grad) if w is not None and w.grad is not None else None,
            "dbias": flat(b.grad) if b is not None else None,
            "dslope": flat(a.grad) if a is not None else None,
            "running_mean": flat(rm), "running_var": flat(rv),
        })
    return out


cases = [
    case("bn2d affine", (2, 4, 3, 5)),
    case("bn2d no affine", (2, 3, 3, 3), affine=False),
    case("bn1d frozen weight", (6, 5), frozen_weight=True),
    case("bn2d + prelu", (2, 3, 3, 5), prelu=True),
]
path = os.path.join(os.path.dirname(__file__), "..", "fixtures", "bn_torch.json")
with open(path, "w") as f:
    json.dump({"torch": torch.__version__, "cases": cases}, f, separators=(",", ":"))
print(f"wrote {os.path.normpath(path)} ({os.path.getsize(path)} bytes)")
