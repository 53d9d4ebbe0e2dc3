"""The cluster view of a dataset run: spectral relevance analysis (SpRAy; Lapuschkin et al. 2019,
"Unmasking Clever Hans predictors") of one method's maps, per class.

A scatter of the class's 2-D embedding (t-SNE of the normalised maps) coloured by cluster, the
class's clusters as a list, and for the chosen cluster its mean map and its images (a gallery).
Clicking a point selects that image's cluster; double-clicking an image opens it in Explain."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QComboBox, QHBoxLayout, QLabel, QListWidget, QListWidgetItem, QPushButton, QSplitter,
                               QVBoxLayout, QWidget)

from .dataset_gallery import GalleryModel, GalleryView, to_pixmap
from .widgets import titled

COLOURS = ("#1a73e8", "#e8710a", "#188038", "#d93025", "#9334e6", "#12b5cb", "#f9ab00", "#5f6368")
MEAN_SIDE = 96


class ClusterView(QWidget):
    find_requested = Signal()
    image_activated = Signal(object)  # row dict
    cluster_shown = Signal(object)  # core.workbench.spray.Cluster

    def __init__(self, colorize, parent=None):
        super().__init__(parent)
        self.colorize = colorize  # map → RGB (adapters)
        self.result = None
        self.row_of: dict[int, dict] = {}
        self.find = QPushButton("Find clusters")
        self.find.setObjectName("find_clusters")
        self.find.setToolTip("Spectral relevance analysis (Lapuschkin et al. 2019): per class, cluster the "
                             "normalised maps of the chosen method (spectral clustering of a k-nearest-neighbour "
                             "graph, the number of clusters from the eigengap) and place them in 2-D by t-SNE. A "
                             "small cluster whose mean map looks at something other than the object can be a "
                             "shortcut the model learned.")
        self.find.clicked.connect(self.find_requested)
        self.classes = QComboBox()
        self.classes.setToolTip("SpRAy clusters each class separately (the true class where known)")
        self.classes.currentIndexChanged.connect(self._class_changed)
        self.status = QLabel("Run a dataset or open a run, then find the clusters of a method's maps.")
        self.status.setWordWrap(True)
        self.plot = pg.PlotWidget()
        self.plot.setBackground("w")
        self.plot.setMinimumSize(200, 140)
        self.plot.hideAxis("left")
        self.plot.hideAxis("bottom")
        self.plot.setToolTip("Each point is one image, placed by how similar its map is to the others (t-SNE); "
                             "colour = cluster. Click a point to show its cluster.")
        self.scatter = pg.ScatterPlotItem(size=11, hoverable=True)
        self.scatter.sigClicked.connect(self._point_clicked)
        self.plot.addItem(self.scatter)
        self.list = QListWidget()
        self.list.setObjectName("cluster_list")
        self.list.setMinimumHeight(40)
        self.list.currentRowChanged.connect(self._cluster_row)
        self.mean = QLabel()
        self.mean.setFixedSize(MEAN_SIDE, MEAN_SIDE)
        self.mean.setAlignment(Qt.AlignCenter)
        self.mean.setToolTip("The mean of the cluster's maps (raw values, colour-scaled to their range)")
        self.mean_title = QLabel("<b>Mean map</b>")
        self.members = GalleryModel()
        self.member_view = GalleryView(self.members)
        self.member_view.setObjectName("cluster_members")
        self.member_view.image_activated.connect(self.image_activated)
        self.members_title = QLabel("<b>Images of the cluster</b>")
        top = QHBoxLayout()
        top.addWidget(self.find)
        top.addWidget(QLabel("class"))
        top.addWidget(self.classes, 1)
        side = QWidget()
        column = QVBoxLayout(side)
        column.setContentsMargins(0, 0, 0, 0)
        column.addWidget(QLabel("<b>Clusters</b> (largest first)"))
        column.addWidget(self.list, 1)
        column.addWidget(self.mean_title)
        column.addWidget(self.mean)
        upper = QSplitter(Qt.Horizontal)
        upper.addWidget(self.plot)
        upper.addWidget(side)
        upper.setSizes([400, 200])
        body = QSplitter(Qt.Vertical)
        body.addWidget(upper)
        body.addWidget(titled(self.members_title, self.member_view))
        body.setSizes([300, 200])
        for part in (upper, body):
            part.setChildrenCollapsible(False)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(top)
        layout.addWidget(self.status)
        layout.addWidget(body, 1)

    def set_render(self, render) -> None:
        self.members.set_render(render)

    def clear(self, text: str = "") -> None:
        self.result = None
        self.classes.blockSignals(True)
        self.classes.clear()
        self.classes.blockSignals(False)
        self.scatter.clear()
        self.list.clear()
        self.mean.clear()
        self.members.set_rows([])
        self.status.setText(text)

    def show_result(self, result, row_of: dict[int, dict], class_names: list[str]) -> None:
        """A ``core.workbench.spray.SprayResult``; ``row_of``: image id → table row."""
        self.clear()
        self.result, self.row_of = result, row_of
        per_class: dict[int, int] = {}
        for c in result.clusters:
            per_class[c.class_index] = per_class.get(c.class_index, 0) + 1
        self.status.setText(f"{len(result.clusters)} clusters of {result.method} maps over {len(per_class)} classes "
                            f"({'true' if result.by_true_class else 'predicted'} classes).")
        self.classes.blockSignals(True)
        for cls, n in sorted(per_class.items()):
            name = class_names[cls] if 0 <= cls < len(class_names) else f"class {cls}"
            self.classes.addItem(f"{name} — {n} cluster{'s' * (n != 1)}", cls)
        self.classes.blockSignals(False)
        self._class_changed()

    def _clusters(self) -> list:
        cls = self.classes.currentData()
        return [c for c in self.result.clusters if c.class_index == cls] if self.result else []

    def _class_changed(self, _index: int = 0) -> None:
        clusters = self._clusters()
        spots = []
        for c in clusters:
            colour = COLOURS[c.cluster % len(COLOURS)]
            for image_id in c.ids:
                x, y = self.result.embedding.get(image_id, (0.0, 0.0))
                spots.append({"pos": (x, y), "data": image_id, "brush": pg.mkBrush(colour), "pen": pg.mkPen("w")})
        self.scatter.setData(spots)
        self.plot.autoRange()
        self.list.blockSignals(True)
        self.list.clear()
        for c in clusters:
            item = QListWidgetItem(f"cluster {c.cluster}: {len(c.ids)} images")
            item.setForeground(pg.mkColor(COLOURS[c.cluster % len(COLOURS)]))
            self.list.addItem(item)
        self.list.blockSignals(False)
        if clusters:
            self.list.setCurrentRow(0)

    def _point_clicked(self, _item, points, _event=None) -> None:
        if len(points):
            self.select_image(int(points[0].data()))

    def select_image(self, image_id: int) -> None:
        """Show the cluster holding ``image_id`` (of the class shown)."""
        for row, c in enumerate(self._clusters()):
            if image_id in c.ids:
                self.list.setCurrentRow(row)
                self._cluster_row(row)
                return

    def _cluster_row(self, row: int) -> None:
        clusters = self._clusters()
        if not 0 <= row < len(clusters):
            return
        c = clusters[row]
        rgb = self.colorize(c.mean_map)
        pix = to_pixmap(np.ascontiguousarray(rgb))
        self.mean.setPixmap(pix.scaled(MEAN_SIDE, MEAN_SIDE, Qt.KeepAspectRatio, Qt.FastTransformation))
        self.mean_title.setText(f"<b>Mean map</b> of cluster {c.cluster} ({len(c.ids)} images)")
        self.members_title.setText(f"<b>Images of cluster {c.cluster}</b> — double-click one to explain it")
        self.members.set_rows([self.row_of[i] for i in c.ids if i in self.row_of])
        self.cluster_shown.emit(c)
