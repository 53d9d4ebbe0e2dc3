"""The left half of the Units workspace's top: which layer, in which order, on which colour scale,
and the channel grid itself (desktop.units_grid). A view only."""

from __future__ import annotations

from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from .units_grid import ORDERS, ChannelGrid


class ChannelPanel(QWidget):
    def __init__(self, parent=None):
        super().__init__(parent)
        self.layers = QComboBox()
        self.layers.setObjectName("units_layer")
        self.layers.setToolTip("The layer whose channels (units) are shown; it starts as the layer selected in "
                               "the model tree and follows it.")
        self.order = QComboBox()
        self.order.setObjectName("units_order")
        for key, text in ORDERS.items():
            self.order.addItem(text, key)
        self.order.setCurrentIndex(1)
        self.order.setToolTip("Order of the tiles: mean activation = how much of the image the unit fires on; "
                              "max = how strongly it fires at its best spot.")
        self.scale = QComboBox()
        self.scale.setObjectName("units_scale")
        self.scale.addItems(["one scale for the layer", "each its own scale"])
        self.scale.setToolTip("One scale: a bright tile fires more than a dark one. Own scale: each tile shows "
                              "where its channel fires, however weakly.")
        self.state = QLabel("")
        self.state.setObjectName("units_state")
        self.state.setWordWrap(True)
        self.grid = ChannelGrid()
        self.grid.setObjectName("units_grid")
        self.grid.setToolTip("Every channel's activation map on this image (Yosinski et al. 2015). Click one.")
        self.grid.setMinimumSize(220, 160)
        for combo in (self.layers, self.order, self.scale):
            combo.setSizeAdjustPolicy(QComboBox.AdjustToMinimumContentsLengthWithIcon)
            combo.setMinimumContentsLength(10)
        first, second = QHBoxLayout(), QHBoxLayout()
        first.addWidget(QLabel("Layer"))
        first.addWidget(self.layers, 1)
        second.addWidget(QLabel("Order"))
        second.addWidget(self.order, 1)
        second.addWidget(QLabel("colours"))
        second.addWidget(self.scale, 1)
        column = QVBoxLayout(self)
        column.setContentsMargins(0, 0, 0, 0)
        column.addLayout(first)
        column.addLayout(second)
        column.addWidget(self.state)
        column.addWidget(self.grid, 1)
        self.scale.currentIndexChanged.connect(lambda i: self.grid.channels.set_shared(i == 0))

    def set_layers(self, rows: list[tuple[str, int, int, int]]) -> None:
        """(name, channels, height, width) per layer; no signal."""
        self.layers.blockSignals(True)
        self.layers.clear()
        for name, c, h, w in rows:
            self.layers.addItem(f"{name} — {c} channels, {h}×{w}", name)
        self.layers.blockSignals(False)

    def order_key(self) -> str:
        return self.order.currentData()
