"""A study package: every stimulus rendered in advance into one folder, so participants need no
model and no GPU (the human studies of Selvaraju et al. 2017, Grad-CAM §5.1-5.2, and
Chattopadhay et al. 2018, Grad-CAM++ §6, as a reusable tool).

Layout of ``PKG``::

    trials.csv       trial,protocol,condition,image,left,right,correct,stimulus_left,stimulus_right,attention
    study.json       protocol, conditions (model and method of each), seed, models, methods, version,
                     the design, each image's source and model ranking, practice trials, texts, and
                     for preference ``explains`` (image -> the class both maps explain)
    player.html      the self-contained participant player (core.study.player)
    images/*.png     the images as the model saw them
    stimuli/*.png    maps over the images; random names that say nothing of the condition
    texts/*.txt      consent, instructions, practice, start, pause and end texts

trials.csv follows issue 18: discrimination rows name the condition that made the map, the two
classes offered (``left``/``right``), which side is ``correct`` and the map (``stimulus_left``);
preference rows name the two conditions as shown, their maps, and leave ``condition`` and
``correct`` empty. Attention checks (``attention`` = 1) leave ``condition`` empty and name the
obvious answer in ``correct`` (for preference, ``left``/``right`` are ``check:object`` and
``check:background``). Practice trials are in study.json, not in trials.csv.

``StudyDesign`` holds the designer's choices; ``prepare_package`` renders it.
"""

from __future__ import annotations

import json
import random
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .. import __version__
from ..render import DEFAULT_CMAP, save_png
from . import stimuli
from .design import PROTOCOLS, condition_pairs, plan, write_trials
from .texts import write_texts

FORMAT_VERSION = 1
CHECK_OBJECT, CHECK_BACKGROUND = "check:object", "check:background"


@dataclass
class StudyDesign:
    """What the study designer chooses (GUI and CLI). ``images``: files/folders, or one of
    ``stimuli.DEMO_SOURCES``; ``trials``: per condition (discrimination) or per pair of
    conditions (preference); ``params``: ``{method: {name: value}}``."""

    protocol: str
    models: list[str]
    methods: list[str]
    images: list[str]
    trials: int
    seed: int = 0
    attention: int = 0
    practice: int = 2
    layer: str | None = None
    params: dict = field(default_factory=dict)
    alpha: float = 0.5
    cmap: str = DEFAULT_CMAP
    require_top2: bool = True

    def conditions(self) -> dict[str, tuple[str, str]]:
        """Condition name -> (model, method): the method names with one model, the model names
        with one method, ``MODEL:METHOD`` when both vary."""
        if len(self.models) == 1:
            return {m: (self.models[0], m) for m in self.methods}
        if len(self.methods) == 1:
            return {m: (m, self.methods[0]) for m in self.models}
        return {f"{a}:{m}": (a, m) for a in self.models for m in self.methods}

    def validate(self) -> None:
        from ..methods import get_method

        if self.protocol not in PROTOCOLS:
            raise ValueError(f"--protocol must be one of {', '.join(PROTOCOLS)}, got {self.protocol!r}")
        for name, values in (("models", self.models), ("methods", self.methods), ("images", self.images)):
            if not values or len(set(values)) != len(values):
                raise ValueError(f"study {name}: give at least one, each once (got {', '.join(values) or 'none'})")
        for method in self.methods:
            if get_method(method).output != "map":
                raise ValueError(f"{method} synthesises an image rather than a map of this image; a study shows maps")
        if self.protocol == "preference" and len(self.conditions()) < 2:
            raise ValueError("a preference study compares two or more methods or models")
        if self.trials < 1 or self.attention < 0 or self.practice < 0:
            raise ValueError("trials must be at least 1; attention checks and practice trials at least 0")
        if not 0 <= self.alpha <= 1:
            raise ValueError(f"alpha must be in [0, 1], got {self.alpha}")


class _Names:
    """Unique random file names (seeded): nothing in a name tells condition, class or order."""

    def __init__(self, seed: int):
        self.rng = random.Random(f"names:{seed}")
        self.used: set[str] = set()

    def __call__(self, folder: str) -> str:
        while True:
            name = f"{self.rng.getrandbits(48):012x}"
            if name not in self.used:
                self.used.add(name)
                return f"{folder}/{name}.png"


def _items(design: StudyDesign, need: int) -> list[stimuli.Item]:
    if len(design.images) == 1 and design.images[0] in stimuli.DEMO_SOURCES:
        kind = design.images[0]
        many = 3 if kind == "demo-pairs" and design.protocol == "discrimination" else 2
        return stimuli.demo_items(kind, max(many * need, 12), design.seed)
    from ..evaluate import collect_images

    paths = collect_images(design.images)
    return stimuli.folder_items(paths, len(paths), design.seed)


def prepare_package(design: StudyDesign, out: str | Path, loader=None, progress=None) -> dict:
    """Render ``design`` into the folder ``out`` (new or empty); returns the manifest.

    ``loader(name) -> ModelBundle`` loads a model (default ``core.models.load_model``);
    ``progress``: a ``core.jobs.Progress`` (steps: rendered stimuli).
    """
    from ..explain import Explainer

    design.validate()
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ValueError(f"{out}: exists and is not an empty folder; choose a new --out")
    if loader is None:
        from ..models import load_model
        loader = load_model
    conditions = design.conditions()
    bundles = {name: loader(name) for name in design.models}
    items = _items(design, design.trials)
    offers, counts = stimuli.select(items, design.protocol, bundles, design.trials, design.require_top2)
    if not offers:
        raise ValueError(f"none of the {counts['candidates']} images fits a {design.protocol} study with "
                         f"{', '.join(design.models)} (see the README: which images a protocol keeps)")
    order = plan(design.protocol, list(conditions), len(offers), design.trials, design.seed,
                 design.attention, design.attention)
    names = _Names(design.seed)
    out.mkdir(parents=True, exist_ok=True)

    first = bundles[design.models[0]]
    image_files = {}
    for k, offer in enumerate(offers):
        display, _ = first.prepare(offer.item.image)
        image_files[k] = save_png(out / (name := names("images")), display) and name

    jobs = {}   # (condition, item, class) -> file
    for p in order:
        if p.attention:
            continue
        offer = offers[p.item]
        if design.protocol == "discrimination":
            jobs.setdefault((p.conditions[0], p.item, offer.classes[p.target]), None)
        else:
            for c in p.conditions:
                jobs.setdefault((c, p.item, offer.classes[0]), None)
    if progress is not None:
        progress.set_total(len(jobs))
    explainers = {}
    for key in sorted(jobs, key=lambda k: (k[1], k[0], k[2])):   # one item at a time
        cond, item, cls = key
        model, method = conditions[cond]
        if (model, item) not in explainers:
            explainers = {k: v for k, v in explainers.items() if k[1] == item}
            explainers[(model, item)] = Explainer(bundles[model], offers[item].item.image)
        rgb = stimuli.render_map(explainers[(model, item)], method, cls, design.layer,
                                 design.params.get(method, {}), design.alpha, design.cmap, design.seed)
        jobs[key] = names("stimuli")
        save_png(out / jobs[key], rgb)
        if progress is not None:
            progress.step(message=f"{len([v for v in jobs.values() if v])} / {len(jobs)} maps")

    checks = _known_trials(out, names, stimuli.attention_items(design.attention, design.seed + 1_000_003),
                           design, [p.correct for p in order if p.attention])
    rows = []
    for i, p in enumerate(order, start=1):
        if p.attention:
            row = checks[p.item]
        elif design.protocol == "discrimination":
            shown, other = offers[p.item].classes[p.target], offers[p.item].classes[1 - p.target]
            left, right = (shown, other) if p.correct == "left" else (other, shown)
            row = {"condition": p.conditions[0], "image": image_files[p.item], "left": left, "right": right,
                   "correct": p.correct,
                   "stimulus_left": jobs[(p.conditions[0], p.item, shown)], "stimulus_right": ""}
        else:
            left, right = p.conditions
            cls = offers[p.item].classes[0]
            row = {"condition": "", "image": image_files[p.item], "left": left, "right": right, "correct": "",
                   "stimulus_left": jobs[(left, p.item, cls)], "stimulus_right": jobs[(right, p.item, cls)]}
        rows.append({**row, "trial": i, "protocol": design.protocol, "attention": int(p.attention)})
    write_trials(out / "trials.csv", rows)

    practice_sides = [("left", "right")[k % 2] for k in range(design.practice)]
    random.Random(f"practice:{design.seed}").shuffle(practice_sides)
    practice = _known_trials(out, names, stimuli.practice_items(design.protocol, design.practice,
                                                                design.seed + 2_000_003),
                             design, practice_sides)
    manifest = {
        "format": "saliency-studio study", "version": FORMAT_VERSION, "app_version": __version__,
        "protocol": design.protocol, "seed": design.seed,
        "conditions": {c: {"model": m, "method": meth} for c, (m, meth) in conditions.items()},
        "pairs": [f"{a}|{b}" for a, b in condition_pairs(list(conditions))] if design.protocol == "preference" else [],
        "models": design.models, "methods": design.methods, "design": asdict(design),
        "trials": len(rows), "attention_checks": design.attention,
        "images": [{"file": image_files[k], "source": o.item.source, "classes": list(o.classes),
                    "ranking": {m: r[:5] for m, r in o.predictions.items()}} for k, o in enumerate(offers)],
        "image_selection": counts,
        "explains": ({**{image_files[k]: o.classes[0] for k, o in enumerate(offers)},
                      **{row["image"]: row["explains"] for row in checks}}
                     if design.protocol == "preference" else {}),
        "practice": [{k: v for k, v in row.items() if k not in ("condition",)} for row in practice],
        "texts": write_texts(out, design.protocol),
    }
    (out / "study.json").write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")
    from .player import write_player
    write_player(out)
    return manifest


def _known_trials(out: Path, names: _Names, items: list, design: StudyDesign, sides: list[str]) -> list[dict]:
    """Attention-check / practice rows from generated images with exact masks (one per side in
    ``sides``, cycling through ``items``): discrimination offers an object's class and another
    class with the object's oracle map; preference shows the oracle map against a decoy."""
    from ..datasets.shapes import CLASSES

    rows = []
    rng = random.Random(f"known:{design.seed}:{len(items)}")
    for k, side in enumerate(sides):
        item = items[k % len(items)]
        image = save_png(out / (image_name := names("images")), item.image) and image_name
        mask = item.masks[0]
        truth = item.classes[0]
        if design.protocol == "discrimination":
            other = item.classes[1] if len(item.classes) > 1 else rng.choice([c for c in CLASSES if c != truth])
            left, right = (truth, other) if side == "left" else (other, truth)
            stim = names("stimuli")
            save_png(out / stim, stimuli.known_overlay(item.image, stimuli.oracle_map(mask), design.alpha, design.cmap))
            rows.append({"condition": "", "image": image, "left": left, "right": right, "correct": side,
                         "stimulus_left": stim, "stimulus_right": ""})
        else:
            good, bad = names("stimuli"), names("stimuli")
            save_png(out / good, stimuli.known_overlay(item.image, stimuli.oracle_map(mask), design.alpha, design.cmap))
            save_png(out / bad, stimuli.known_overlay(item.image, stimuli.decoy_map(mask), design.alpha, design.cmap))
            left, right = (CHECK_OBJECT, CHECK_BACKGROUND) if side == "left" else (CHECK_BACKGROUND, CHECK_OBJECT)
            rows.append({"condition": "", "image": image, "left": left, "right": right, "correct": side,
                         "stimulus_left": good if side == "left" else bad,
                         "stimulus_right": bad if side == "left" else good, "explains": truth})
    return rows
