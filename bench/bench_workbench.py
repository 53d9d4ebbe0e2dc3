"""Dataset runs: images per second for prediction + Grad-CAM (+ deletion/insertion) over demo
images, the workbench (batched, written to a run store) against plain per-image loops:

* peers: pytorch-grad-cam's GradCAM per image, plus torchcam's DeletionInsertionMetric per image
  for the curves (128 steps each, as ours at 128×128) — skipped when a peer is not installed;
* ours per image: ``Explainer`` + the metric registry image by image (what ``evaluate`` does).

Each measurement runs in a fresh process (model loaded before the clock starts), so its peak
resident memory is its own: the workbench's peak should not grow with the number of images.

    python bench/bench_workbench.py [--images 300] [--curve-images 300] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import cv2
import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))
from common import write_table  # noqa: E402

from core.datasets.shapes import CLASSES, generate  # noqa: E402


def write_images(root: Path, n: int) -> Path:
    data = generate(n, seed=7)
    for i, (img, label) in enumerate(zip(data.images, data.labels)):
        folder = root / CLASSES[label]
        folder.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(folder / f"{i}.png"), cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
    return root


def _files(root: Path) -> list[Path]:
    return sorted(root.glob("*/*.png"))


def ours(bundle, root: Path, curves: bool, store: Path) -> None:
    from core.workbench.run import run_dataset
    from core.workbench.spec import ModelSpec

    run_dataset(ModelSpec("demo"), str(root), ["gradcam"], store, bundle=bundle,
                metrics=["deletion", "insertion"] if curves else [])


def own_loop(bundle, root: Path, curves: bool) -> None:
    from core.explain import Explainer
    from core.images import load_image
    from core.metrics.registry import MetricInput, get_metric

    specs = [get_metric("deletion"), get_metric("insertion")] if curves else []
    for path in _files(root):
        ex = Explainer(bundle, load_image(path))
        result = ex.explain("gradcam")
        predicted = ex.prediction[0][0]
        for spec in specs:
            spec.run(MetricInput(bundle, ex.x, result.map, predicted, predicted=predicted))


def peer_loop(bundle, root: Path, curves: bool) -> None:
    from functools import partial

    from pytorch_grad_cam import GradCAM
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    from core.images import load_image

    if curves:
        from torchcam.methods import GradCAM as TorchcamGradCAM
        from torchcam.metrics import DeletionInsertionMetric
    layer = bundle.net.features
    for path in _files(root):
        _, x = bundle.prepare(load_image(path))
        with torch.inference_mode():
            predicted = int(torch.softmax(bundle.net(x), 1).argmax(1))
        with GradCAM(model=bundle.net, target_layers=[layer]) as cam:
            cam(input_tensor=x, targets=[ClassifierOutputTarget(predicted)])
        if curves:
            with TorchcamGradCAM(bundle.net, "features") as extractor:
                metric = DeletionInsertionMetric(extractor, partial(torch.softmax, dim=-1), steps=128, batch_size=32)
                metric.update(x)
                metric.summary()


def _rss_mb() -> float:
    """Current resident memory (Linux /proc), else the peak so far."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class _PeakRss(threading.Thread):
    """Samples the resident memory every 10 ms while the measured work runs."""

    def __init__(self):
        super().__init__(daemon=True)
        self.peak, self.running = _rss_mb(), True

    def run(self):
        while self.running:
            self.peak = max(self.peak, _rss_mb())
            time.sleep(0.01)


def child(kind: str, root: Path, curves: bool) -> dict:
    from core.models import load_model

    bundle = load_model("demo")
    before = _rss_mb()
    sampler = _PeakRss()
    sampler.start()
    t0 = time.perf_counter()
    if kind == "ours":
        with tempfile.TemporaryDirectory() as tmp:
            ours(bundle, root, curves, Path(tmp) / "run.db")
    elif kind == "own_loop":
        own_loop(bundle, root, curves)
    else:
        peer_loop(bundle, root, curves)
    seconds = time.perf_counter() - t0
    sampler.running = False
    sampler.join()
    peak = sampler.peak
    return {"seconds": seconds, "images": len(_files(root)), "peak_mb": peak, "before_mb": before}


def measure(kind: str, root: Path, curves: bool) -> dict | None:
    proc = subprocess.run([sys.executable, __file__, "--child", kind, str(root), str(int(curves))],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        print(f"{kind}: skipped ({proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else 'failed'})")
        return None
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _median(runs: list[dict]) -> dict:
    return sorted(runs, key=lambda r: r["seconds"])[len(runs) // 2]


def peers_available(curves: bool) -> bool:
    try:
        import pytorch_grad_cam  # noqa: F401
        if curves:
            import torchcam  # noqa: F401
    except ImportError:
        return False
    return True


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--images", type=int, default=300, help="images for prediction + Grad-CAM")
    parser.add_argument("--curve-images", type=int, default=300, help="images for + deletion/insertion")
    parser.add_argument("--repeats", type=int, default=3, help="alternating repeats of the fast task (median)")
    parser.add_argument("--child", nargs=3, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, root, curves = args.child
        print(json.dumps(child(kind, Path(root), curves == "1")))
        return
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for n, curves, repeats in ((args.images, False, args.repeats), (args.curve_images, True, 1)):
            root = write_images(Path(tmp) / f"set{n}", n)
            task = f"prediction + Grad-CAM{' + deletion/insertion' if curves else ''}, {n} images"
            loops = [("peer_loop", "pytorch-grad-cam" + (" + torchcam metric" if curves else "")),
                     ("own_loop", "our engine, image by image")]
            if not peers_available(curves):
                print(f"{loops[0][1]}: not installed, skipped")
                loops = loops[1:]
            runs: dict[str, list[dict]] = {}
            for _ in range(repeats):  # alternate, so drifts in the machine's load hit every side alike
                for kind in ["ours"] + [k for k, _ in loops]:
                    got = measure(kind, root, curves)
                    if got:
                        runs.setdefault(kind, []).append(got)
            if "ours" not in runs:
                continue
            mine = _median(runs["ours"])
            for kind, label in loops:
                if kind in runs:
                    other = _median(runs[kind])
                    rows.append([task, label, f"{n / mine['seconds']:.1f}", f"{n / other['seconds']:.1f}",
                                 f"{other['seconds'] / mine['seconds']:.2f}×",
                                 f"{mine['peak_mb']:.0f} / {other['peak_mb']:.0f}"])
        small = max(20, args.images // 3)
        for n in (small, args.images):
            root = write_images(Path(tmp) / f"mem{n}", n) if n != args.images else Path(tmp) / f"set{n}"
            got = measure("ours", root, False)
            if got:
                rows.append([f"peak memory, workbench, {n} images", "—", f"{n / got['seconds']:.1f}", "—", "—",
                             f"{got['peak_mb']:.0f} (+{got['peak_mb'] - got['before_mb']:.0f} over the loaded model)"])
    write_table("workbench", "Dataset runs: workbench vs per-image loops (demo model, 128×128)",
                ["task", "loop", "ours images/s", "loop images/s", "speed-up", "peak RSS MB ours / loop"], rows,
                "Each measurement in a fresh process after loading the model (median of alternating repeats for "
                "the fast task); the workbench writes every map and value to its SQLite store (batch 16 on CPU), "
                "the loops keep nothing. Peak RSS: the largest resident memory sampled during the work.")


if __name__ == "__main__":
    main()
