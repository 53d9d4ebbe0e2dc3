"""What a dataset run shows: a summary line, cohort chips and a filter shared by the gallery and
the table (and one sort order for both), the gallery with its map overlay, the table, and the
cluster view. It holds the open run (``dataset_adapters.RunView``) and the maps loaded for the
overlay; the workspace loads them (in jobs) and hears double-clicks through ``image_activated``."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QCheckBox, QComboBox, QHBoxLayout, QLabel, QLineEdit, QTabWidget, QVBoxLayout, QWidget

from . import dataset_adapters as data
from .dataset_clusters import ClusterView
from .dataset_cohorts import CohortChips
from .dataset_gallery import SIDE, GalleryModel, GalleryView
from .dataset_table import RowsModel, RowsView

FILTER_HINT = "filter, e.g. gradcam.deletion<=0.2 · label=star · file~biased · confidence<0.5"
FILTER_TIP = ("COLUMN OP VALUE with OP one of < <= > >= = != ~ (~: contains). Columns: file, label, predicted, "
              "confidence and every METHOD.METRIC of the table.")


class ResultsView(QWidget):
    image_activated = Signal(object)  # row dict
    maps_wanted = Signal(str)  # method whose maps the overlay needs
    clusters_wanted = Signal(str)  # method to cluster
    method_changed = Signal(str)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.view = None  # dataset_adapters.RunView
        self.maps: dict[tuple, dict] = {}  # (store, method) → {image id: map}
        self.sprays: dict[tuple, object] = {}  # (store, method) → SprayResult
        self.cohort = None
        self.order: tuple[str, bool] | None = None
        self.shown: list[dict] = []
        self._render_key = None
        self.summary = QLabel("No run open: choose data, methods and metrics on the left and press Run, or open "
                              "a run store.")
        self.summary.setObjectName("run_summary")
        self.summary.setWordWrap(True)
        self.method = QComboBox()
        self.method.setObjectName("maps_method")
        self.method.setToolTip("the method whose maps the overlay and the clusters use")
        self.method.currentTextChanged.connect(self._method_changed)
        self.overlay = QCheckBox("show maps")
        self.overlay.setObjectName("overlay")
        self.overlay.setToolTip("draw the chosen method's stored map over each thumbnail")
        self.overlay.toggled.connect(self._overlay)
        self.filter = QLineEdit()
        self.filter.setObjectName("row_filter")
        self.filter.setPlaceholderText(FILTER_HINT)
        self.filter.setToolTip(FILTER_TIP)
        self.filter.editingFinished.connect(self.apply)
        self.count = QLabel("")
        self.count.setObjectName("shown_count")
        self.chips = CohortChips()
        self.chips.cohort_selected.connect(self._cohort)
        self.gallery = GalleryModel()
        self.gallery_view = GalleryView(self.gallery)
        self.gallery_view.setObjectName("gallery")
        self.rows = RowsModel()
        self.rows.sort_requested.connect(self._sort)
        self.table = RowsView(self.rows)
        self.clusters = ClusterView(data.colorize)
        self.clusters.find_requested.connect(lambda: self.method.currentText()
                                             and self.clusters_wanted.emit(self.method.currentText()))
        for source in (self.gallery_view, self.table, self.clusters):
            source.image_activated.connect(self.image_activated)
        self.tabs = QTabWidget()
        self.tabs.setObjectName("dataset_tabs")
        self.tabs.addTab(self.gallery_view, "Gallery")
        self.tabs.addTab(self.table, "Table")
        self.tabs.addTab(self.clusters, "Clusters")
        self.tabs.currentChanged.connect(self._tab_changed)
        tools = QHBoxLayout()
        tools.addWidget(QLabel("maps of"))
        tools.addWidget(self.method)
        tools.addWidget(self.overlay)
        tools.addWidget(self.filter, 1)
        tools.addWidget(self.count)
        self.header = QWidget()
        column = QVBoxLayout(self.header)
        column.setContentsMargins(0, 0, 0, 0)
        column.addWidget(self.summary)
        column.addLayout(tools)
        column.addWidget(self.chips)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.header)
        layout.addWidget(self.tabs, 1)

    def _tab_changed(self, index: int) -> None:
        self.header.setVisible(self.tabs.widget(index) in (self.gallery_view, self.table, self.clusters))

    # ----- the open run -----
    def show_run(self, view, running: bool = False) -> None:
        """Show ``view``; the same store again (a refresh during a run) keeps cohort, filter and sort.
        ``running``: a run is writing this store now."""
        same = self.view is not None and self.view.path == view.path
        self.view = view
        t = view.table
        labelled = [r for r in t.rows if r["label_index"] != ""]
        accuracy = (f", accuracy {sum(r['label_index'] == r['predicted_index'] for r in labelled) / len(labelled):.1%}"
                    if labelled else " (unlabelled)")
        state = " — running" if running else " — interrupted: Resume continues it" if view.interrupted else ""
        self.summary.setText(f"<b>{len(t.rows)} images</b>{accuracy}; model {view.model}; methods "
                             f"{', '.join(view.methods) or 'none'}; metrics {', '.join(view.metrics) or 'none'}; "
                             f"{len(view.skipped)} skipped{state}<br><small>{view.path}</small>")
        self.method.blockSignals(True)
        current = self.method.currentText()
        self.method.clear()
        self.method.addItems(view.map_methods)
        if current in view.map_methods:
            self.method.setCurrentText(current)
        self.method.blockSignals(False)
        self.rows.set_columns(t.value_columns, t.directions)
        names = [c.name for c in view.cohorts]
        keep = same and self.cohort is not None and self.cohort.name in names
        if not same:
            self.order = None
            self.table.unsorted()
            self._show_cached_clusters()
        self.chips.set_cohorts(view.cohorts)  # selects "all images"
        if keep:
            self.chips.select(self.cohort.name)
        self._renderer()
        self.apply()
        self.table.fit_columns()

    def _method_changed(self, method: str) -> None:
        if self.view is not None and method:
            self._show_cached_clusters()
            self._renderer()
            self.method_changed.emit(method)

    def _show_cached_clusters(self) -> None:
        """The clusters of the open store and chosen method if found before, else an empty view."""
        found = self.sprays.get((self.view.path, self.method.currentText())) if self.view is not None else None
        if found is None:
            self.clusters.clear("Press “Find clusters” to cluster the chosen method's maps.")
        else:
            self.clusters.show_result(found, self.view.row_of, self.view.table.classes)

    def _overlay(self, on: bool) -> None:
        self._renderer()
        self.gallery.set_overlay(on)
        self.clusters.members.set_overlay(on)

    def _renderer(self) -> None:
        """Thumbnails of the open run, with the chosen method's maps once they are loaded."""
        view = self.view
        if view is None:
            return
        method = self.method.currentText()
        maps = self.maps.get((view.path, method))
        if self.overlay.isChecked() and maps is None and method:
            self.maps_wanted.emit(method)
        key = (view.path, method, maps is not None)
        if key == self._render_key:
            return  # same store, method and maps: keep the rendered thumbnails
        self._render_key = key
        maps = maps or {}
        pre = view.preprocess

        def render(row, overlay):
            return data.thumbnail(row["path"], SIDE, pre, maps.get(row["id"]) if overlay else None)

        for model in (self.gallery, self.clusters.members):
            model.set_render(render)

    def forget(self, path) -> None:
        """Drop what was loaded from ``path`` (a run added to it): maps are read again when needed."""
        self.maps = {k: v for k, v in self.maps.items() if k[0] != path}
        self.sprays = {k: v for k, v in self.sprays.items() if k[0] != path}
        self._render_key = None

    def set_maps(self, path, method: str, maps: dict) -> None:
        self.maps[(path, method)] = maps
        if self.view is not None and self.view.path == path and method == self.method.currentText():
            self._renderer()

    # ----- cohorts, filter, sort -----
    def _cohort(self, cohort) -> None:
        self.cohort = cohort
        self.apply()

    def _sort(self, column: str, descending: bool) -> None:
        self.order = (column, descending)
        self.apply()

    def apply(self) -> None:
        """Gallery and table show the rows of the chosen cohort that pass the filter, in one order."""
        if self.view is None:
            return
        rows = self.view.table.rows
        if self.cohort is not None:
            ids = set(self.cohort.ids)
            rows = [r for r in rows if r["id"] in ids]
        try:
            rows = data.filter_rows(rows, self.filter.text())
            self.filter.setStyleSheet("")
            self.filter.setToolTip(FILTER_TIP)
        except ValueError as exc:
            self.filter.setStyleSheet("QLineEdit { border: 2px solid #c62828; }")
            self.filter.setToolTip(str(exc))
        if self.order is not None:
            rows = data.sort_rows(rows, *self.order)
        self.shown = rows
        self.gallery.set_rows(rows)
        self.rows.set_rows(rows)
        self.count.setText(f"showing {len(rows)} of {len(self.view.table.rows)}")

    def show_clusters(self, path, method: str, result) -> None:
        self.sprays[(path, method)] = result
        if self.view is not None and self.view.path == path and method == self.method.currentText():
            self.clusters.show_result(result, self.view.row_of, self.view.table.classes)
