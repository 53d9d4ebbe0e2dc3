"""Interactive latency: drag-to-occlude updates vs a plain forward pass, and launch to first heatmap.

Per-update time = one ``Occluder.probe`` (copy the input, hide the patch, forward on the fused
twin, softmax, top-5); the reference is one plain ``model(x)`` of the same model and input.
Launch time: a fresh interpreter that opens the window offscreen on the demo model, until the
first Grad-CAM overlay is shown.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import paired_times, write_table  # noqa: E402

from core.diagnose.occlude import Occluder  # noqa: E402
from core.models import load_model  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
LAUNCH = textwrap.dedent("""
    import time; T0 = time.perf_counter()
    import os, sys, tempfile; os.environ["QT_QPA_PLATFORM"] = "offscreen"
    from PySide6.QtWidgets import QApplication
    from PySide6.QtCore import QSettings
    app = QApplication([])
    from desktop.main_window import MainWindow
    from desktop.app import start
    w = MainWindow(QSettings(os.path.join(tempfile.mkdtemp(), "s.ini"), QSettings.IniFormat)); w.show()
    def done(r):
        print(f"{time.perf_counter() - T0:.3f}"); app.quit()
    w.explanation_shown.connect(done)
    start(w); app.exec()
""")


def main() -> None:
    device = "cuda" if torch.cuda.is_available() else "cpu"
    rows = []
    for name in ("resnet18", "demo"):
        bundle = load_model(name, weights="none", device=device)
        h, w = bundle.preprocess.crop
        x = torch.randn(1, 3, h, w, generator=torch.Generator().manual_seed(0)).to(device)
        occ = Occluder(bundle, x, "grey")
        boxes = [(i % (w - 32), i % (h - 32), i % (w - 32) + 32, i % (h - 32) + 32) for i in range(1000)]
        counter = iter(range(10**9))

        def update():
            occ.probe(boxes[next(counter) % len(boxes)], 0)

        def plain():
            with torch.inference_mode():
                bundle(x)

        t_update, t_plain = paired_times(update, plain, repeats=41, warmup=3)
        rows.append([f"drag-to-occlude update, {name} ({h}×{w})", f"{t_update * 1e3:.1f}", f"{t_plain * 1e3:.1f}",
                     f"{t_update / t_plain:.2f}", f"{1 / t_update:.0f}"])
    launches = []
    for _ in range(3):
        out = subprocess.run([sys.executable, "-c", LAUNCH], cwd=ROOT, capture_output=True, text=True,
                             env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=300)
        launches.append(float(out.stdout.strip().splitlines()[-1]))
    launches.sort()
    rows.append(["launch → first Grad-CAM heatmap (demo, offscreen)", f"{launches[1] * 1e3:.0f}", "—", "—", "—"])
    write_table("interactive", f"Interactive latency ({device})",
                ["task", "ours ms", "plain forward ms", "ratio", "updates / s"], rows,
                "Median of 41 alternating runs; launch: median of 3 fresh interpreters.")


if __name__ == "__main__":
    main()
