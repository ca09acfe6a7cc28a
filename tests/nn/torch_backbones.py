"""PyTorch definitions of the seed's backbones, written from REFERENCE.md (not copied from the
reference), used to produce the key/shape fixture and parity fixtures.

usage: /usr/bin/python3 tests/nn/torch_backbones.py keys OUT.json
"""
import json
import sys

import torch
from torch import nn


def conv(i, o, k, s=1, p=0, g=1):
    return nn.Conv2d(i, o, k, stride=s, padding=p, groups=g, bias=False)


class IBasicBlock(nn.Module):
    def __init__(self, inplanes, planes, stride):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(inplanes, eps=1e-5)
        self.conv1 = conv(inplanes, planes, 3, 1, 1)
        self.bn2 = nn.BatchNorm2d(planes, eps=1e-5)
        self.prelu = nn.PReLU(planes)
        self.conv2 = conv(planes, planes, 3, stride, 1)
        self.bn3 = nn.BatchNorm2d(planes, eps=1e-5)
        self.downsample = None
        if stride != 1 or inplanes != planes:
            self.downsample = nn.Sequential(conv(inplanes, planes, 1, stride), nn.BatchNorm2d(planes, eps=1e-5))

    def forward(self, x):
        y = self.bn3(self.conv2(self.prelu(self.bn2(self.conv1(self.bn1(x))))))
        return y + (self.downsample(x) if self.downsample is not None else x)


class IResNet(nn.Module):
    def __init__(self, layers, emb=512, dropout=0.0):
        super().__init__()
        self.conv1 = conv(3, 64, 3, 1, 1)
        self.bn1 = nn.BatchNorm2d(64, eps=1e-5)
        self.prelu = nn.PReLU(64)
        inplanes = 64
        for i, (planes, n) in enumerate(zip((64, 128, 256, 512), layers)):
            blocks = [IBasicBlock(inplanes, planes, 2)] + [IBasicBlock(planes, planes, 1) for _ in range(n - 1)]
            setattr(self, f"layer{i + 1}", nn.Sequential(*blocks))
            inplanes = planes
        self.bn2 = nn.BatchNorm2d(512, eps=1e-5)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(512 * 7 * 7, emb)
        self.features = nn.BatchNorm1d(emb, eps=1e-5)
        nn.init.constant_(self.features.weight, 1.0)
        self.features.weight.requires_grad = False
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.normal_(m.weight, 0, 0.1)

    def forward(self, x):
        x = self.prelu(self.bn1(self.conv1(x)))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        x = torch.flatten(self.bn2(x), 1)
        return self.features(self.fc(self.dropout(x)))


class ConvBlock(nn.Module):
    def __init__(self, i, o, k=1, s=1, p=0, g=1, act=True):
        super().__init__()
        mods = [conv(i, o, k, s, p, g), nn.BatchNorm2d(o)]
        if act:
            mods.append(nn.PReLU(o))
        self.layers = nn.Sequential(*mods)

    def forward(self, x):
        return self.layers(x)


class DepthWise(nn.Module):
    def __init__(self, i, o, residual, s, g):
        super().__init__()
        self.residual = residual
        self.layers = nn.Sequential(ConvBlock(i, g), ConvBlock(g, g, 3, s, 1, g), ConvBlock(g, o, act=False))

    def forward(self, x):
        y = self.layers(x)
        return x + y if self.residual else y


class Residual(nn.Module):
    def __init__(self, c, n, g):
        super().__init__()
        self.layers = nn.Sequential(*[DepthWise(c, c, True, 1, g) for _ in range(n)])

    def forward(self, x):
        return self.layers(x)


class GDC(nn.Module):
    def __init__(self, emb):
        super().__init__()
        self.layers = nn.Sequential(ConvBlock(512, 512, 7, 1, 0, 512, act=False), nn.Flatten(),
                                    nn.Linear(512, emb, bias=False), nn.BatchNorm1d(emb))

    def forward(self, x):
        return self.layers(x)


class MobileFaceNet(nn.Module):
    def __init__(self, emb=512):
        super().__init__()
        self.layers = nn.ModuleList([
            ConvBlock(3, 128, 3, 2, 1), ConvBlock(128, 128, 3, 1, 1, 64),
            DepthWise(128, 128, False, 2, 128), Residual(128, 4, 128),
            DepthWise(128, 256, False, 2, 256), Residual(256, 6, 256),
            DepthWise(256, 256, False, 2, 512), Residual(256, 2, 256),
        ])
        self.conv_sep = ConvBlock(256, 512)
        self.features = GDC(emb)

    def forward(self, x):
        for m in self.layers:
            x = m(x)
        return self.features(self.conv_sep(x))


LAYERS = {"r18": [2, 2, 2, 2], "r34": [3, 4, 6, 3], "r50": [3, 4, 14, 3], "r100": [3, 13, 30, 3],
          "r200": [6, 26, 60, 6], "r2060": [3, 128, 896, 3]}


def make(name, emb=512):
    return MobileFaceNet(emb) if name == "mbf" else IResNet(LAYERS[name], emb)


def keys(out):
    res = {}
    for name in ["r18", "r34", "r50", "r100", "r200", "mbf", "r2060"]:
        m = make(name)
        sd = m.state_dict()
        entry = {
            "parameters": sum(p.numel() for p in m.parameters()),
            "trainable": sum(p.numel() for p in m.parameters() if p.requires_grad),
            "state_bytes_fp32": sum(v.numel() * 4 for v in sd.values()),
            "num_keys": len(sd),
        }
        if name != "r2060":
            entry["keys"] = [[k, list(v.shape), str(v.dtype).replace("torch.", "")] for k, v in sd.items()]
        res[name] = entry
        print(name, entry["parameters"], entry["trainable"], entry["state_bytes_fp32"], len(sd), file=sys.stderr)
    with open(out, "w") as f:
        json.dump(res, f, separators=(",", ":"))


if __name__ == "__main__":
    if sys.argv[1] == "keys":
        keys(sys.argv[2])
