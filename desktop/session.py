"""The session: the single source of truth of the desktop application.

It holds the loaded model (bundle + how it was loaded), the image, the explained class, the
layer, the method and its parameters, and the workspace; and every result keyed by exactly the
selection it was computed for (``ResultKey``). Views render from the session and show a result
only when its key matches the current selection: a result for another image or model is
removed at once, one for another method/target/layer/parameters stays cached but is not shown
(switching back shows it again without recomputing).

The requests that change the model or the image, or compute an explanation, run on the job
runner (``load_model``, ``open_image``, ``explain``); a failed or cancelled request leaves the
session as it was and says so (``notice``). Saving and reopening a session: ``to_dict`` /
``apply_dict`` with ``desktop.session_file``.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, NamedTuple

import numpy as np
from PySide6.QtCore import QObject, Signal

from . import adapters
from .workspaces import WORKSPACES

FIELDS = ("model", "image", "target", "layer", "method", "params")
# which parts of the selection each kind of result depends on
SCOPES = {
    "explanation": FIELDS, "metrics": FIELDS, "attack": FIELDS, "sweep": FIELDS,
    "headline": FIELDS,  # one headline metric of a Compare cell
    "sanity": ("model", "method", "params"),  # a method's sanity verdict (desktop.sanity_view)
    "disagreement": ("model", "image", "target"),  # method ranks per metric (desktop.disagreement_view)
    "patch_probe": ("model", "image", "target"),  # drag-to-occlude readings
    "scan": ("model",), "bias": ("model", "layer", "method", "params"),
    "counterfactual": ("model", "layer", "method", "params"),
    "unit_maps": ("model", "image", "layer"), "unit_map": ("model", "image", "layer", "method", "params"),  # Units
    "class_units": ("model", "image", "target", "layer", "params"), "unit_top": ("model", "layer", "params"),
    "unit_images": ("model", "layer", "params"),  # Units: a unit's synthesised image or top-image crops
    "distill_maps": FIELDS,  # teacher and student maps of the current image (Distill)
}
CACHE_PER_KIND = 48


class ResultKey(NamedTuple):
    kind: str
    model: str | None
    image: str | None
    target: int | None
    layer: str | None
    method: str | None
    params: tuple | None


@dataclass
class LoadedModel:
    """A loaded model and how it was loaded (for reloading, saving and messages)."""

    bundle: Any
    spec: str
    weights: str
    trust: bool = False
    inputs: Any = None  # core.models.InputSpec for a model file
    device: str = "cpu"
    table: list = field(default_factory=list)
    default_layer: str | None = None
    seconds_per_pass: float | None = None  # measured after the first map: one image of a batched forward
    tag: str = ""  # unique per load: part of every result key

    @property
    def name(self) -> str:
        return self.bundle.name

    @property
    def random_weights(self) -> bool:
        return self.bundle.source == "random init"


def _freeze(values: dict) -> tuple:
    return tuple(sorted((k, v.item() if isinstance(v, np.generic) else v) for k, v in values.items()))


class Session(QObject):
    model_changed = Signal()
    image_changed = Signal()
    selection_changed = Signal()  # target, layer, method or parameters
    workspace_changed = Signal(str)
    results_changed = Signal(str)  # kind
    model_load_failed = Signal(str)
    notice = Signal(str, str, str)  # level ("error" | "warning" | "info" | "status"), text, details
    partial_map = Signal(object, object)  # ResultKey, H×W array (from the worker)
    explain_cancelled = Signal(object)  # ResultKey of the explanation that was cancelled or failed
    timing_changed = Signal()  # the model's time per pass was measured

    def __init__(self, jobs, parent=None):
        super().__init__(parent)
        self.jobs = jobs
        self.model: LoadedModel | None = None
        self.image_path: Path | None = None
        self.explainer = None
        self.target: int | None = None  # None: the predicted class
        self.layer: str | None = None
        self.method: str = adapters.DEFAULT_METHOD
        self.params: dict = adapters.method_spec(self.method).resolve({})
        self.workspace = next(iter(WORKSPACES))
        self.device = "cpu"
        self.running: dict[ResultKey, int] = {}  # explanation key → job id
        self.last_finished: ResultKey | None = None  # the explanation shown before a Run
        self._params_by_method: dict[str, dict] = {}
        self._results: dict[str, OrderedDict] = {}
        self._loads = 0
        self._images = 0
        self._image_tag: str | None = None

    # ----- state -----
    @property
    def bundle(self):
        return self.model.bundle if self.model else None

    def target_index(self) -> int | None:
        if self.target is not None:
            return self.target
        return self.explainer.prediction[0][0] if self.explainer is not None else None

    def seconds_per_pass(self) -> float | None:
        """For time estimates: measured after loading, else the single-image predict time."""
        if self.model is not None and self.model.seconds_per_pass:
            return self.model.seconds_per_pass
        return self.explainer.predict_time if self.explainer is not None else None

    def spec(self, method: str | None = None):
        return adapters.method_spec(method or self.method)

    def params_for(self, method: str) -> dict:
        if method == self.method:
            return dict(self.params)
        return self.spec(method).resolve(self._params_by_method.get(method, {}))

    def set_model(self, loaded: LoadedModel, explainer=None, image_path: Path | None = None) -> None:
        self._loads += 1
        loaded.tag = f"{self._loads}:{loaded.name}"
        self.model, self.layer, self.target = loaded, loaded.default_layer, None
        self.explainer = explainer
        self.image_path = Path(image_path) if explainer is not None and image_path else None
        self._new_image_tag()
        self._prune()
        self.model_changed.emit()
        self._calibrate(loaded)

    def _calibrate(self, loaded: LoadedModel) -> None:
        """Measure the time per pass after the first map (queued behind it) for the estimates."""

        def done(seconds):
            if self.model is loaded and seconds:
                loaded.seconds_per_pass = seconds
                self.timing_changed.emit()

        self.jobs.submit("calibrate", lambda progress: adapters.seconds_per_pass(loaded.bundle), on_done=done)

    def set_image(self, path: Path, explainer) -> None:
        self.image_path, self.explainer, self.target = Path(path), explainer, None
        self._new_image_tag()
        self._prune()
        self.image_changed.emit()

    def _new_image_tag(self) -> None:
        self._images += 1
        self._image_tag = f"{self._images}:{self.image_path.name}" if self.explainer and self.image_path else None
        self.last_finished = None

    def set_target(self, index: int | None) -> None:
        if index != self.target:
            self.target = index
            self.selection_changed.emit()

    def set_layer(self, name: str | None) -> None:
        if name != self.layer:
            self.layer = name
            self.selection_changed.emit()

    def set_method(self, name: str, params: dict | None = None) -> None:
        values = self.spec(name).resolve(params if params is not None else self._params_by_method.get(name, {}))
        if (name, values) != (self.method, self.params):
            self._params_by_method[self.method] = dict(self.params)
            self.method, self.params = name, values
            self.selection_changed.emit()

    def set_params(self, params: dict) -> None:
        self.set_method(self.method, {**self.params, **params})

    def set_workspace(self, name: str) -> None:
        if name != self.workspace and name in WORKSPACES:
            self.workspace = name
            self.workspace_changed.emit(name)

    def select_key(self, key: ResultKey) -> None:
        """Make ``key``'s target, layer, method and parameters the selection (one signal)."""
        self._params_by_method[self.method] = dict(self.params)
        self.target = key.target if key.target != self._predicted() else None
        self.layer = key.layer if key.layer is not None else self.layer
        self.method, self.params = key.method, dict(key.params)
        self.selection_changed.emit()

    def _predicted(self) -> int | None:
        return self.explainer.prediction[0][0] if self.explainer is not None else None

    # ----- results -----
    def key(self, kind: str = "explanation", method: str | None = None, params: dict | None = None) -> ResultKey:
        """The key a result of ``kind`` for the current selection has (``method``/``params``:
        for another method than the selected one, e.g. a Compare cell)."""
        method = method or self.method
        spec = self.spec(method)
        values = spec.resolve(params) if params is not None else self.params_for(method)
        current = {"model": self.model.tag if self.model else None, "image": self._image_tag,
                   "target": self.target_index(), "layer": self.layer if spec.needs_layer else None,
                   "method": method, "params": _freeze(values)}
        scope = SCOPES[kind]
        return ResultKey(kind, *(current[f] if f in scope else None for f in FIELDS))

    def put(self, key: ResultKey, value) -> bool:
        """Store a result; False (and dropped) when its model or image is no longer loaded."""
        if not self._alive(key):
            return False
        store = self._results.setdefault(key.kind, OrderedDict())
        store[key] = value
        store.move_to_end(key)
        while len(store) > CACHE_PER_KIND:
            store.popitem(last=False)
        if key.kind == "explanation":
            self.last_finished = key
        self.results_changed.emit(key.kind)
        return True

    def get(self, key: ResultKey):
        return self._results.get(key.kind, {}).get(key)

    def result(self, kind: str = "explanation", method: str | None = None, params: dict | None = None):
        """The result of ``kind`` for the current selection, or None (not computed)."""
        if self.model is None:
            return None
        return self.get(self.key(kind, method, params))

    def drop(self, kind: str) -> None:
        if self._results.pop(kind, None):
            self.results_changed.emit(kind)

    def _alive(self, key: ResultKey) -> bool:
        scope = SCOPES[key.kind]
        return (("model" not in scope or (self.model is not None and key.model == self.model.tag))
                and ("image" not in scope or key.image == self._image_tag))

    def _prune(self) -> None:
        for kind, store in list(self._results.items()):
            stale = [k for k in store if not self._alive(k)]
            for k in stale:
                del store[k]
            if stale:
                self.results_changed.emit(kind)

    # ----- requests (run on the job runner) -----
    def say(self, text: str) -> None:
        self.notice.emit("status", text, "")

    def notify(self, level: str, text: str, details: str = "") -> None:
        self.notice.emit(level, text, details)

    def load_model(self, spec: str, weights: str = "DEFAULT", trust: bool = False, inputs=None,
                   then: Callable[[], None] | None = None, image: Path | None = None) -> None:
        """Load a model and prepare the image (``image``, default the current one) for it in one
        job; on failure the previous model stays loaded and ``model_load_failed`` fires."""
        device, image = self.device, Path(image) if image else self.image_path
        self.say(f"loading {spec}…")

        def done(result):
            loaded, explainer, image_error = result
            self.set_model(LoadedModel(loaded["bundle"], spec, weights, trust, inputs, device, loaded["table"],
                                       loaded["layer"]), explainer, image)
            if image_error:
                self.notify("error", f"{image.name} could not be opened for {spec}: {image_error}")
            if then is not None:
                then()

        def failed(message):
            self.notify("error", f"Loading {spec} failed: {message}. {self._still_loaded()}")
            self.model_load_failed.emit(message)

        self.jobs.submit("model", lambda progress: adapters.load_model_and_image(
            spec, weights, trust, inputs, device, image, progress), on_done=done, on_error=failed)

    def _still_loaded(self) -> str:
        return f"{self.model.name} is still loaded." if self.model else "No model is loaded."

    def reload_model(self) -> None:
        """The same model again (e.g. on another device)."""
        if self.model is not None:
            m = self.model
            self.load_model(m.spec, m.weights, m.trust, m.inputs)

    def open_image(self, path: Path, then: Callable[[], None] | None = None) -> None:
        path = Path(path)
        if self.model is None:
            self.notify("warning", "Load a model first, then open an image.")
            return
        bundle = self.model.bundle
        self.say(f"opening {path.name}…")

        def done(explainer):
            if self.bundle is not bundle:
                return  # another model was loaded meanwhile
            self.set_image(path, explainer)
            top = explainer.prediction[0]
            self.say(f"{path.name}: {top[1]} ({top[2]:.1%})")
            if then is not None:
                then()

        self.jobs.submit("image", lambda progress: adapters.prepare_image(bundle, path), on_done=done,
                         on_error=lambda message: self.notify("error", f"Opening {path.name} failed: {message}"))

    def explain(self, method: str | None = None, params: dict | None = None) -> ResultKey | None:
        """Compute the explanation for the current selection (or ``method``/``params``) unless it
        is cached; intermediate maps arrive through ``partial_map``; the result is ``put``."""
        if self.explainer is None:
            return None
        key = self.key("explanation", method, params)
        if self.get(key) is not None:
            self.results_changed.emit("explanation")
            return key
        explainer, spec = self.explainer, self.spec(key.method)
        target = adapters.class_target(key.target, explainer.bundle)

        def job(progress):
            return explainer.explain(spec.name, target=target, layer=key.layer, params=dict(key.params),
                                     progress=progress, partial=lambda out: self.partial_map.emit(
                                         key, adapters.as_array(out.map)))

        def ended(*_):
            self.running.pop(key, None)

        def done(result):
            ended()
            self.put(key, result)

        def stopped(message=None):
            ended()
            if message is not None:
                self.notify("error", f"{spec.label} failed: {message}")
            self.explain_cancelled.emit(key)

        self.running.clear()  # the new job supersedes every other explanation; dropped ones get no callback
        self.running[key] = self.jobs.submit("explain", job, "all", on_done=done, on_error=stopped,
                                             on_cancel=stopped)
        self.say(f"running {spec.label}…")
        return key

    # ----- saving -----
    def to_dict(self) -> dict:
        """What a session file holds (see ``desktop.session_file``)."""
        m = self.model
        return {"model": None if m is None else {"spec": m.spec, "weights": m.weights,
                                                   "inputs": adapters.inputs_to_dict(m.inputs)},
                "device": self.device, "image": str(self.image_path) if self.image_path else None,
                "target": self.target, "layer": self.layer, "method": self.method, "params": dict(self.params),
                "workspace": self.workspace}

    def apply_dict(self, data: dict) -> None:
        """Reopen a saved session: load its model and image, then select the rest."""

        def select():
            if data.get("method") in adapters.methods():
                self.set_method(data["method"], data.get("params") or {})
            self.set_layer(data.get("layer") or self.layer)
            self.set_target(data.get("target"))
            self.set_workspace(data.get("workspace") or self.workspace)

        image = Path(data["image"]) if data.get("image") else None
        if data.get("device") in adapters.devices():
            self.device = data["device"]
        model = data.get("model")
        if model:
            self.load_model(model["spec"], model.get("weights", "DEFAULT"), False,
                            adapters.inputs_from_dict(model.get("inputs")), then=select, image=image)
        elif image is not None:
            self.open_image(image, then=select)
        else:
            select()
