"""Units: inside the network, one channel at a time — the Deep Visualization Toolbox (Yosinski et
al. 2015) for PyTorch. Pick a layer: every channel's activation map for the current image, in a
virtualised grid sorted by mean or max activation, recomputed live as the image or model changes.
Click a channel: its activation over the image, what in the image drives it (deconvnet, guided
backprop, Grad-CAM with the unit as the target; Zeiler & Fergus 2014), the image synthesised to
excite it (Simonyan et al. 2014), and its top images from a folder or dataset run, cropped to
the region behind each maximum. Beside the grid: the units a class relies on (Zhou et al. 2016,
CAM §5, or the gradient equivalent, labelled as such). Every result is a session result keyed by
the model, image, layer and unit, so nothing from another image or model is ever shown."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QSplitter, QVBoxLayout, QWidget

from .. import adapters
from .. import units_adapters as ua
from ..session import SCOPES
from ..units_class import ClassUnits
from ..units_detail import UnitDetail, show_image
from ..units_panel import ChannelPanel

CANCELLED = "cancelled: change the image, layer or unit to compute it again"


class UnitsWorkspace(QWidget):
    title = "Units"
    default_split = (0.5, 0.5)  # splitter shares (Reset layout)
    maps_shown = Signal(object)  # the layer's channel maps now in the grid (units_adapters.layer_maps)
    unit_map_shown = Signal(object)  # the unit-target Explanation now on its canvas
    class_units_shown = Signal(list)
    synthesis_shown = Signal(object)
    crops_shown = Signal(list)

    def __init__(self, session, jobs, parent=None):
        super().__init__(parent)
        self.session, self.jobs = session, jobs
        self.panel = ChannelPanel()
        p = self.panel
        self.layers, self.order, self.scale, self.state, self.grid = p.layers, p.order, p.scale, p.state, p.grid
        self.classes = ClassUnits()
        self.detail = UnitDetail([(m, adapters.method_spec(m).label) for m in ua.unit_methods()])
        steps = adapters.method_spec(ua.synthesis_method()).param("steps")
        self.detail.steps.setRange(int(steps.min), int(steps.max))
        self.detail.steps.setValue(int(steps.default))

        self.left = QSplitter(Qt.Vertical)
        self.left.setChildrenCollapsible(False)
        self.left.addWidget(self.panel)
        self.left.addWidget(self.classes)
        self.left.setStretchFactor(0, 3)
        self.left.setStretchFactor(1, 2)
        self.splitter = QSplitter(Qt.Horizontal)
        self.splitter.setObjectName("units_splitter")
        self.splitter.setChildrenCollapsible(False)
        self.splitter.addWidget(self.left)
        self.splitter.addWidget(self.detail)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.splitter)

        self.layer: str | None = None
        self.channel: int | None = None
        self.source: str | None = None  # folder or run store searched for top images
        self._session_layer: str | None = None
        self._requested: dict[str, object] = {}  # kind → the key last requested
        self._errors: dict[object, str] = {}
        self._shown: dict[str, object] = {}  # what each view shows now (to emit once per change)
        self._synthesis_jobs: dict[int, object] = {}  # job id → key
        self.layers.currentIndexChanged.connect(self._layer_picked)
        self.order.currentIndexChanged.connect(lambda _i: self._reorder())
        self.grid.channel_clicked.connect(self.select_channel)
        self.classes.unit_clicked.connect(self.select_channel)
        self.classes.class_changed.connect(self.render)
        self.classes.count_changed.connect(lambda _n: self.render())
        d = self.detail
        d.method_changed.connect(lambda _m: self.render())
        d.steps_changed.connect(lambda _n: self.render())
        d.synthesise_requested.connect(self.synthesise)
        d.synthesis_cancel_requested.connect(lambda: jobs.cancel("unit synthesis", lane="background"))
        d.source_chosen.connect(self.set_source)
        d.image_folder_requested.connect(self._image_folder)
        session.model_changed.connect(self._model_changed)
        session.image_changed.connect(self.render)
        session.selection_changed.connect(self._selection_changed)
        session.workspace_changed.connect(lambda _name: self.render())
        session.results_changed.connect(self._results_changed)
        jobs.progressed.connect(self._progressed)

    # ----- selection -----
    def _model_changed(self) -> None:
        s = self.session
        self.panel.set_layers(ua.spatial_layers(s.model.table))
        self.layer = self.channel = None
        self._session_layer = None
        self.classes.set_classes(list(s.bundle.labels or []))
        self._selection_changed()

    def _selection_changed(self) -> None:
        """Follow the session's layer when it changes (the model tree); keep ours otherwise."""
        s = self.session
        if s.layer != self._session_layer or self.layer is None:
            self._session_layer = s.layer
            index = self.layers.findData(s.layer)
            if index < 0 and self.layer is None and self.layers.count():
                index = self.layers.count() - 1
            if index >= 0:
                self.set_layer(self.layers.itemData(index))
                return
        self.render()

    def set_layer(self, name: str) -> None:
        index = self.layers.findData(name)
        if index >= 0 and self.layers.currentIndex() != index:
            self.layers.setCurrentIndex(index)  # → _layer_picked
        else:
            self._layer_picked(index)

    def _layer_picked(self, index: int) -> None:
        name = self.layers.itemData(index) if index >= 0 else None
        if name != self.layer:
            self.layer = name
            self.channel = None
        self.render()

    def select_channel(self, channel: int) -> None:
        self.channel = int(channel)
        self.grid.select_channel(self.channel)
        self.render()

    def set_source(self, source: str) -> None:
        """Search ``source`` (a folder or a run store) for each unit's top images (background lane)."""
        self.source = str(source)
        self.render()

    def _image_folder(self) -> None:
        if self.session.image_path is None:
            self.session.notify("info", "Open an image first: its folder is searched.")
            return
        self.set_source(str(self.session.image_path.parent))

    def _reorder(self) -> None:
        maps = self._shown.get("maps")
        if maps is not None:
            self.grid.channels.set_order(maps["order"][self.panel.order_key()])
            self.grid.select_channel(self.channel)

    def _results_changed(self, kind: str) -> None:
        if kind in ("unit_maps", "unit_map", "class_units", "unit_top", "unit_images"):
            self.render()

    def _active(self) -> bool:
        return self.session.workspace == "units" and self.isVisible()

    # ----- keys and jobs -----
    def key(self, kind: str, method: str | None = None, params: tuple = (), target: int | None = None):
        """The session key of a Units result for our layer (not necessarily the session's)."""
        base = self.session.key(kind)
        values = {"layer": self.layer, "method": method, "params": tuple(params),
                  "target": base.target if target is None else target}
        return base._replace(**{f: values[f] if f in SCOPES[kind] else None for f in values})

    def _request(self, kind: str, key, job_kind: str, fn, lane: str = "interactive") -> None:
        """Compute ``key`` once (latest request of a kind wins); only while the workspace is shown."""
        if self._requested.get(kind) == key or key in self._errors or not self._active():
            return
        self._requested[kind] = key
        s = self.session

        def failed(message):
            self._errors[key] = message
            s.notify("error", f"Units: {job_kind} failed: {message}")
            self.render()

        def cancelled():
            self._errors[key] = CANCELLED
            self.render()

        self.jobs.submit(job_kind, fn, "all" if lane == "background" else True, lane=lane,
                         on_done=lambda value: s.put(key, value), on_error=failed, on_cancel=cancelled)

    def _waiting(self, key, text: str) -> str:
        return self._errors.get(key, text)

    # ----- rendering from the session -----
    def render(self) -> None:
        s = self.session
        ex = s.explainer
        if ex is None or self.layer is None:
            self._show_maps(None)
            self.state.setText("Open an image." if ex is None else "This model has no layer with channel maps.")
            self._render_detail(None)
            self.classes.show_units(None, "")
            return
        key = self.key("unit_maps")
        result = s.get(key)
        if result is None:
            self._show_maps(None)
            self.state.setText(self._waiting(key, f"computing the activation of every channel of {self.layer}…"
                                             if self._active() else ""))
            bundle, x, layer = ex.bundle, ex.x, self.layer
            self._request("unit_maps", key, "channel maps", lambda progress: ua.layer_maps(bundle, x, layer))
        else:
            self._show_maps(result)
            c = len(result["maps"])
            self.state.setText(f"{c} channels of {self.layer}, {result['maps'].shape[1]}×{result['maps'].shape[2]} "
                               f"each, on {s.image_path.name if s.image_path else 'this image'}. Brighter = fires "
                               "more. Click a tile to look at that unit.")
        self._render_detail(result)
        self._render_class_units()

    def _show_maps(self, result) -> None:
        if result is self._shown.get("maps"):
            return
        self._shown["maps"] = result
        if result is None:
            self.grid.channels.set_maps(None)
            return
        self.grid.channels.set_maps(result["maps"], result["order"][self.panel.order_key()])
        self.grid.select_channel(self.channel)
        self.maps_shown.emit(result)

    def _render_detail(self, maps) -> None:
        d, s = self.detail, self.session
        c = self.channel
        if maps is None or c is None or c >= len(maps["maps"]):
            d.header.setText("Click a channel in the grid, or a unit in the class list." if maps is not None else "")
            display = s.explainer.display if s.explainer is not None else None
            for canvas in (d.activation, d.unit_map, d.synthesis):
                show_image(canvas, display if canvas is not d.synthesis else None)
                canvas.clear_map("click a channel" if maps is not None and canvas is not d.synthesis else None)
            for view in ("unit_map", "synthesis", "crops", "activation"):
                self._shown.pop(view, None)
            d.unit_note.setText("")
            d.synthesis_note.setText("")
            d.top.show_crops(None)
            d.top_note.setText("")
            return
        rank = int((maps["order"]["mean"] == c).nonzero()[0][0]) + 1
        d.header.setText(f"<b>Unit {self.layer}:{c}</b> — mean activation {maps['mean'][c]:.3g}, max "
                         f"{maps['max'][c]:.3g} (higher: fires more); rank {rank} of {len(maps['maps'])} by mean.")
        display = s.explainer.display
        for canvas in (d.activation, d.unit_map):
            show_image(canvas, display)
        shown = self._shown.get("activation")
        if shown is None or shown[0] is not maps or shown[1] != c or d.activation.attr_map is None:
            d.activation.set_map(ua.upsample(maps["maps"][c], display.shape[:2]))
            self._shown["activation"] = (maps, c)
        self._render_unit_map(c)
        self._render_synthesis(c)
        self._render_top(c)

    def _render_unit_map(self, c: int) -> None:
        d, s = self.detail, self.session
        method = d.current_method()
        key = self.key("unit_map", method, (("channel", c),))
        result = s.get(key)
        if result is None:
            self._shown.pop("unit_map", None)
            d.unit_map.clear_map(self._waiting(key, "computing…"))
            d.unit_note.setText("")
            explainer, layer = s.explainer, self.layer
            self._request("unit_map", key, "unit map",
                          lambda progress: ua.unit_explanation(explainer, layer, c, method))
            return
        if self._shown.get("unit_map") is not result:
            d.unit_map.set_map(result.map)
            info = result.info
            d.unit_note.setText(" ".join(t for t in (info.get("warning"), info.get("note")) if t))
            self._shown["unit_map"] = result
            self.unit_map_shown.emit(result)

    def _render_synthesis(self, c: int) -> None:
        d, s = self.detail, self.session
        steps = d.steps.value()
        key = self.key("unit_images", params=(("synthesis", c), ("steps", steps)))
        running = [job for job, k in self._synthesis_jobs.items() if k == key]
        d.set_synthesis_running(bool(running))
        value = s.get(key)
        if value is None or value["image"] is None:
            show_image(d.synthesis, None)
            self._shown.pop("synthesis", None)
            if value is None:
                bundle, layer = s.bundle, self.layer
                self._request("synthesis", key, "saved synthesis look-up",
                              lambda progress: {"image": ua.cached_synthesis(bundle, layer, c, steps)})
            spec = adapters.method_spec(ua.synthesis_method())
            estimate = adapters.estimate_text(spec, spec.resolve(ua.synthesis_params(steps)),
                                              s.bundle.preprocess.crop, s.seconds_per_pass())
            d.synthesis_note.setText("making it (background: see the status bar)…" if running else
                                     self._waiting(key, f"Not made yet: press Synthesise ({estimate})."
                                                   if value is not None else "looking for a saved image…"))
            return
        if self._shown.get("synthesis") is not value:
            show_image(d.synthesis, value["image"])
            d.synthesis_note.setText(f"Made in {steps} steps; saved for this model.")
            self._shown["synthesis"] = value
            self.synthesis_shown.emit(value["image"])

    def synthesise(self) -> None:
        """Make the selected unit's image in the background lane (progress, Cancel), saved on disk."""
        s = self.session
        if s.bundle is None or self.channel is None or self.layer is None:
            s.notify("info", "Click a channel first.")
            return
        c, layer, steps = self.channel, self.layer, self.detail.steps.value()
        key = self.key("unit_images", params=(("synthesis", c), ("steps", steps)))
        bundle = s.bundle
        self._errors.pop(key, None)

        def ended(*_):
            self._synthesis_jobs.pop(job, None)
            self.render()

        def done(image):
            self._synthesis_jobs.pop(job, None)
            s.put(key, {"image": image})
            s.say(f"synthesised image of unit {layer}:{c} ready")

        job = self.jobs.submit("unit synthesis", lambda progress: ua.synthesise(
            adapters.private_copy(bundle), layer, c, steps, progress), False, lane="background", on_done=done,
            on_error=lambda m: (s.notify("error", f"Synthesising unit {layer}:{c} failed: {m}"), ended()),
            on_cancel=ended)
        self._synthesis_jobs[job] = key
        self.render()

    def _progressed(self, job_id: int, _kind: str, done: int, total: int, _message: str) -> None:
        key = self._synthesis_jobs.get(job_id)
        if key is not None and self.channel is not None and key == self.key(
                "unit_images", params=(("synthesis", self.channel), ("steps", self.detail.steps.value()))):
            self.detail.set_synthesis_running(True, done, total)

    def _render_top(self, c: int) -> None:
        d, s = self.detail, self.session
        crops, note = self._top_crops(c)
        if crops is None:
            self._shown.pop("crops", None)
            d.top.show_crops(None)
            d.top_note.setText(note)
        elif self._shown.get("crops") is not crops:
            d.top.show_crops(crops)
            d.top_note.setText(note)
            self._shown["crops"] = crops
            self.crops_shown.emit(crops)

    def _top_crops(self, c: int):
        """(crops, note) of unit ``c`` from the chosen source; (None, what is missing) while they
        are computed (the layer's top images in the background lane, then the unit's crops)."""
        s = self.session
        if self.source is None:
            return None, "Choose where to search for the images that excite this unit most."
        name = Path(self.source).name
        top_key = self.key("unit_top", params=(("source", self.source),))
        top = s.get(top_key)
        if top is None:
            bundle, layer, source = s.bundle, self.layer, self.source
            self._request("unit_top", top_key, "top images", lambda progress: ua.top_images(
                adapters.private_copy(bundle), source, layer, progress), lane="background")
            return None, self._waiting(top_key, f"searching {name} for every channel's top images "
                                                "(background: see the status bar)…")
        key = self.key("unit_images", params=(("crops", c), ("source", self.source)))
        crops = s.get(key)
        if crops is None:
            bundle, layer = s.bundle, self.layer
            self._request("unit_crops", key, "unit crops", lambda progress: ua.unit_crops(bundle, top, layer, c))
            return None, self._waiting(key, "cropping each image to the region behind the maximum…")
        skipped = f"; {len(top.skipped)} unreadable skipped" if top.skipped else ""
        return crops, f"Best {len(crops)} of {len(top.files)} images in {name}{skipped}."

    def _render_class_units(self) -> None:
        s = self.session
        index = self.classes.chosen()
        index = s.target_index() if index is None else index
        top = self.classes.count.value()
        key = self.key("class_units", params=(("top", top),), target=index)
        units = s.get(key)
        if units is None:
            self._shown.pop("class_units", None)
            self.classes.show_units(None, self._waiting(key, f"computing the units class {s.bundle.label(index)} "
                                                             "relies on…"))
            explainer, layer = s.explainer, self.layer
            self._request("class_units", key, "class units",
                          lambda progress: ua.class_units(explainer, index, layer, top))
            return
        if self._shown.get("class_units") is not units:
            self.classes.show_units(units, f"Class: {s.bundle.label(index)}.")
            self._shown["class_units"] = units
            self.class_units_shown.emit(units)

    def showEvent(self, event) -> None:  # noqa: N802 - Qt API
        super().showEvent(event)
        self.render()

