"""Dataset runs: images per second for prediction + Grad-CAM (+ deletion/insertion) over demo
images, the workbench (batched, written to a run store) against plain per-image loops:

* peers: pytorch-grad-cam's GradCAM per image, plus torchcam's DeletionInsertionMetric per image
  for the curves (128 steps each, as ours at 128×128) — skipped when a peer is not installed;
* ours per image: ``Explainer`` + the metric registry image by image (what ``evaluate`` does);
* the forward-bound ceiling: as many bare forwards as the workbench run sent through the network
  (counted on the run itself, every row of every batch), through the BatchNorm-folded twin in
  channels_last at the tuned batch size on one pre-built batch. No implementation that needs
  those forwards can be faster, so peer time / ceiling time is the largest speed-up over the peer
  loop any of them could reach, and 1 − ceiling time / workbench time is the share of the
  workbench's time spent outside those forwards (building copies, Grad-CAM's backward, the store).

Each measurement runs in a fresh process (model loaded before the clock starts), so its peak
resident memory is its own: the workbench's peak should not grow with the number of images.
Both peers and ours run on the same ``--device`` (default: cuda when available).

    python bench/bench_workbench.py [--device cpu|cuda] [--images 300] [--curve-images 300]
                                    [--repeats 3] [--skip-memory]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))
from common import PeakRss, count_forwards, write_table  # noqa: E402

from core.datasets.shapes import CLASSES, generate  # noqa: E402

SHAPE = (3, 128, 128)  # the demo model's input


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

    run_dataset(ModelSpec("demo", device=str(bundle.device)), str(root), ["gradcam"], store, bundle=bundle,
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


def ceiling_batch(bundle) -> tuple[int, str]:
    """The forward batch size our metrics use for the demo model on this device, and where it came from."""
    from core.batch_tuning import DEFAULT_CACHE, tune_key
    from core.batching import default_batch_size

    size = DEFAULT_CACHE.get(tune_key(bundle, SHAPE, backward=False))
    return (size, "tuned") if size else (default_batch_size(bundle.device, backward=False), "table default")


def bare_forwards(bundle, forwards: int) -> dict:
    """``forwards`` rows through the fused twin, channels_last, at the tuned batch size, on one
    batch built before the clock starts; returns the seconds and the batch size."""
    size, origin = ceiling_batch(bundle)
    gen = torch.Generator().manual_seed(0)
    full = torch.randn((size, *SHAPE), generator=gen).to(bundle.device).contiguous(memory_format=torch.channels_last)
    tail = full[:forwards % size]
    with torch.inference_mode():
        bundle.fast_logits(full)  # builds the fused twin and warms the kernels, outside the clock
        if len(tail):
            bundle.fast_logits(tail)
        _sync(bundle.device)
        t0, c0 = time.perf_counter(), time.process_time()
        for _ in range(forwards // size):
            bundle.fast_logits(full)
        if len(tail):
            bundle.fast_logits(tail)
        _sync(bundle.device)
    return {"seconds": time.perf_counter() - t0, "cpu_seconds": time.process_time() - c0,
            "batch": size, "batch_origin": origin}


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def child(job: dict) -> dict:
    from core.models import load_model

    from core.precision import set_gpu_precision

    device = torch.device(job["device"])
    bundle = load_model("demo", device=job["device"])
    set_gpu_precision(device)  # every side in the arithmetic our explanations use (CUDA: TF32 off unless allowed)
    root, curves = Path(job["root"]), job["curves"]
    if job["kind"] == "ceiling":
        return bare_forwards(bundle, job["forwards"])
    counts = count_forwards(bundle)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    with PeakRss() as sampler:
        t0, c0 = time.perf_counter(), time.process_time()
        if job["kind"] == "ours":
            with tempfile.TemporaryDirectory() as tmp:
                ours(bundle, root, curves, Path(tmp) / "run.db")
        elif job["kind"] == "own_loop":
            own_loop(bundle, root, curves)
        else:
            peer_loop(bundle, root, curves)
        _sync(device)
        seconds, cpu_seconds = time.perf_counter() - t0, time.process_time() - c0
    gpu_peak = torch.cuda.max_memory_allocated(device) / 2 ** 20 if device.type == "cuda" else None
    return {"seconds": seconds, "cpu_seconds": cpu_seconds, "images": len(_files(root)), "peak_mb": sampler.peak,
            "before_mb": sampler.start, "gpu_peak_mb": gpu_peak, "forwards": counts["rows"]}


def measure(kind: str, root: Path, curves: bool, device: str, forwards: int = 0) -> dict | None:
    job = {"kind": kind, "root": str(root), "curves": curves, "device": device, "forwards": forwards}
    proc = subprocess.run([sys.executable, __file__, "--child", json.dumps(job)], capture_output=True, text=True)
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


def _rate(n: int, seconds: float) -> str:
    per_second = n / seconds
    return f"{per_second:.1f}" if per_second >= 10 else f"{per_second:.2f}"


def _cpu_ratio(slow: dict, fast: dict, prefix: str = "") -> str:
    """The same ratio in process CPU time: steadier than wall time on a machine others load too."""
    return f"CPU time {prefix}{slow['cpu_seconds'] / fast['cpu_seconds']:.2f}×"


def _memory(run: dict) -> str:
    return f"{run['peak_mb']:.0f}" + (f" (GPU {run['gpu_peak_mb']:.0f})" if run.get("gpu_peak_mb") is not None else "")


def task_rows(n: int, curves: bool, repeats: int, root: Path, device: str) -> list[list]:
    """The comparison rows of one task: ours against each loop, then the forward-bound ceiling."""
    task = f"prediction + Grad-CAM{' + deletion/insertion' if curves else ''}, {n} images"
    loops = [("peer_loop", "pytorch-grad-cam" + (" + torchcam metric" if curves else "")),
             ("own_loop", "our engine, image by image")]
    if not peers_available(curves):
        print(f"{loops[0][1]}: not installed, skipped")
        loops = loops[1:]
    runs: dict[str, list[dict]] = {}
    for _ in range(repeats):  # alternate, so drifts in the machine's load hit every side alike
        for kind in ["ours", "ceiling"] + [k for k, _ in loops]:
            if kind == "ceiling":  # right after ours: as many bare forwards as that run counted
                if "ours" not in runs:
                    continue
                got = measure(kind, root, curves, device, forwards=runs["ours"][-1]["forwards"])
            else:
                got = measure(kind, root, curves, device)
            if got:
                runs.setdefault(kind, []).append(got)
    if "ours" not in runs:
        return []
    rows = []
    mine = _median(runs["ours"])
    for kind, label in loops:
        if kind in runs:
            other = _median(runs[kind])
            rows.append([task, label, _rate(n, mine['seconds']), _rate(n, other['seconds']),
                         f"{other['seconds'] / mine['seconds']:.2f}× ({_cpu_ratio(other, mine)})",
                         f"{mine['forwards'] / n:.1f} / {other['forwards'] / n:.1f}",
                         f"{_memory(mine)} / {_memory(other)}"])
    if "ceiling" in runs:
        bare = _median(runs["ceiling"])
        against = next(((k, label) for k, label in loops if k in runs), None)
        peer = _median(runs[against[0]]) if against else mine
        outside = 1 - bare["seconds"] / mine["seconds"]
        rows.append([task, f"**forward-bound ceiling**: our {mine['forwards']} forwards bare (fused twin, "
                     f"channels_last, {bare['batch_origin']} batch {bare['batch']}, pre-built); workbench time "
                     f"outside them: {100 * outside:.0f}% of its wall time, "
                     f"{100 * (1 - bare['cpu_seconds'] / mine['cpu_seconds']):.0f}% of its CPU time",
                     _rate(n, bare['seconds']), _rate(n, peer['seconds']),
                     f"≤ {peer['seconds'] / bare['seconds']:.2f}× ({_cpu_ratio(peer, bare, '≤ ')}): the largest "
                     f"possible over {against[1] if against else 'ours'}",
                     f"{mine['forwards'] / n:.1f}", "—"])
    return rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cuda" if torch.cuda.is_available() else "cpu",
                        help="where every side runs (default: cuda when available)")
    parser.add_argument("--images", type=int, default=300, help="images for prediction + Grad-CAM")
    parser.add_argument("--curve-images", type=int, default=300, help="images for + deletion/insertion")
    parser.add_argument("--repeats", type=int, default=3, help="alternating repeats of the fast task (median)")
    parser.add_argument("--skip-memory", action="store_true", help="leave out the peak-memory rows")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(json.loads(args.child))))
        return
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: no CUDA device here")
    from core.precision import tf32_allowed

    where = torch.cuda.get_device_name(0) if args.device == "cuda" else "cpu"
    images_per_batch = 64 if args.device == "cuda" else 16  # core.batching's default for a backward pass
    title = f"Dataset runs: workbench vs per-image loops (demo model, 128×128, {where})"
    header = ["task", "compared with", "ours images/s", "theirs images/s", "speed-up",
              "forwards per image ours / theirs", "peak RSS MB ours / theirs"]
    notes = (f"Device: {where} (every side). Each measurement in a fresh process after loading the model "
             "(median of alternating repeats for the fast task); the workbench writes every map and value to its "
             f"SQLite store ({images_per_batch} images per batch), the loops keep nothing. Forwards: input rows "
             "through the network, counted on the run (Grad-CAM's forward with gradients included). The ceiling "
             "row times that many bare forwards (no copies built, no backward, no store): the fastest any "
             "implementation doing those forwards could be. In brackets: the same ratio in CPU time (all threads of "
             "the measuring process), which the load of other processes on a shared machine hardly moves. "
             "Peak RSS: the largest resident memory sampled during the work (GPU: peak allocated CUDA memory)."
             + (f" CUDA: TF32 {'on' if tf32_allowed() else 'off'} on every side (SALIENCY_STUDIO_TF32)."
                if args.device == "cuda" else ""))
    rows: list[list] = []
    with tempfile.TemporaryDirectory() as tmp:
        sets = {}
        # the curves task first: on a time-limited machine its rows matter most; the table is rewritten after each task
        for n, curves, repeats in ((args.curve_images, True, 1), (args.images, False, args.repeats)):
            sets[n] = sets.get(n) or write_images(Path(tmp) / f"set{n}", n)
            rows += task_rows(n, curves, repeats, sets[n], args.device)
            write_table("workbench", title, header, rows, notes)
        if args.skip_memory:
            return
        for n in (max(20, args.images // 3), args.images):
            root = sets.get(n) or write_images(Path(tmp) / f"mem{n}", n)
            got = measure("ours", root, False, args.device)
            if got:
                rows.append([f"peak memory, workbench, {n} images", "—", _rate(n, got['seconds']), "—", "—",
                             f"{got['forwards'] / n:.1f}",
                             f"{_memory(got)} (+{got['peak_mb'] - got['before_mb']:.0f} over the loaded model)"])
        write_table("workbench", title, header, rows, notes)


if __name__ == "__main__":
    main()
