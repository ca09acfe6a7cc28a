"""Writes the small PyTorch fixtures of tests/io (run with Debian's /usr/bin/python3).

    /usr/bin/python3 tests/io/make_pth_fixtures.py

Produces, under tests/fixtures/io/:
  tensors_zip.pth      dict of tensors (float32, float16, int64, bool, non-contiguous views),
                       torch.save zip format
  tensors_legacy.pth   the same dict, legacy (non-zip) format
  module_zip.pth       OrderedDict state dict of conv+bn+prelu (with _metadata)
  module_legacy.pth    the same, legacy format
  malicious.pth        zip whose data.pkl asks for os.system (must be refused, never run)
  expected.json        every tensor above as {dtype, shape, values} (row-major)
"""

import io
import json
import os
import pickle
import zipfile

import torch

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures", "io")


def tensors():
    g = torch.Generator().manual_seed(1234)
    base = torch.randn(4, 6, generator=g)
    return {
        "f32": torch.randn(2, 3, generator=g),
        "f16": torch.randn(3, 2, generator=g).half(),
        "i64": torch.arange(-3, 5, dtype=torch.int64).reshape(2, 4) * 1000003,
        "bool": torch.tensor([True, False, True]),
        "scalar": torch.tensor(2.5),
        # views: transposed, strided with a storage offset, both sharing `base`'s storage
        "view_t": base.t(),
        "view_slice": base[1:, 1::2],
        "base": base,
    }


class Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = torch.nn.Conv2d(3, 4, 3, padding=1, bias=False)
        self.bn1 = torch.nn.BatchNorm2d(4)
        self.prelu = torch.nn.PReLU(4)


def module_state():
    torch.manual_seed(7)
    net = Net()
    with torch.no_grad():
        net.bn1.running_mean.normal_()
        net.bn1.running_var.uniform_(0.5, 2.0)
        net.bn1.num_batches_tracked.fill_(17)
    return net.state_dict()


def describe(d):
    out = {}
    for k, t in d.items():
        t = t.contiguous()
        vals = t.flatten().tolist()
        if t.dtype == torch.bool:
            vals = [int(v) for v in vals]
        out[k] = {"dtype": str(t.dtype).replace("torch.", ""), "shape": list(t.shape), "values": vals}
    return out


class Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned > /tmp/pwned_by_fixture",))


def main():
    os.makedirs(OUT, exist_ok=True)
    t = tensors()
    m = module_state()
    torch.save(t, os.path.join(OUT, "tensors_zip.pth"))
    torch.save(t, os.path.join(OUT, "tensors_legacy.pth"), _use_new_zipfile_serialization=False)
    torch.save(m, os.path.join(OUT, "module_zip.pth"))
    torch.save(m, os.path.join(OUT, "module_legacy.pth"), _use_new_zipfile_serialization=False)
    with zipfile.ZipFile(os.path.join(OUT, "malicious.pth"), "w") as z:
        z.writestr("archive/data.pkl", pickle.dumps({"x": Evil()}, protocol=2))
        z.writestr("archive/version", "3\n")
    with open(os.path.join(OUT, "expected.json"), "w") as f:
        json.dump({"tensors": describe(t), "module": describe(m)}, f)


if __name__ == "__main__":
    main()
