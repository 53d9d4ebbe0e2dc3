"""A figure of a study's results with OpenCV only (no matplotlib in the app): discrimination
accuracy per condition with its Wilson 95% interval against the chance line (as Grad-CAM §5.1
reports it), and the mean preference per pair with its t-interval around 0 (§5.2)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

_W, _ROW, _LEFT, _PAD = 760, 34, 230, 16
_BAR, _CI, _AXIS, _TEXT = (66, 133, 244), (20, 20, 20), (150, 150, 150), (30, 30, 30)


def _put(img, text, x, y, scale=0.5, color=_TEXT):
    cv2.putText(img, text, (int(x), int(y)), cv2.FONT_HERSHEY_SIMPLEX, scale, color, 1, cv2.LINE_AA)


def _panel(title: str, rows: list[tuple[str, float | None, list, str]], lo: float, hi: float,
           ref: float, ticks: list[float]) -> np.ndarray:
    h = 50 + _ROW * max(1, len(rows)) + 30
    img = np.full((h, _W, 3), 255, np.uint8)
    _put(img, title, _PAD, 24, 0.6)
    x0, x1 = _LEFT, _W - 110

    def px(v):
        return x0 + (x1 - x0) * (v - lo) / (hi - lo)

    top, bottom = 40, 40 + _ROW * max(1, len(rows))
    for t in ticks:
        cv2.line(img, (int(px(t)), top), (int(px(t)), bottom), (225, 225, 225), 1)
        _put(img, f"{t:g}", px(t) - 8, bottom + 18, 0.45, _AXIS)
    cv2.line(img, (int(px(ref)), top - 4), (int(px(ref)), bottom), _AXIS, 2)
    for i, (name, value, ci, note) in enumerate(rows):
        y = top + _ROW * i + _ROW // 2
        _put(img, name if len(name) <= 26 else name[:25] + "~", _PAD, y + 5)
        if value is None:
            _put(img, "no answers", x0 + 4, y + 5, 0.45, _AXIS)
            continue
        cv2.rectangle(img, (int(px(min(ref, value))), y - 9), (int(px(max(ref, value))), y + 9), _BAR, -1)
        if ci[0] is not None:
            a, b = int(px(ci[0])), int(px(ci[1]))
            cv2.line(img, (a, y), (b, y), _CI, 2)
            cv2.line(img, (a, y - 6), (a, y + 6), _CI, 2)
            cv2.line(img, (b, y - 6), (b, y + 6), _CI, 2)
        _put(img, note, x1 + 8, y + 5, 0.45)
    return img


def plot_results(result: dict, path: str | Path) -> Path:
    """Write the figure as PNG; one panel per protocol present in ``result``."""
    panels = []
    if result["discrimination"]:
        rows = [(c, r["accuracy"], r["ci95"], f"n={r['n']}") for c, r in result["discrimination"].items()]
        panels.append(_panel("Class discrimination: accuracy, Wilson 95% CI (line: chance 0.5)", rows,
                             0.0, 1.0, 0.5, [0, 0.25, 0.5, 0.75, 1]))
    if result["preference"]:
        rows = [(k.replace("|", " vs "), r["mean"], r["ci95"], f"n={r['n']}") for k, r in result["preference"].items()]
        rows = [(n, v, [None if c is None else max(-2.0, min(2.0, c)) for c in ci], note) for n, v, ci, note in rows]
        panels.append(_panel("Preference: mean (>0: first preferred), t 95% CI", rows,
                             -2.0, 2.0, 0.0, [-2, -1, 0, 1, 2]))
    if not panels:
        raise ValueError("nothing to plot: the package has neither discrimination nor preference trials")
    img = np.concatenate(panels, axis=0)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), cv2.cvtColor(img, cv2.COLOR_RGB2BGR)):
        raise OSError(f"could not write {path}")
    return path
