"""Sanity badges: does each method's map depend on the model's weights? (Adebayo et al. 2018,
"Sanity Checks for Saliency Maps", §3.1: cascading model-parameter randomisation.)

``SanityBadges`` is the presenter between the Session, the JobRunner and the method panel. When a
model loads it looks up, in the background lane, the verdicts already on disk
(``core.metrics.sanity_verdict`` caches them per weights digest, method and parameters), so a
check done once shows at once next time. A missing verdict is computed on demand (the badge's
Check button, with an estimate of the time), in the background lane with progress and Cancel in
the status bar (on a private copy of the model); it is never started by itself, so nothing heavy
runs unasked. Verdicts are
session results of kind "sanity" keyed by model, method and parameters. ``CascadeDialog`` plots
the cascade: similarity per randomised block and the rule line.
"""

from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import QDialog, QLabel, QVBoxLayout

from . import adapters, metrics_adapters
from .metrics_panel import plot_views


class CascadeDialog(QDialog):
    """The cascade curve of one method's verdict (a small non-modal window)."""

    def __init__(self, label: str, verdict: dict, parent=None):
        super().__init__(parent)
        self.setObjectName("cascade_dialog")
        self.setWindowTitle(f"Sanity check: {label}")
        self.resize(720, 420)
        self.view = metrics_adapters.cascade_view(label, verdict)
        good = verdict["passes"]
        self.summary = QLabel(
            f"<b>{label}</b>: <span style='color:{'#2e7d32' if good else '#e65100'}'>{verdict['verdict']}</span>"
            f"<br>Mean similarity over the first {verdict.get('top_blocks', 3)} randomised blocks: "
            f"{verdict['top_similarity']:.2f} (lower is better; flagged at ≥ {verdict.get('threshold', 0.8):g})")
        self.summary.setWordWrap(True)
        self.summary.setToolTip(verdict["rule"])
        self.plot = pg.PlotWidget()
        self.plot.setObjectName("cascade_plot")
        self.plot.setBackground("w")
        self.key = QLabel(plot_views(self.plot, [self.view]))
        note = QLabel("A method that depends on the model keeps changing as its top layers are randomised; "
                      "by the fully random end nearly every method has drifted, so the rule reads the top "
                      "blocks. Adebayo et al. 2018, Sanity Checks for Saliency Maps, §3.1, Fig. 2.")
        note.setWordWrap(True)
        note.setStyleSheet("color: #666;")
        layout = QVBoxLayout(self)
        layout.addWidget(self.summary)
        layout.addWidget(self.key)
        layout.addWidget(self.plot, 1)
        layout.addWidget(note)


class SanityBadges(QObject):
    """Keeps the method panel's sanity badges true to the session (see the module docstring).

    ``images``: the images checked (None: the core default, the bundled demo images for the demo
    models and the bundled photos otherwise). ``verdict_shown(method, verdict)`` fires when a
    computed or looked-up verdict arrives."""

    verdict_shown = Signal(str, object)

    def __init__(self, session, jobs, panel, parent=None):
        super().__init__(parent)
        self.session, self.jobs, self.panel = session, jobs, panel
        self.images = None
        self.dialog: CascadeDialog | None = None
        self._running: set = set()  # sanity keys being computed
        self._looked_up: set = set()  # sanity keys whose disk cache was read
        self._blocks: dict[str, int] = {}  # model tag → number of randomised blocks
        session.model_changed.connect(self._model_changed)
        session.selection_changed.connect(self.refresh)
        session.timing_changed.connect(self.refresh)
        session.results_changed.connect(lambda kind: self.refresh() if kind == "sanity" else None)
        panel.sanity_check_requested.connect(self.check)
        panel.cascade_requested.connect(self.show_cascade)

    def _map_methods(self) -> list[str]:
        return [n for n, spec in adapters.methods().items() if adapters.makes_map(spec)]

    def _model_changed(self) -> None:
        """Read the verdicts already on disk for the new model (quick), then refresh."""
        s = self.session
        self.jobs.cancel("sanity", lane="background")
        self._running.clear()
        self._looked_up.clear()
        metrics_adapters.release_twin(s.bundle)
        if s.model is not None:
            self._lookup(self._map_methods())

    def _lookup(self, methods: list[str]) -> None:
        """Verdicts on disk for ``methods`` at their current parameters (reads the weights' digest
        and a few small files in the background lane; computes nothing)."""
        s = self.session
        tag, bundle, images = s.model.tag, s.bundle, self.images
        wanted = {n: s.params_for(n) for n in methods}
        keys = {n: s.key("sanity", method=n, params=p) for n, p in wanted.items()}
        self._looked_up.update(keys.values())

        def job(progress):
            blocks = len(metrics_adapters.cascade_blocks(bundle))
            return blocks, metrics_adapters.sanity_verdicts(bundle, wanted, images, cache_only=True)

        def done(value):
            blocks, verdicts = value
            self._blocks[tag] = blocks
            for method, verdict in verdicts.items():
                if s.put(keys[method], verdict):
                    self.verdict_shown.emit(method, verdict)
            self.refresh()

        self.jobs.submit("sanity_lookup", job, False, lane="background", on_done=done)
        self.refresh()

    def refresh(self) -> None:
        """Every map method's badge from the session (the selected one with its estimate)."""
        s = self.session
        if s.model is None:
            return
        current = s.key("sanity")
        if adapters.makes_map(s.spec()) and current not in self._looked_up and s.get(current) is None:
            self._lookup([s.method])  # new parameters: perhaps checked in an earlier session
            return
        count = len(metrics_adapters.sanity_images(s.bundle, self.images))
        for method in self._map_methods():
            key = s.key("sanity", method=method)
            verdict = s.get(key)
            if verdict is not None:
                self.panel.set_sanity(method, "done", verdict)
            elif key in self._running:
                self.panel.set_sanity(method, "running")
            else:
                self.panel.set_sanity(method, "unknown", None, self._estimate(method, count))
        for method, spec in adapters.methods().items():
            if not adapters.makes_map(spec):
                self.panel.set_sanity(method, "none")

    def _estimate(self, method: str, images: int) -> str:
        s = self.session
        blocks = self._blocks.get(s.model.tag) if s.model else None
        if blocks is None or s.explainer is None:
            return "Check runs it in the background"
        seconds = metrics_adapters.sanity_seconds(s.spec(method), s.params_for(method),
                                                  tuple(s.explainer.x.shape[-2:]), s.seconds_per_pass(), images,
                                                  blocks)
        where = f"{images} images × {blocks} randomised blocks"
        return f"{where}, ≈ {metrics_adapters.format_seconds(seconds).lstrip('≈ ')}" if seconds else where

    def check(self, method: str | None = None) -> None:
        """Compute the selected (or ``method``'s) verdict in the background lane."""
        s = self.session
        if s.model is None:
            s.notify("info", "Load a model first.")
            return
        method = method or s.method
        spec = s.spec(method)
        if not adapters.makes_map(spec):
            s.notify("info", f"{spec.label} makes an image, not a map: the sanity check does not apply.")
            return
        key = s.key("sanity", method=method)
        if s.get(key) is not None or key in self._running:
            return
        bundle, params, images = s.bundle, dict(key.params), self.images

        def job(twin, progress):
            return metrics_adapters.sanity_verdicts(twin, {method: params}, images, progress=progress)[method]

        def done(verdict):
            self._running.discard(key)
            if s.put(key, verdict):
                s.say(f"sanity check of {spec.label}: {verdict['verdict']}")
                self.verdict_shown.emit(method, verdict)

        def stopped(message=None):
            self._running.discard(key)
            if message is not None:
                s.notify("error", f"The sanity check of {spec.label} failed: {message}")
            self.refresh()

        self._running.add(key)
        metrics_adapters.TwinJob(self.jobs, bundle, "sanity", job, on_done=done, on_error=stopped, on_cancel=stopped)
        s.say(f"sanity check of {spec.label} started (background)")
        self.refresh()

    def show_cascade(self, method: str | None = None) -> CascadeDialog | None:
        """Open the cascade curve of the method's verdict (None when it is not computed)."""
        s = self.session
        method = method or s.method
        verdict = s.get(s.key("sanity", method=method)) if s.model else None
        if verdict is None:
            s.notify("info", "Run the sanity check first (Check).")
            return None
        if self.dialog is not None:
            self.dialog.close()
        self.dialog = CascadeDialog(s.spec(method).label, verdict, self.panel.window())
        self.dialog.setAttribute(Qt.WA_DeleteOnClose, False)
        self.dialog.show()
        return self.dialog
