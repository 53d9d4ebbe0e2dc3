"""Diagnose: drag a filled patch over the image and watch the prediction move; attack the input
with adversarial noise and see the clean and the attacked map at full size; sweep ε for the
selected method. Results are session results keyed by the image, class, layer, method and
parameters, so a change of image removes them."""

from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QBrush, QColor, QPen
from PySide6.QtWidgets import QGraphicsRectItem, QLabel, QScrollArea, QSplitter, QVBoxLayout, QWidget

from .. import adapters
from ..canvas import ImageCanvas
from ..diagnose_panel import DiagnosePanel
from ..widgets import titled

PLOT_MIN = (180, 140)
SWEEP_STEPS_255 = (0, 1, 2, 4, 8, 16)
FILL_COLOURS = {"grey": (128, 128, 128, 235), "black": (0, 0, 0, 235), "blur": (200, 200, 200, 150),
                "noise": (160, 140, 120, 200)}


def _plot(left: str, bottom: str) -> pg.PlotWidget:
    plot = pg.PlotWidget()
    plot.setBackground("w")
    plot.setMinimumSize(*PLOT_MIN)
    plot.setLabel("left", left)
    plot.setLabel("bottom", bottom)
    plot.addLegend(offset=(-5, 5), labelTextSize="8pt")
    return plot


class DiagnoseWorkspace(QWidget):
    title = "Diagnose"
    default_split = (0.25, 0.75)  # splitter shares (Reset layout)
    occlusion_probed = Signal(object)
    attack_shown = Signal(object)
    epsilon_sweep_shown = Signal(object)

    def __init__(self, session, jobs, parent=None):
        super().__init__(parent)
        self.session, self.jobs = session, jobs
        self.controls = DiagnosePanel()
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(self.controls)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        scroll.setMinimumWidth(270)
        scroll.setMaximumWidth(380)
        self.canvas = ImageCanvas()
        self.canvas.setObjectName("diagnose_canvas")
        self.canvas.setMinimumSize(220, 200)
        self.trace = _plot("target probability", "patch update")
        self.trace.setYRange(0, 1)
        self.trace_curve = self.trace.plot(pen=pg.mkPen("#6a1b9a", width=2), symbol="o", symbolSize=4,
                                           symbolBrush="#6a1b9a", name="with the patch")
        self.sweep_plot = _plot("value", "ε (/255)")
        self.sweep_plot.setYRange(-0.05, 1.05)
        self.views = {name: ImageCanvas() for name in ("clean", "attacked", "perturbation")}
        self.titles = {name: QLabel(name) for name in self.views}
        for name, view in self.views.items():
            view.setMinimumSize(160, 150)
            self.titles[name].setWordWrap(True)
        self.attack_summary = QLabel("Attack the image to see how the prediction and the map change.")
        self.attack_summary.setObjectName("attack_summary")
        self.attack_summary.setWordWrap(True)
        top = QSplitter(Qt.Horizontal)
        top.addWidget(titled(QLabel("<b>Image</b> (tick “show the patch”, then drag it)"), self.canvas, 2))
        top.addWidget(self.trace)
        top.addWidget(self.sweep_plot)
        attacks = QSplitter(Qt.Horizontal)
        for name, view in self.views.items():
            attacks.addWidget(titled(self.titles[name], view, 2))
        bottom = QWidget()
        column = QVBoxLayout(bottom)
        column.setContentsMargins(0, 0, 0, 0)
        column.addWidget(self.attack_summary)
        column.addWidget(attacks, 1)
        self.right = QSplitter(Qt.Vertical)
        for part in (top, attacks):
            part.setChildrenCollapsible(False)
        self.right.addWidget(top)
        self.right.addWidget(bottom)
        self.right.setChildrenCollapsible(False)
        self.splitter = QSplitter(Qt.Horizontal)
        self.splitter.setObjectName("diagnose_splitter")
        self.splitter.setChildrenCollapsible(False)
        self.splitter.addWidget(scroll)
        self.splitter.addWidget(self.right)
        self.splitter.setStretchFactor(1, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.splitter)

        self.trace_values: list[float] = []
        self.occlusion_requests = self.occlusion_results = 0
        self._occluder = None
        self._fill_item: QGraphicsRectItem | None = None
        c = self.controls
        c.patch_toggled.connect(self._toggle_patch)
        c.patch_changed.connect(lambda: self._toggle_patch(c.patch.isChecked()))
        c.attack_requested.connect(self.run_attack)
        c.epsilon_sweep_requested.connect(self.run_epsilon_sweep)
        self.canvas.patch_moved.connect(lambda box: self.probe(box, final=False))
        self.canvas.patch_released.connect(lambda box: self.probe(box, final=True))
        session.model_changed.connect(lambda: c.set_classes(list(session.bundle.labels or [])))
        for signal in (session.model_changed, session.image_changed, session.selection_changed):
            signal.connect(self.render)
        session.results_changed.connect(self._results_changed)

    def _results_changed(self, kind: str) -> None:
        if kind in ("patch_probe", "attack", "sweep"):
            self.render()

    def method(self) -> str:
        return adapters.map_method(self.session)

    # ----- rendering from the session -----
    def render(self) -> None:
        s = self.session
        ex = s.explainer
        self.controls.method_note.setText(f"Maps: {s.spec(self.method()).label} (the selected method"
                                          + ("" if self.method() == s.method else " makes no map") + ").")
        if ex is None:
            self.canvas.clear_map("Open an image")
            return
        if self.canvas.image is not ex.display:
            self.canvas.set_image(ex.display)
            self._fill_item = None
            self._toggle_patch(self.controls.patch.isChecked())
        probe = s.result("patch_probe")
        if probe is None:
            self.controls.readout.setText("—")
            if not self.trace_values:
                self.trace_curve.setData([])
        else:
            top = probe.top[0]
            self.controls.readout.setText(f"{probe.target_probability:.1%} with the patch "
                                          f"(top: {top[1]} {top[2]:.0%})")
            self.controls.readout.setToolTip(
                "Computed from the unoccluded pass, recomputing only the region the patch can change "
                "(Krypton: Nakandala et al. 2019); equal to a full forward pass" if probe.path == "incremental"
                else "One full forward pass of the occluded image")
        self._render_attack(s.result("attack", method=self.method()))
        self._render_sweep(s.result("sweep", method=self.method()))

    def _render_attack(self, value) -> None:
        if value is None:
            for name, view in self.views.items():
                if view.image is not self.session.explainer.display:
                    view.set_image(self.session.explainer.display)
                view.clear_map("not computed: Attack")
                self.titles[name].setText(f"<b>{name}</b>")
            self.attack_summary.setText("Attack the image to see how the prediction and the map change.")
            return
        shown, summary, noise = value
        clean, attacked = summary["clean"], summary["attacked"]
        for name, res in (("clean", shown.clean), ("attacked", shown.adversarial)):
            view = self.views[name]
            if view.image is not res.image:
                view.set_image(res.image)
            if view.attr_map is not res.map:
                view.set_map(res.map)
        if self.views["perturbation"].image is not noise:
            self.views["perturbation"].set_image(noise)
        label = self.session.spec(shown.method).label
        self.titles["clean"].setText(f"<b>clean</b>: {clean['label']} {clean['probability']:.0%} — {label}")
        self.titles["attacked"].setText(f"<b>attacked</b>: {attacked['label']} {attacked['probability']:.0%}")
        self.titles["perturbation"].setText("<b>perturbation</b> (amplified to be visible)")
        shift = summary["shift"]
        self.attack_summary.setText(
            f"{'Success' if summary['success'] else 'No flip'}: {clean['label']} {clean['probability']:.1%} → "
            f"{attacked['label']} {attacked['probability']:.1%}; ‖δ‖ = {summary['norm_255']:.2f}/255. "
            f"{label} map after the attack vs before: Spearman {shift['spearman']:.2f}, top-10% overlap "
            f"{shift['topk_intersection']:.2f}, SSIM {shift['ssim']:.2f} (1 = unchanged).")

    def _render_sweep(self, rows) -> None:
        self.sweep_plot.clear()
        if not rows:
            self.sweep_plot.setTitle("ε sweep: not computed")
            return
        eps = [r["epsilon_255"] for r in rows]
        self.sweep_plot.plot(eps, [r["confidence"] for r in rows], pen=pg.mkPen("#d32f2f", width=2), symbol="o",
                             name="confidence (clean class)")
        self.sweep_plot.plot(eps, [r["spearman"] for r in rows], pen=pg.mkPen("#1976d2", width=2), symbol="t",
                             name="map Spearman vs clean")
        self.sweep_plot.setTitle(f"ε sweep: {self.session.spec(rows[0]['method']).label}"
                                 if rows[0]["method"] in adapters.methods() else "ε sweep")

    # ----- drag to occlude -----
    def _toggle_patch(self, on: bool) -> None:
        if not on:
            self.canvas.hide_patch()
            self._fill_item = None
            self.trace_values = []
            self.trace_curve.setData([])
            self.session.drop("patch_probe")  # the occluded probability goes with the patch
            return
        size = self.controls.size.value()
        self.canvas.show_patch(size)
        if self.canvas.patch is None:
            return
        if self._fill_item is None or self._fill_item.parentItem() is not self.canvas.patch:
            self._fill_item = QGraphicsRectItem(0, 0, size, size, self.canvas.patch)
            self._fill_item.setPen(QPen(Qt.NoPen))
        self._fill_item.setRect(0, 0, size, size)
        self._fill_item.setBrush(QBrush(QColor(*FILL_COLOURS.get(self.controls.fill.currentText(), (128,) * 4))))
        self.probe(self.canvas.patch_box(), final=True)

    def probe(self, box, final: bool) -> None:
        """Latest request wins: a pending probe is replaced by a newer one, never queued."""
        s = self.session
        if s.explainer is None:
            return
        self.occlusion_requests += 1
        explainer, fill, key = s.explainer, self.controls.fill.currentText(), s.key("patch_probe")
        cached = self._occluder if self._occluder and self._occluder[0] == explainer else None

        def job(progress):
            if cached is None:
                occ = adapters.occluder(explainer.bundle, explainer.x, fill)
            else:  # same input: keep the traced model and its unoccluded pass, whatever the fill
                occ = cached[2] if cached[1] == fill else cached[2].with_fill(fill)
            return (explainer, fill, occ), occ.probe(box, key.target)

        def done(result):
            self._occluder, probe = result
            if self.canvas.patch is None:
                return  # unticked meanwhile
            self.occlusion_results += 1
            self.trace_values.append(probe.target_probability)
            self.trace_curve.setData(self.trace_values)
            self.trace.setXRange(0, max(10, len(self.trace_values)), padding=0.02)
            s.put(key, probe)
            if final:
                s.say(f"patch at {probe.box}: target probability {probe.target_probability:.1%}")
            self.occlusion_probed.emit(probe)

        self.jobs.submit("occlude", job, on_done=done)

    # ----- attacks -----
    def _selection(self):
        s = self.session
        method = self.method()
        key = s.key("attack", method=method)
        return s.explainer, method, key, dict(key.params)

    def run_attack(self, args: dict) -> None:
        if self.session.explainer is None:
            return
        explainer, method, key, params = self._selection()

        def done(value):
            if self.session.put(key, value):
                summary = value[1]
                self.session.say(f"attack: {'success' if summary['success'] else 'no flip'}, "
                                 f"{summary['clean']['label']} → {summary['attacked']['label']}")
                self.attack_shown.emit(value[0])

        self.session.say(f"attacking ({args['method']}, ε {args['epsilon_255']:g}/255)…")
        self.jobs.submit("attack", lambda progress: adapters.attack(explainer, args, method, key.target, key.layer,
                                                                    params, progress), on_done=done)

    def run_epsilon_sweep(self, args: dict) -> None:
        if self.session.explainer is None:
            return
        explainer, method, key, params = self._selection()
        key = key._replace(kind="sweep")

        def done(rows):
            if self.session.put(key, rows):
                self.session.say(f"ε sweep done ({len(rows)} attacks)")
                self.epsilon_sweep_shown.emit(rows)

        self.jobs.submit("epsilon sweep", lambda progress: adapters.epsilon_sweep(
            explainer, args, method, key.target, key.layer, params, SWEEP_STEPS_255, progress), on_done=done)
