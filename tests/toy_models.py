"""Small analytic models whose attributions are known in closed form."""

import torch
import torch.nn.functional as F
from torch import nn

from core.models import ModelBundle, Preprocess


class Linear(nn.Module):
    """logits = W · flatten(x): gradient of class k is W[k] reshaped to the input."""

    def __init__(self, shape=(3, 8, 8), classes=4, seed=0):
        super().__init__()
        self.shape = shape
        self.fc = nn.Linear(int(torch.tensor(shape).prod()), classes, bias=True)
        with torch.no_grad():
            gen = torch.Generator().manual_seed(seed)
            self.fc.weight.copy_(torch.randn(self.fc.weight.shape, generator=gen))

    def forward(self, x):
        return self.fc(x.flatten(1))


class ReluReadout(nn.Module):
    """logits[:, 0] = Σ v ⊙ act(x); ``kind`` picks one shared in-place ReLU module used twice,
    separate modules, or a functional call. Known answers:
    gradient = v·[x>0]; deconvnet = max(v, 0); guided = max(v, 0)·[x>0]."""

    def __init__(self, v, kind="shared_inplace"):
        super().__init__()
        self.v = nn.Parameter(v, requires_grad=False)
        self.kind = kind
        self.relu = nn.ReLU(inplace=True)
        self.relu2 = nn.ReLU()

    def forward(self, x):
        h = x * 1.0  # keep the input itself untouched by the in-place ReLU
        if self.kind == "shared_inplace":
            h = self.relu(self.relu(h) + 0.0)  # reused module; the second call is a no-op in value
        elif self.kind == "modules":
            h = self.relu2(h)
        else:
            h = F.relu(h)
        s = (self.v * h).flatten(1).sum(1, keepdim=True)
        return torch.cat([s, -s], dim=1)


def bundle_of(net, size=(8, 8), channels=3):
    pre = Preprocess(crop=size, resize=None, mean=(0.0,) * channels, std=(1.0,) * channels)
    return ModelBundle(net=net, preprocess=pre, labels=[f"c{i}" for i in range(2)], name="toy")
