"""The model browser: bundled demo / torchvision zoo / timm (searched by name) / file, and a
searchable layer tree."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QApplication, QComboBox, QDialog, QFileDialog, QHBoxLayout, QLabel, QLineEdit,
                               QMessageBox, QPushButton, QTreeWidget, QTreeWidgetItem, QVBoxLayout, QWidget)


class _ModelList(QComboBox):
    """The model combo box; completes the list (``before_popup``) before it opens."""

    def __init__(self, before_popup):
        super().__init__()
        self._before_popup = before_popup

    def showPopup(self) -> None:  # noqa: N802 (Qt's name)
        self._before_popup()
        super().showPopup()


class ModelBrowser(QWidget):
    """Emits ``load_requested(spec, weights, trust)``, ``file_load_requested(path, trust, inputs)``
    (``inputs``: the ``InputSpec`` from the model input dialog) and ``layer_selected(name)``."""

    load_requested = Signal(str, str, bool)
    file_load_requested = Signal(str, bool, object)
    layer_selected = Signal(str)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.model = _ModelList(self.populate)
        self.model.setObjectName("model")
        self.model.setEditable(False)
        self.model.addItem("loading the model list…")
        self.demo_models: set[str] = set()
        self.base_models: list[str] = []
        self.zoo_listed = False
        self.weights = QComboBox()
        self.weights.setObjectName("weights")
        self.weights.addItems(["DEFAULT", "none"])
        self.weights.setToolTip("DEFAULT downloads pretrained weights once (needs internet); none = random init")
        self.find = QLineEdit()
        self.find.setObjectName("model_search")
        self.find.setPlaceholderText("search models (timm too)")
        self.find.setToolTip("Narrows the model list to names containing every word typed; models from the timm "
                             "library (if installed) are searched too and appear as timm:NAME")
        load = QPushButton("Load")
        load.setObjectName("load_model")
        open_file = QPushButton("Open model file…")
        open_file.setToolTip("TorchScript, a state dict with a model card naming its architecture, or a pickled "
                             "nn.Module (asks before running its code; .safetensors files never run code)")
        weights_file = QPushButton("Weights file for this architecture…")
        weights_file.setToolTip("a state-dict checkpoint (.pth or .safetensors) for the torchvision or timm model "
                                "chosen above")
        self.loaded = QLabel("no model loaded")
        self.loaded.setObjectName("loaded_model")
        self.loaded.setWordWrap(True)
        self.search = QLineEdit()
        self.search.setPlaceholderText("filter layers")
        self.tree = QTreeWidget()
        self.tree.setObjectName("layers")
        self.tree.setHeaderLabels(["layer", "type", "output"])
        self.tree.setColumnWidth(0, 190)
        row = QHBoxLayout()
        row.addWidget(self.model, 3)
        row.addWidget(self.weights, 1)
        row.addWidget(load)
        layout = QVBoxLayout(self)
        layout.addWidget(self.loaded)
        layout.addWidget(self.find)
        layout.addLayout(row)
        layout.addWidget(open_file)
        layout.addWidget(weights_file)
        layout.addWidget(self.search)
        layout.addWidget(self.tree, 1)
        load.clicked.connect(self._load_selected)
        open_file.clicked.connect(self._open_file)
        weights_file.clicked.connect(self._weights_file)
        self.search.textChanged.connect(self._filter)
        self.find.textChanged.connect(self.search_models)
        self.tree.itemClicked.connect(lambda item, _: self.layer_selected.emit(item.data(0, Qt.UserRole)))
        self.items: dict[str, QTreeWidgetItem] = {}

    def populate(self, wait: bool = True) -> None:
        """Fill the model list: the bundled demo models, then the torchvision zoo. The zoo's names
        come from the last run's list when torchvision is unchanged; otherwise listing them imports
        torchvision (~2 s, once per installation), which ``wait=False`` leaves until the list is
        opened, searched or used (the start-up calls it so; a thread would let Python's collector
        run off the GUI thread, see desktop.jobs)."""
        if self.zoo_listed:
            return
        from core.models import DEMO_MODELS, cached_zoo_names, zoo_names

        self.demo_models = set(DEMO_MODELS)
        zoo = cached_zoo_names()
        if zoo is None and not wait:
            if not self.base_models:
                self.base_models = list(DEMO_MODELS)
                self._show_models(self.base_models)
            return
        if zoo is None:
            QApplication.setOverrideCursor(Qt.WaitCursor)
            try:
                zoo = zoo_names()
            finally:
                QApplication.restoreOverrideCursor()
        self.base_models = list(DEMO_MODELS) + list(zoo)
        self.zoo_listed = True
        self._show_models(self.base_models)

    def _show_models(self, names: list[str]) -> None:
        current = self.model.currentText()
        self.model.clear()
        self.model.addItems(names)
        if self.model.findText(current) >= 0:
            self.model.setCurrentText(current)

    def search_models(self, text: str) -> None:
        """Show the demo and torchvision models whose names contain every word of ``text``, then the
        matching timm models (``timm:NAME``; listed once timm is imported, on the first search)."""
        self.populate()
        words = text.lower().split()
        if not words:
            self._show_models(self.base_models)
            return
        from core.models.timm_models import search

        found = [n for n in self.base_models if all(w in n.lower() for w in words)]
        self._show_models(found + search(" ".join(w.removeprefix("timm:") for w in words)))

    def _load_selected(self) -> None:
        self.populate()
        name = self.model.currentText()
        weights = "none" if name in self.demo_models else self.weights.currentText()
        self.load_requested.emit(name, weights, False)

    def _open_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open a model file", "",
                                              "Models (*.pt *.pth *.ts *.pkl *.safetensors);;All (*)")
        if not path:
            return
        from core.models.checkpoints import is_safetensors

        trust = False  # a safetensors file holds tensors only: nothing to trust
        if not is_safetensors(path):
            answer = QMessageBox.question(
                self, "Trust this file?", "If this is a pickled model, loading it runs code from the file.\n"
                "Load it only if you trust where it came from. Allow running its code?",
                QMessageBox.Yes | QMessageBox.No, QMessageBox.No)
            trust = answer == QMessageBox.Yes
        from .input_dialog import ModelInputDialog

        dialog = ModelInputDialog(path, self)
        if dialog.exec() != QDialog.Accepted:
            return
        self.file_load_requested.emit(path, trust, dialog.spec())

    def _weights_file(self) -> None:
        self.populate()
        name = self.model.currentText()
        if name in self.demo_models:
            QMessageBox.information(self, "Choose an architecture", "Pick a torchvision or timm model first.")
            return
        path, _ = QFileDialog.getOpenFileName(self, f"State dict for {name}", "",
                                              "Checkpoints (*.safetensors *.pt *.pth *.bin);;All (*)")
        if path:
            self.load_requested.emit(name, path, False)

    def show_loaded(self, name: str, source: str, random_weights: bool) -> None:
        """Name the model that is loaded (also after a failed load of another one)."""
        self.populate(wait=False)
        index = self.model.findText(name)
        if index < 0 and (name.startswith("timm:") or not self.zoo_listed):  # a search's, or the zoo is not listed yet
            self.model.addItem(name)
            index = self.model.findText(name)
        if index >= 0:
            self.model.setCurrentIndex(index)
        if random_weights:
            self.loaded.setText(f"<b>Loaded: {name}</b> — <span style='color:#c5221f'>random weights: "
                                "predictions and maps mean nothing</span>")
        else:
            self.loaded.setText(f"<b>Loaded: {name}</b> ({source})")

    def set_layers(self, table, selected: str | None = None) -> None:
        """Fill the tree from ``core.layers.layer_table`` rows (nested by dotted names)."""
        self.tree.clear()
        self.items = {}
        for info in table:
            parent_name = info.name.rpartition(".")[0]
            parent = self.items.get(parent_name)
            shape = "×".join(str(s) for s in info.shape[1:]) if info.shape else "?"
            item = QTreeWidgetItem([info.name.rpartition(".")[2], info.type, shape])
            item.setData(0, Qt.UserRole, info.name)
            item.setToolTip(0, info.name)
            layout = getattr(info, "layout", None)
            if layout is not None:  # how the output's axes were read, and from what
                item.setToolTip(2, f"{layout.describe()} (found from the {layout.source})")
            (parent.addChild(item) if parent is not None else self.tree.addTopLevelItem(item))
            self.items[info.name] = item
        if selected:
            self.mark(selected)

    def mark(self, name: str) -> None:
        item = self.items.get(name)
        if item is not None:
            self.tree.setCurrentItem(item)
            self.tree.scrollToItem(item)

    def _filter(self, text: str) -> None:
        text = text.lower().strip()
        for name, item in self.items.items():
            item.setHidden(bool(text) and text not in name.lower() and text not in item.text(1).lower())
            if text and not item.isHidden():
                parent = item.parent()
                while parent is not None:
                    parent.setHidden(False)
                    parent.setExpanded(True)
                    parent = parent.parent()

