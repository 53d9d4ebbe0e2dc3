"""The built-in metrics, each registered once (see ``registry``)."""

from __future__ import annotations

import functools
import math

from ..params import Param
from . import faithfulness as faith
from . import localization as loc
from . import complexity as complexity_metric
from . import curves
from . import road as road_metric
from . import robustness as robust
from .registry import MetricInput, MetricOutput, register_metric

_FILL = Param("fill", "choice", "zeros", "what removed pixels become: zeros in the model's normalised input "
              "(the RISE code), black pixels, or a blurred copy", choices=faith.FILLS)
_ORDER = {"morf": "MoRF", "lerf": "LeRF"}
_THRESHOLD = Param("threshold", "float", 0.15, "the map is cut at this fraction of its maximum (15%: Grad-CAM "
                   "§4.1; the CAM paper used 20%)", min=0.0, max=1.0)


_PIXELS_CURVE = curves.xy("fraction of pixels removed / restored", "class probability", (0.0, 1.0),
                          "Deletion removes the pixels the map ranks highest first, insertion restores them first "
                          "into a blurred image; the areas under the curves are the scores (Petsiuk et al. 2018).")


def _steps(size, params) -> int:
    h, w = size
    step = h  # deletion/insertion default: one image row's worth of pixels per step
    return math.ceil(h * w / step) + 1


@register_metric("deletion", label="Deletion", family="faithfulness",
                 sentence="Remove the pixels the map ranks highest first: a faithful map makes the "
                          "class probability fall fast (area under the curve, 0-1).",
                 citation="Petsiuk et al. 2018, RISE, §4.1",
                 outputs=(MetricOutput("deletion", "deletion AUC", "lower"),), cost=_steps, params=(_FILL,),
                 curve=_PIXELS_CURVE)
def _deletion(inp: MetricInput, fill: str):
    return faith.deletion_insertion(inp.bundle, inp.x, inp.map, "deletion", inp.target, fill=fill,
                                    progress=inp.progress, seed=inp.seed)


@register_metric("insertion", label="Insertion", family="faithfulness",
                 sentence="Restore the pixels the map ranks highest first, starting from a blurred image: "
                          "a faithful map makes the class probability rise fast (area under the curve, 0-1).",
                 citation="Petsiuk et al. 2018, RISE, §4.1",
                 outputs=(MetricOutput("insertion", "insertion AUC", "higher"),), cost=_steps, curve=_PIXELS_CURVE)
def _insertion(inp: MetricInput):
    return faith.deletion_insertion(inp.bundle, inp.x, inp.map, "insertion", inp.target, progress=inp.progress,
                                    seed=inp.seed)


_REGION = Param("region", "int", 9, "side of the square regions replaced, in pixels", min=1, max=512)
_AOPC_STEPS = Param("steps", "int", 100, "regions replaced, one per step", min=1, max=10000)


def _aopc_cost(size, params) -> int:
    return int(params.get("steps", 100)) + 1


def _both_orders(prefix: str, title: str, citation: str, value: str, cost, params, score, sentences, directions,
                 curve=None):
    """Register ``{prefix}_morf`` and ``{prefix}_lerf``: one test, most or least relevant first;
    ``score(inp, order, **params)`` computes it."""
    for order, sentence, direction in zip(("morf", "lerf"), sentences, directions):
        first = "most relevant" if order == "morf" else "least relevant"
        register_metric(f"{prefix}_{order}", label=f"{title}, {first} first", family="faithfulness",
                        sentence=sentence, citation=citation, cost=cost, params=params,
                        outputs=(MetricOutput(f"{prefix}_{order}", f"{title} ({_ORDER[order]}) {value}", direction),),
                        curve=curve)(functools.partial(score, order=order))


def _aopc(inp: MetricInput, order: str, region: int, steps: int):
    return faith.region_perturbation(inp.bundle, inp.x, inp.map, order, region, steps, target=inp.target,
                                     seed=inp.seed, progress=inp.progress)


_both_orders("aopc", "AOPC", "Samek et al. 2017, Evaluating the Visualization of What a DNN Has Learned, eq. 12",
             "mean score drop", _aopc_cost, (_REGION, _AOPC_STEPS), _aopc,
             ("Replace small regions with noise, most relevant first: a faithful map makes the class probability "
              "drop a lot on average.",
              "Replace small regions with noise, least relevant first: a faithful map keeps the class probability "
              "almost unchanged."), ("higher", "lower"),
             curves.xy("regions replaced", "drop in class probability"))


def _road(inp: MetricInput, order: str, noise: float):
    return road_metric.road(inp.bundle, inp.x, inp.map, order, noise=noise, target=inp.target, seed=inp.seed,
                            progress=inp.progress)


_both_orders("road", "ROAD", "Rong et al. 2022, A Consistent and Efficient Evaluation Strategy for Attribution "
             "Methods (ROAD), §4", "mean class probability", len(road_metric.PERCENTAGES) + 1,
             (Param("noise", "float", 0.01, "σ of the noise added to imputed pixels (model-input units; the "
                    "authors' 0.01)", min=0.0, max=1.0),), _road,
             ("Remove 10%…90% of the pixels, most relevant first, and fill them from their neighbours so the hole's "
              "shape gives nothing away: a faithful map makes the class probability fall.",
              "Remove 10%…90% of the pixels, least relevant first, filled from their neighbours: a faithful map "
              "keeps the class probability up."), ("lower", "higher"),
             curves.xy("% of pixels removed (filled in)", "class probability", (0.0, 1.0)))


@register_metric("average_drop", label="Average drop", family="faithfulness",
                 sentence="Show the model only what the map highlights: how much confidence it loses "
                          "(drop %), and whether it even gains confidence.",
                 citation="Chattopadhay et al. 2018, Grad-CAM++, §5.1",
                 outputs=(MetricOutput("average_drop", "average drop %", "lower"),
                          MetricOutput("increase_in_confidence", "increase in confidence %", "higher")),
                 cost=2)
def _average_drop(inp: MetricInput):
    targets = None if inp.target is None else [inp.target]
    return faith.average_drop(inp.bundle, inp.x, [inp.map], targets)


@register_metric("iou", label="Box IoU", family="localisation",
                 sentence="Cut the map at a threshold, box its largest blob and compare with the object's box "
                          "(intersection over union, 0-1).",
                 citation="Zhou et al. 2016, CAM, §3; Selvaraju et al. 2017, Grad-CAM, §4.1",
                 outputs=(MetricOutput("iou", "IoU with the object box", "higher"),), cost=0, needs=("box",),
                 params=(_THRESHOLD,))
def _iou(inp: MetricInput, threshold: float):
    return loc.localization(inp.map, inp.box, threshold)


@register_metric("top1_localization", label="Top-1 localisation", family="localisation",
                 sentence="Counts as right when the prediction is the true class and the map's box overlaps "
                          "the object's box by at least half (IoU ≥ 0.5).",
                 citation="Zhou et al. 2016, CAM, §3 (ILSVRC localisation)",
                 outputs=(MetricOutput("top1_localization", "top-1 localisation", "higher"),), cost=0,
                 needs=("box", "label"), params=(_THRESHOLD,))
def _top1(inp: MetricInput, threshold: float):
    res = loc.localization(inp.map, inp.box, threshold, inp.predicted, inp.label)
    res.value = float(res.details["top1_localization"])
    return res


@register_metric("pointing_game", label="Pointing game", family="localisation",
                 sentence="A hit (1) when the map's strongest point lies on the object (within 15 px).",
                 citation="Zhang et al. 2016, Top-down Neural Attention by Excitation Backprop, §5.1",
                 outputs=(MetricOutput("pointing_game", "pointing-game hit", "higher"),), cost=0,
                 needs=("mask_or_box",),
                 params=(Param("tolerance", "float", 15.0, "how far (px) from the object still counts", min=0,
                               max=1000),
                         Param("space", "choice", "original", "where the 15 px are measured: in the original "
                               "image (the paper's and TorchRay's protocol; needs its mask) or in the model's "
                               "input crop", choices=("original", "input"))))
def _pointing(inp: MetricInput, tolerance: float, space: str):
    if space == "original" and inp.original_mask is not None and inp.geometry is not None:
        return loc.pointing_game(inp.map, inp.original_mask, tolerance, inp.geometry)
    mask = inp.mask if inp.mask is not None else loc.box_mask(inp.map.shape, inp.box)
    return loc.pointing_game(inp.map, mask, tolerance)


@register_metric("energy_in_box", label="Energy in box", family="localisation",
                 sentence="The share of the map's positive mass that falls inside the object's box (0-1).",
                 citation="Wang et al. 2020, Score-CAM, §4.3",
                 outputs=(MetricOutput("energy_in_box", "energy in the box", "higher"),), cost=0, needs=("box",))
def _energy(inp: MetricInput):
    return loc.energy_in_box(inp.map, inp.box)


def _stability(kind: str, label: str, amounts: str, strength: str, noise=(), angles=(), shifts=()):
    @register_metric(f"stability_{kind}", label=f"Stability under {label}", family="robustness",
                     sentence=f"Explain slightly {amounts} copies of the image and compare each map, moved back, "
                              "with the original (Spearman rank correlation, -1 to 1).",
                     citation="Alvarez-Melis & Jaakkola 2018; Ghorbani et al. 2019",
                     outputs=(MetricOutput(f"stability_{kind}", f"map similarity under {label}", "higher"),),
                     cost=len(noise) + len(angles) + len(shifts) + 1, needs=("map_fn",),
                     recomputes=len(noise) + len(angles) + len(shifts), curve=curves.stability(strength))
    def metric(inp: MetricInput):
        return robust.stability(inp.bundle, inp.x, inp.map_fn, noise=noise, angles=angles, shifts=shifts,
                                seed=inp.seed, progress=inp.progress)
    return metric


_stability("noise", "noise", "noisy", "noise σ (image spans 0-1)", noise=(0.02, 0.05, 0.1))
_stability("rotation", "rotation", "rotated", "rotation (degrees)", angles=(5.0, 15.0))
_stability("translation", "translation", "shifted", "shift (pixels, right and down)", shifts=(4, 12))


@register_metric("sanity", label="Model-randomisation sanity check", family="robustness",
                 sentence="Randomise the network's weights from the top layer down: a map that barely changes "
                          "does not explain this model (similarity of the first three steps, 0-1; flagged ≥ 0.8).",
                 citation="Adebayo et al. 2018, Sanity Checks for Saliency Maps, §3.1",
                 outputs=(MetricOutput("sanity", "similarity after randomising the top blocks", "lower"),
                          MetricOutput("sanity_flagged", "flagged: barely depends on the weights", "lower")),
                 cost=0, needs=("map_fn",),
                 recomputes=lambda bundle, params: len(robust.cascade_blocks(bundle.net)) + 1,
                 params=(Param("threshold", "float", 0.8, "similarity at or above which the method is flagged",
                               min=0.0, max=1.0),
                         Param("top_blocks", "int", 3, "randomised blocks read from the top", min=1, max=100)),
                 curve=curves.sanity)
def _sanity(inp: MetricInput, threshold: float, top_blocks: int):
    res = robust.sanity_check(inp.bundle, inp.x, inp.map_fn, seed=inp.seed, threshold=threshold,
                              top_blocks=top_blocks, progress=inp.progress)
    res.details["sanity_flagged"] = float(res.details["flagged"])
    return res


@register_metric("sparseness", label="Sparseness", family="complexity",
                 sentence="How concentrated the map is: 0 when every pixel matters equally, near 1 when a few "
                          "pixels hold all of it (Gini index).",
                 citation="Chalasani et al. 2020, Concise Explanations of Neural Networks using Adversarial "
                          "Training, §5",
                 outputs=(MetricOutput("sparseness", "sparseness (Gini index)", "higher"),), cost=0)
def _sparseness(inp: MetricInput):
    return complexity_metric.sparseness(inp.map)


@register_metric("complexity", label="Complexity", family="complexity",
                 sentence="How spread out the map is: the entropy of each pixel's share (lower is simpler to read).",
                 citation="Bhatt et al. 2020, Evaluating and Aggregating Feature-based Model Explanations, §4.2",
                 outputs=(MetricOutput("complexity", "complexity (entropy)", "lower"),), cost=0)
def _complexity(inp: MetricInput):
    return complexity_metric.complexity(inp.map)


@register_metric("max_sensitivity", label="Max-sensitivity", family="robustness",
                 sentence="The largest change of the map when the image is nudged by an invisible amount "
                          "(a few random nudges; lower is more stable).",
                 citation="Yeh et al. 2019, On the (In)fidelity and Sensitivity of Explanations, eq. 3",
                 outputs=(MetricOutput("max_sensitivity", "largest map change under small noise", "lower"),),
                 cost=0, needs=("map_fn",), recomputes=lambda bundle, params: params["samples"] + 1,
                 params=(Param("radius", "float", 0.02, "largest change of a pixel (the image spans 0-1)", min=0.0,
                               max=1.0),
                         Param("samples", "int", 10, "random nudges tried (each costs one map)", min=1, max=1000),
                         Param("relative", "bool", False, "divide by the size of the original map (Quantus's "
                               "choice; the paper's eq. 3 does not)")))
def _max_sensitivity(inp: MetricInput, radius: float, samples: int, relative: bool):
    return robust.max_sensitivity(inp.bundle, inp.x, inp.map_fn, radius, samples, relative, inp.seed, inp.progress)
