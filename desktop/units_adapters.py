"""The Units workspace's calls into ``core.units`` and the unit targets of ``core.explain``: each
function forwards to a core function and returns plain data (numpy arrays, dicts). Nothing here
imports torch at module import; every function runs inside a job except ``spatial_layers`` and
``upsample`` (trivially cheap)."""

from __future__ import annotations

import numpy as np

from . import adapters


def unit_methods() -> tuple[str, ...]:
    """A unit's input-space maps, in the order the view offers them (the engine's choice)."""
    from core.units import UNIT_MAP_METHODS

    return UNIT_MAP_METHODS


def synthesis_method() -> str:
    """The registry's synthesis method: its output is an image, not a map."""
    return next(name for name, spec in adapters.methods().items() if spec.output == "image")
TOP_IMAGES = 9  # per unit (Zeiler & Fergus 2014, Fig. 2 show the top 9)


def spatial_layers(table) -> list[tuple[str, int, int, int]]:
    """(name, channels, height, width) of every layer with an N×C×H×W output that ran, in
    execution order: the layers whose channels can be shown as maps."""
    rows = [i for i in table if i.order >= 0 and i.shape is not None and len(i.shape) == 4]
    return [(i.name, int(i.shape[1]), int(i.shape[2]), int(i.shape[3])) for i in sorted(rows, key=lambda i: i.order)]


def layer_maps(bundle, x, layer: str) -> dict:
    """Every channel's activation map of ``layer`` (core.units.channel_maps), each channel's mean
    and max, and the channel orders by mean and by max (core.units.rank_channels)."""
    from core.units import channel_maps, rank_channels

    maps = channel_maps(bundle, x, layer)
    flat = maps.reshape(len(maps), -1)
    return {"layer": layer, "maps": maps, "mean": flat.mean(1), "max": flat.max(1),
            "order": {"channel": np.arange(len(maps)), "mean": rank_channels(maps, "mean"),
                      "max": rank_channels(maps, "max")}}


def unit_explanation(explainer, layer: str, channel: int, method: str):
    """``method``'s map of unit ``layer:channel`` (mean over space) as the target: the engine's
    unit targets, as ``explain --unit layer:channel`` does; a layer method gets the last block
    before the unit's layer (``Explainer.layer_for``), and says so in ``info["note"]``."""
    from core.targets import UnitTarget

    return explainer.explain(method, target=UnitTarget(layer, int(channel)))


def class_units(explainer, class_index: int, layer: str, top: int) -> list[dict]:
    """core.units.class_units on the explainer's image, sharing its capture cache."""
    from core.units import class_units as run

    return run(explainer.bundle, explainer.x, int(class_index), layer, top=top, cache=explainer.cache)


def synthesis_params(steps: int) -> dict:
    return {"steps": int(steps)}


def cached_synthesis(bundle, layer: str, channel: int, steps: int):
    """The unit's synthesised image when it is cached on disk, else None (core.units)."""
    from core.units import cached_synthesis as lookup

    return lookup(bundle, layer, int(channel), synthesis_params(steps))


def synthesise(bundle, layer: str, channel: int, steps: int, progress):
    """core.units.unit_synthesis: activation maximisation of one unit, cached on disk."""
    from core.units import unit_synthesis

    return unit_synthesis(bundle, layer, int(channel), synthesis_params(steps), progress=progress)


def top_images(bundle, source: str, layer: str, progress):
    """Each channel's top images over a folder or a dataset run store, one pass per batch
    (core.units.top_images over core.units.unit_image_files)."""
    from core.units import top_images as run
    from core.units import unit_image_files

    return run(bundle, unit_image_files(source), layer, k=TOP_IMAGES, progress=progress)


def unit_crops(bundle, top, layer: str, channel: int) -> list[dict]:
    """core.units.unit_crops: the unit's top images, each cropped to the input region behind its
    maximum (from the input gradient of that activation)."""
    from core.units import unit_crops as run

    return run(bundle, top, layer, int(channel))


def upsample(m: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """A layer-grid map stretched (bilinear) to the image's H×W, to lay over it."""
    import cv2

    return cv2.resize(np.asarray(m, np.float32), (int(shape[1]), int(shape[0])), interpolation=cv2.INTER_LINEAR)
