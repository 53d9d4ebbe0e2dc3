"""Compare: several methods on the current image, target and layer as a full-size grid with
synchronised zoom and pan, each cell naming its method and a headline metric, on one shared
colour scale or each map on its own. Cells show the session's results (the same cache the
Explain workspace fills), so a map computed there appears here without recomputing. Below the
grid, the disagreement view ranks the compared methods under each chosen metric and says where
the metrics disagree (``desktop.disagreement_view``)."""

from __future__ import annotations

import math

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QComboBox, QFrame, QGridLayout, QLabel, QListWidget, QListWidgetItem, QPushButton,
                               QSplitter, QVBoxLayout, QWidget)

from .. import adapters
from ..canvas import ImageCanvas
from ..disagreement_view import DisagreementView
from ..widgets import checked_names, set_checked_names

CELL_MIN = (200, 170)
DEFAULT_PER_FAMILY = 2  # methods ticked at first: the first instant ones of each family


class _Cell(QFrame):
    def __init__(self, method: str, label: str):
        super().__init__()
        self.method = method
        self.title = QLabel(f"<b>{label}</b>")
        self.title.setObjectName(f"compare_title_{method}")
        self.title.setWordWrap(True)
        self.canvas = ImageCanvas()
        self.canvas.setMinimumSize(*CELL_MIN)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addWidget(self.title)
        layout.addWidget(self.canvas, 1)


class CompareWorkspace(QWidget):
    title = "Compare"
    default_split = (0.22, 0.78)  # splitter shares (Reset layout)
    compared = Signal(list)  # the methods whose maps are shown

    def __init__(self, session, jobs, parent=None):
        super().__init__(parent)
        self.session, self.jobs = session, jobs
        self.choice = QListWidget()
        self.choice.setObjectName("compare_methods")
        per_family: dict[str, int] = {}
        for name, spec in adapters.methods().items():
            if not adapters.makes_map(spec):
                continue
            item = QListWidgetItem(spec.label)
            item.setData(Qt.UserRole, name)
            item.setToolTip(getattr(spec, "description", spec.summary))
            item.setFlags(item.flags() | Qt.ItemIsUserCheckable)
            default = adapters.is_instant(spec) and per_family.get(spec.family, 0) < DEFAULT_PER_FAMILY
            if default:
                per_family[spec.family] = per_family.get(spec.family, 0) + 1
            item.setCheckState(Qt.Checked if default else Qt.Unchecked)
            self.choice.addItem(item)
        self.scale = QComboBox()
        self.scale.setObjectName("compare_scale")
        self.scale.addItems(["each map on its own scale", "one shared scale"])
        self.scale.setToolTip("shared: one colour means the same value in every cell")
        self.run_button = QPushButton("Compare")
        self.run_button.setObjectName("compare")
        self.state = QLabel("")
        self.state.setWordWrap(True)
        self.state.setStyleSheet("color: #888;")
        side = QWidget()
        column = QVBoxLayout(side)
        column.setContentsMargins(0, 0, 0, 0)
        column.addWidget(QLabel("<b>Methods</b> (the selected class and layer)"))
        column.addWidget(self.choice, 1)
        column.addWidget(QLabel("Colour scale"))
        column.addWidget(self.scale)
        column.addWidget(self.run_button)
        column.addWidget(self.state)
        side.setMinimumWidth(200)
        side.setMaximumWidth(320)
        self.grid_host = QWidget()
        self.grid = QGridLayout(self.grid_host)
        self.grid.setContentsMargins(0, 0, 0, 0)
        self.grid.setSpacing(4)
        self.splitter = QSplitter(Qt.Horizontal)
        self.splitter.setObjectName("compare_splitter")
        self.splitter.setChildrenCollapsible(False)
        self.disagreement = DisagreementView(session, jobs, self.chosen)
        self.disagreement.setObjectName("disagreement")
        self.right = QSplitter(Qt.Vertical)
        self.right.setChildrenCollapsible(False)
        self.right.addWidget(self.grid_host)
        self.right.addWidget(self.disagreement)
        self.right.setStretchFactor(0, 3)
        self.right.setStretchFactor(1, 2)
        self.right.setSizes([600, 400])  # proportions until shown: the ranks stay readable at 1280×720
        self.splitter.addWidget(side)
        self.splitter.addWidget(self.right)
        self.splitter.setStretchFactor(1, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.splitter)
        self.cells: dict[str, _Cell] = {}
        self._job: int | None = None
        self.run_button.clicked.connect(self.run)
        self.choice.itemChanged.connect(lambda _item: self.render())
        self.choice.itemChanged.connect(lambda _item: self.disagreement.render())
        self.scale.currentIndexChanged.connect(lambda _i: self.render())
        for signal in (session.model_changed, session.image_changed, session.selection_changed):
            signal.connect(self.render)
        session.results_changed.connect(self._results_changed)

    def _results_changed(self, kind: str) -> None:
        if kind in ("explanation", "headline"):
            self.render()

    def chosen(self) -> list[str]:
        return checked_names(self.choice)

    def set_chosen(self, names: list[str]) -> None:
        set_checked_names(self.choice, names)

    def _layout_cells(self, names: list[str]) -> None:
        if list(self.cells) == names:
            return
        for cell in self.cells.values():
            self.grid.removeWidget(cell)
            cell.deleteLater()
        self.cells = {}
        cols = max(1, math.ceil(math.sqrt(len(names))))
        first = None
        for i, name in enumerate(names):
            cell = _Cell(name, self.session.spec(name).label)
            self.grid.addWidget(cell, i // cols, i % cols)
            if first is None:
                first = cell.canvas.view
            else:  # synchronised zoom and pan
                cell.canvas.view.setXLink(first)
                cell.canvas.view.setYLink(first)
            self.cells[name] = cell

    def render(self) -> None:
        s = self.session
        names = self.chosen()
        self._layout_cells(names)
        ex = s.explainer
        results = {n: s.result("explanation", method=n) if ex is not None else None for n in names}
        shared = None
        if self.scale.currentIndex() == 1:
            maps = [r.map for r in results.values() if r is not None]
            if maps:
                shared = (min(float(m.min()) for m in maps), max(float(m.max()) for m in maps))
        for name, cell in self.cells.items():
            spec, result = s.spec(name), results[name]
            if ex is None:
                cell.canvas.clear_map("no image")
                continue
            if cell.canvas.image is not ex.display:
                cell.canvas.set_image(ex.display)
            if result is None:
                cell.canvas.clear_map("not computed")
                cell.title.setText(f"<b>{spec.label}</b> — not computed")
                continue
            if cell.canvas.attr_map is not result.map:
                cell.canvas.set_map(result.map)
            _set_range(cell.canvas, shared)
            cell.title.setText(f"<b>{spec.label}</b>{self._headline(name)}")
        missing = [n for n in names if results.get(n) is None]
        self.state.setText("" if not missing else f"{len(missing)} not computed: press Compare")

    def _headline(self, method: str) -> str:
        value = self.session.result("headline", method=method)
        spec = adapters.metric_specs()[adapters.HEADLINE_METRIC]
        out = spec.outputs[0]
        if value is None:
            return f" — {out.label}: not computed (press Compare)"
        return f" — {out.label} {spec.values(value)[out.name]:.3f} ({out.arrow} {out.direction} is better)"

    def run(self) -> None:
        """Compute every chosen map (and its headline metric) that is not in the session yet."""
        s = self.session
        if s.explainer is None:
            s.notify("info", "Open an image first.")
            return
        todo = [(n, s.key("explanation", method=n), s.key("headline", method=n)) for n in self.chosen()]
        todo = [(n, k, h) for n, k, h in todo if s.get(k) is None or s.get(h) is None]
        if not todo:
            self.compared.emit(self.chosen())
            return
        explainer, cached = s.explainer, {k: s.get(k) for _, k, _ in todo}

        def job(progress):
            progress.set_total(len(todo))
            out = []
            for name, key, head in todo:
                target = adapters.class_target(key.target, explainer.bundle)
                res = cached[key] or explainer.explain(name, target=target, layer=key.layer, params=dict(key.params))
                metric = adapters.score(explainer, res, [adapters.HEADLINE_METRIC], (None, None, None), None)
                out.append((key, res, head, metric[adapters.HEADLINE_METRIC]))
                progress.step(message=name)
            return out

        def done(rows):
            for key, res, head, metric in rows:
                s.put(key, res)
                s.put(head, metric)
            self.state.setText("")
            s.say(f"comparison of {len(self.chosen())} methods ready")
            self.compared.emit(self.chosen())

        self.state.setText("computing…")
        self.jobs.submit("compare", job, on_done=done, on_error=lambda m: self.state.setText(f"failed: {m}"),
                         on_cancel=lambda: self.state.setText("cancelled"))

    def export_image(self):
        """The grid as one captioned image (core.render.grid), or None when nothing is computed."""
        from core.render import grid, overlay

        s = self.session
        panels = []
        for name in self.chosen():
            res = s.result("explanation", method=name)
            if res is not None:
                panels.append((s.spec(name).label + self._headline(name).replace("—", ""), overlay(res.image, res.map)))
        if not panels:
            return None
        return grid(panels, cols=max(1, math.ceil(math.sqrt(len(panels)))),
                    scale=1 if panels[0][1].shape[0] > 160 else 2)


def _set_range(canvas, shared) -> None:
    """One shared colour scale, or each map its own (canvas API of the colour-bar work)."""
    if hasattr(canvas, "set_shared_range") and canvas.shared_range != shared:
        canvas.set_shared_range(*(shared or (None, None)))
