"""The "model input" dialog shown after picking a model file: input size, channels,
mean/std and channel order, pre-filled from the model card when there is one.

Parsing and checking are ``core.models.card``'s, the same code the CLI options use.
"""

from __future__ import annotations

from PySide6.QtWidgets import (QComboBox, QDialog, QDialogButtonBox, QFormLayout, QLabel, QLineEdit,
                               QVBoxLayout)

from core.models import InputSpec, Preprocess, read_card
from core.models.card import CHANNELS, card_path, spec_from_values
from core.models.preprocess import CHANNEL_ORDERS


def _text(values) -> str:
    if values is None:
        return ""
    if isinstance(values, (tuple, list)):
        return ", ".join(f"{v:g}" if isinstance(v, float) else str(v) for v in values)
    return str(values)


class ModelInputDialog(QDialog):
    """Asks how a model file wants its input; ``spec()`` is the answer as an ``InputSpec``."""

    def __init__(self, model_path: str, parent=None):
        super().__init__(parent)
        self.setWindowTitle("Model input")
        self.setMinimumWidth(440)
        self.input_size = QLineEdit()
        self.input_size.setObjectName("input_size")
        self.input_size.setToolTip("N or H,W: the size of the model input")
        self.resize_to = QLineEdit()
        self.resize_to.setObjectName("resize")
        self.resize_to.setToolTip("shorter side first resized to this, then the centre cropped; "
                                  "empty: resize straight to the input size")
        self.channels = QComboBox()
        self.channels.setObjectName("channels")
        self.channels.addItems([str(c) for c in CHANNELS])
        self.channels.setToolTip("1: grey from RGB by the ITU-R BT.601 luma weights")
        self.mean = QLineEdit()
        self.mean.setObjectName("mean")
        self.mean.setToolTip("one value, or one per channel, in [0, 1] units")
        self.std = QLineEdit()
        self.std.setObjectName("std")
        self.std.setToolTip("one value, or one per channel, in [0, 1] units")
        self.channel_order = QComboBox()
        self.channel_order.setObjectName("channel_order")
        self.channel_order.addItems(list(CHANNEL_ORDERS))
        self.note = QLabel()
        self.note.setWordWrap(True)
        self.error = QLabel()
        self.error.setObjectName("error")
        self.error.setWordWrap(True)
        self.error.setStyleSheet("color: #c0392b")
        form = QFormLayout()
        form.addRow("input size", self.input_size)
        form.addRow("resize (shorter side)", self.resize_to)
        form.addRow("channels", self.channels)
        form.addRow("mean", self.mean)
        form.addRow("std", self.std)
        form.addRow("channel order", self.channel_order)
        buttons = QDialogButtonBox(QDialogButtonBox.Ok | QDialogButtonBox.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.note)
        layout.addLayout(form)
        layout.addWidget(self.error)
        layout.addWidget(buttons)
        self._fill(model_path)

    def _fill(self, model_path: str) -> None:
        base = Preprocess()
        try:
            card = read_card(model_path)
        except ValueError as exc:
            card = None
            self.error.setText(str(exc).splitlines()[0])
        card = card or InputSpec()
        self.note.setText(f"Pre-filled from the model card {card_path(model_path).name}." if not card.empty else
                          f"No model card ({card_path(model_path).name}); ImageNet defaults shown.")
        channels = card.channels or base.channels
        self.input_size.setText(_text(card.input_size or base.crop))
        straight = card.input_size is not None and card.resize is None
        self.resize_to.setText("" if straight else _text(card.resize or base.resize))
        self.channels.setCurrentText(str(channels))
        default_stats = channels == len(base.mean)
        self.mean.setText(_text(card.mean or (base.mean if default_stats else None)))
        self.std.setText(_text(card.std or (base.std if default_stats else None)))
        self.channel_order.setCurrentText(card.channel_order or base.channel_order)

    def spec(self) -> InputSpec:
        """The fields as an ``InputSpec`` (``ValueError`` when one cannot be read)."""
        return spec_from_values({"input_size": self.input_size.text(), "resize": self.resize_to.text(),
                                 "channels": self.channels.currentText(), "mean": self.mean.text(),
                                 "std": self.std.text(), "channel_order": self.channel_order.currentText()},
                                source="model input dialog")

    def preprocess(self) -> Preprocess:
        """The ``Preprocess`` these fields describe (``ValueError`` when inconsistent)."""
        return self.spec().preprocess(Preprocess())

    def accept(self) -> None:
        try:
            self.preprocess()
        except ValueError as exc:
            self.error.setText(str(exc).splitlines()[0])
            return
        super().accept()
