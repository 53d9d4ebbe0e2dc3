"""The metric views' calls into ``core``: sanity verdicts (``core.metrics.sanity_verdict``), curves
with named axes (``core.metrics.curves``) and method ranks per metric
(``core.metrics.disagreement``). As in ``desktop.adapters``, nothing here imports torch at module
import and every function forwards to core; long calls take a ``Progress`` and run in jobs.
"""

from __future__ import annotations

from typing import Any

SINGLE_PASS_FACTOR = 4  # a one-image forward + backward ≈ 4 per-image batched forward passes
COMPARE_SECONDS_PER_PIXEL = 2.5e-6  # Spearman of maps and of |maps| + SSIM, per pixel
_TWIN: list = []  # [(bundle, its private copy)]: one copy per loaded model for the background lane


def inner_progress(outer):
    """A ``core.jobs.Progress`` for a nested call: silent (its totals do not clobber the
    job's), but cancelled whenever ``outer`` is."""
    from core.jobs import Progress

    class Inner(Progress):
        def check(self) -> None:
            if outer is not None:
                outer.check()

    return Inner()


def background_twin(bundle):
    """A private copy of ``bundle`` for background-lane work (hooks never shared with the
    interactive lane), made once per model (``adapters.private_copy``)."""
    from . import adapters

    if not _TWIN or _TWIN[0][0] is not bundle:
        _TWIN[:] = [(bundle, adapters.private_copy(bundle))]
    return _TWIN[0][1]


def release_twin(bundle) -> None:
    """Forget the private copy unless it is ``bundle``'s (a new model: the old one can be freed;
    a job still running keeps its own reference)."""
    if _TWIN and _TWIN[0][0] is not bundle:
        _TWIN.clear()


class TwinJob:
    """``fn(twin, progress)`` as a background-lane job of ``kind`` on the model's private copy.
    The copy, when not made yet, is made first by a job on the interactive lane: that lane's
    captures add and remove forward hooks, so copying the modules there never races with them.
    ``id``: the background job's id once submitted; ``cancel()`` works in either stage."""

    def __init__(self, jobs, bundle, kind: str, fn, on_done=None, on_error=None, on_cancel=None):
        self.jobs, self.kind, self.id, self.cancelled = jobs, kind, None, False

        def start(twin):
            if self.cancelled:
                if on_cancel is not None:
                    on_cancel()
                return
            self.id = jobs.submit(kind, lambda progress: fn(twin, progress), False, lane="background",
                                  on_done=on_done, on_error=on_error, on_cancel=on_cancel)

        if _TWIN and _TWIN[0][0] is bundle:
            start(_TWIN[0][1])
        else:
            jobs.submit("model_copy", lambda progress: background_twin(bundle), False, on_done=start,
                        on_error=on_error)

    def cancel(self) -> None:
        self.cancelled = True
        if self.id is not None:
            self.jobs.cancel(self.kind, lane="background")


# ----- sanity badges (Adebayo et al. 2018) -----
def sanity_verdicts(bundle, methods: dict[str, dict], images=None, cache_only: bool = False, progress=None) -> dict:
    """{method: verdict} from ``core.metrics.sanity_verdict.method_sanity`` for {method: params}
    (computing runs maps: give it the background copy); ``cache_only``: only those already on
    disk (a quick look-up that reads the weights and runs nothing)."""
    from core.metrics.sanity_verdict import method_sanity

    return method_sanity(bundle, list(methods), images, params=dict(methods), cache_only=cache_only, progress=progress)


def sanity_images(bundle, images=None) -> list:
    from core.metrics.sanity_verdict import default_images

    return list(images) if images is not None else default_images(bundle)


def cascade_blocks(bundle) -> list[str]:
    """The blocks the sanity cascade randomises, from the output down (cheap: module names)."""
    from core.metrics.robustness import cascade_blocks as blocks

    return blocks(bundle.net)


def sanity_seconds(spec, params: dict, input_hw, seconds_per_pass: float | None, images: int,
                   blocks: int) -> float | None:
    """Estimated seconds of a sanity check: one map per image and randomised block, plus the
    original map and the prediction (None without a measured time per pass). Each map also
    costs a fresh single-image pass with its backward (≈ ``SINGLE_PASS_FACTOR`` batched passes)
    and the comparison of two maps (Spearman + SSIM, ≈ ``COMPARE_SECONDS_PER_PIXEL``), both
    measured on the demo model."""
    from core.methods import estimate_seconds

    if seconds_per_pass is None:
        return None
    h, w = input_hw
    per_map = (estimate_seconds(spec, params, tuple(input_hw), seconds_per_pass)
               + SINGLE_PASS_FACTOR * seconds_per_pass + COMPARE_SECONDS_PER_PIXEL * h * w)
    return images * ((blocks + 1) * per_map + seconds_per_pass)


def format_seconds(seconds: float) -> str:
    from core.methods import format_seconds as fmt

    return fmt(seconds)


def cascade_view(title: str, verdict: dict):
    """The verdict's cascade (median similarity per randomised block) as a ``CurveView``."""
    from core.metrics.curves import sanity_cascade

    return sanity_cascade(verdict["similarity"], verdict.get("threshold", 0.8), verdict.get("top_blocks", 3), title,
                          f"median similarity over {verdict.get('images', '?')} images")


# ----- scores, curves and ranks -----
def score(explainer, result, names: list[str], truth, params: dict[str, dict] | None = None,
          progress=None) -> dict[str, Any]:
    """{metric: MetricResult} of the metrics in ``names`` this input can be scored by (those
    lacking ground truth are left out), each with its ``params`` (``MetricSpec.run``)."""
    from . import adapters

    specs = adapters.metric_specs()
    inp = adapters.metric_input(explainer, result, truth, progress)
    return {name: specs[name].run(inp, (params or {}).get(name)) for name in names
            if specs[name].missing(inp) is None}


def curve_view(spec, result):
    """``MetricSpec.curve_view``: the result's curve with named axes, or None."""
    return spec.curve_view(result)


def rank_methods(twin, explainer, results: dict, names: list[str], truth, params: dict[str, dict] | None = None,
                 progress=None) -> dict[str, Any]:
    """Score each method's map (``results``: {method: Explanation}) by each metric in ``names``
    on ``twin`` (the model's background copy) for ``explainer``'s input, then rank (core
    ``method_ranks`` / ``rank_agreement``): {"scores": {method: {output: value}}, "ranks":
    {output: {method: rank}}, "agreement": {output: {output: Spearman}}, "skipped": [why]}."""
    from core.explain import Explainer
    from core.metrics.disagreement import method_ranks, rank_agreement

    from . import adapters

    local = Explainer.from_input(twin, explainer.x, explainer.display)
    specs = adapters.metric_specs()
    if progress is not None:
        progress.set_total(len(results) * len(names))
    scores: dict[str, dict[str, float]] = {}
    skipped: list[str] = []
    for method, result in results.items():
        inp = adapters.metric_input(local, result, truth, inner_progress(progress))
        row = scores.setdefault(method, {})
        for name in names:
            spec = specs[name]
            reason = spec.missing(inp)
            if reason:
                if reason not in skipped:
                    skipped.append(reason)
            else:
                row.update(spec.values(spec.run(inp, (params or {}).get(name))))
            if progress is not None:
                progress.step(message=f"{method}: {spec.label}")
    ranks = method_ranks(scores)
    return {"scores": scores, "ranks": ranks, "agreement": rank_agreement(ranks), "skipped": skipped}


def explain_on_twin(twin, explainer, method: str, target: int | None, layer, params: dict, progress=None):
    """``Explainer.explain`` of ``method`` on ``twin`` (the background copy) for the same input."""
    from core.explain import Explainer

    from . import adapters

    local = Explainer.from_input(twin, explainer.x, explainer.display)
    return local.explain(method, target=adapters.class_target(target), layer=layer, params=dict(params),
                         progress=inner_progress(progress))
