"""Train the bundled demo models on shapes in clutter (CPU, minutes, reproducible from a seed).

    python -m core.datasets.train --mode clean  --out resources/models/demo_clean.pt
    python -m core.datasets.train --mode biased --out resources/models/demo_biased.pt

Every epoch draws fresh images (seed + epoch), so the model never sees an image twice.
The weights are stored as fp16 next to a JSON model card (classes, input size, mean/std,
recipe, seed, test accuracy on fresh clean/biased/counter-biased splits, sha256).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..models.demo import DEMO_MEAN, DEMO_STD, INPUT_SIZE, ShapesNet
from .shapes import CLASSES, generate

TEST_SEED = 1_000_000


def to_batch(images: np.ndarray) -> torch.Tensor:
    """N×H×W×3 uint8 → normalised N×3×H×W float32 (the demo models' preprocessing)."""
    x = torch.from_numpy(images).permute(0, 3, 1, 2).float().div_(255.0)
    mean = torch.tensor(DEMO_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(DEMO_STD).view(1, 3, 1, 1)
    return ((x - mean) / std).contiguous(memory_format=torch.channels_last)


@torch.inference_mode()
def accuracy(net: torch.nn.Module, n: int, mode: str, seed: int = TEST_SEED, batch: int = 200) -> float:
    """Top-1 accuracy on ``n`` freshly generated images of ``mode``."""
    net.eval()
    data = generate(n, seed=seed, size=INPUT_SIZE, mode=mode)
    correct = 0
    for i in range(0, n, batch):
        pred = net(to_batch(data.images[i:i + batch])).argmax(1).numpy()
        correct += int((pred == data.labels[i:i + batch]).sum())
    return correct / n


def train(mode: str, seed: int, epochs: int, per_epoch: int, batch: int, lr: float) -> tuple[ShapesNet, dict]:
    torch.manual_seed(seed)
    net = ShapesNet(len(CLASSES)).to(memory_format=torch.channels_last)
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=5e-4)
    steps = epochs * (per_epoch // batch)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps, pct_start=0.2)
    started = time.perf_counter()
    for epoch in range(epochs):
        data = generate(per_epoch, seed=seed * 1000 + epoch, size=INPUT_SIZE, mode=mode)
        order = np.random.default_rng(seed + epoch).permutation(per_epoch)
        net.train()
        total = 0.0
        for i in range(per_epoch // batch):
            idx = order[i * batch:(i + 1) * batch]
            x, y = to_batch(data.images[idx]), torch.from_numpy(data.labels[idx])
            loss = F.cross_entropy(net(x), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            total += float(loss.detach())
        print(f"epoch {epoch + 1}/{epochs}: loss {total / (per_epoch // batch):.4f} "
              f"({time.perf_counter() - started:.0f} s)", flush=True)
    recipe = {"optimizer": "AdamW", "weight_decay": 5e-4, "schedule": "OneCycle", "max_lr": lr,
              "epochs": epochs, "images_per_epoch": per_epoch, "batch": batch, "fresh_images_each_epoch": True,
              "train_mode": mode, "seed": seed, "train_seconds": round(time.perf_counter() - started)}
    return net.eval(), recipe


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mode", choices=("clean", "biased"), default="clean")
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--per-epoch", type=int, default=8000)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--test-size", type=int, default=1200)
    args = parser.parse_args(argv)
    net, recipe = train(args.mode, args.seed, args.epochs, args.per_epoch, args.batch, args.lr)
    net = net.to(memory_format=torch.contiguous_format)
    acc = {m: accuracy(net, args.test_size, m) for m in ("clean", "biased", "counter")}
    print("test accuracy:", acc)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    state = {k: (v.half() if v.is_floating_point() else v) for k, v in net.state_dict().items()}
    torch.save(state, args.out)
    digest = hashlib.sha256(args.out.read_bytes()).hexdigest()
    card = {"name": args.out.stem, "architecture": "ShapesNet (core/models/demo.py)", "classes": list(CLASSES),
            "input_size": INPUT_SIZE, "mean": list(DEMO_MEAN), "std": list(DEMO_STD),
            "weights": args.out.name, "weights_dtype": "float16", "sha256": digest,
            "parameters": sum(p.numel() for p in net.parameters()), "recipe": recipe,
            "test_accuracy": {**acc, "images_per_split": args.test_size, "test_seed": TEST_SEED}}
    args.out.with_suffix(".json").write_text(json.dumps(card, indent=2) + "\n")
    print(f"wrote {args.out} and {args.out.with_suffix('.json')}")


if __name__ == "__main__":
    main()
