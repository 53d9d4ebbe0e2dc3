"""The metric registry: every metric registered once, reachable from evaluate and the CLI, with
its direction; stability and sanity from the command line; cached sanity verdicts."""

import json

import numpy as np
import pytest
import torch

from core.cli import main
from core.evaluate import evaluate, read_annotations
from core.metrics.common import MetricResult
from core.metrics.registry import METRICS, MetricOutput, all_metrics, get_metric, output_spec, register_metric
from core.metrics.sanity_verdict import method_sanity, weights_digest
from core.models import load_model

from conftest import ROOT

DEMO = ROOT / "resources" / "images" / "demo"


@pytest.fixture(scope="module")
def demo():
    return load_model("demo")


def test_every_metric_is_described():
    specs = all_metrics()
    assert {"deletion", "insertion", "aopc_morf", "aopc_lerf", "average_drop", "iou", "top1_localization",
            "pointing_game", "energy_in_box", "stability_noise", "stability_rotation", "stability_translation",
            "sanity"} <= set(specs)
    for spec in specs.values():
        assert spec.sentence and spec.citation and spec.outputs and spec.cost((224, 224), {}) >= 0
        assert all(out.direction in ("higher", "lower") for out in spec.outputs)
    assert output_spec("deletion").direction == "lower" and output_spec("insertion").direction == "higher"
    assert output_spec("increase_in_confidence").arrow == "↑"
    assert get_metric("deletion").cost((224, 224), {}) == 225


def test_every_metric_runs_through_evaluate(demo):
    """Registry round trip: each registered metric on the demo model and a ground-truth image."""
    ann = read_annotations(DEMO / "ground_truth.json")
    names = list(all_metrics())
    table = evaluate(demo, [DEMO / "clean_star.png"], ["gradcam"], names, ann,
                     metric_params={"aopc_morf": {"steps": 10}, "aopc_lerf": {"steps": 10}})
    row = table.rows[0]
    for spec in all_metrics().values():
        for out in spec.outputs:
            assert out.name in row and np.isfinite(row[out.name]), out.name
    assert row["sanity_flagged"] == 0.0 and row["pointing_game"] == 1.0
    assert row["top1_localization"] == float(row["iou"] >= 0.5)  # the demo predicts the true class here
    assert row["stability_noise"] > 0.5  # Grad-CAM on the demo barely moves under small noise


def test_adding_a_metric_is_one_function_and_one_registration(demo):
    @register_metric("map_peak", label="Map peak", family="test", sentence="The map's largest value.",
                     citation="none", outputs=(MetricOutput("map_peak", "peak", "higher"),), cost=0)
    def _peak(inp):
        return MetricResult("map_peak", float(np.max(inp.map)))

    try:
        table = evaluate(demo, [DEMO / "clean_star.png"], ["saliency"], ["map_peak"])
        assert table.rows[0]["map_peak"] > 0
    finally:
        del METRICS["map_peak"]


def test_metrics_command_lists_directions(capsys):
    assert main(["metrics"]) == 0
    out = capsys.readouterr().out
    assert "deletion AUC (lower is better)" in out and "stability_rotation" in out
    assert main(["metrics", "--json"]) == 0
    data = {m["name"]: m for m in json.loads(capsys.readouterr().out)}
    assert data["sanity"]["outputs"][0]["direction"] == "lower" and "map_fn" in data["sanity"]["needs"]


def test_evaluate_cli_stability_and_sanity(tmp_path, capsys):
    js = tmp_path / "e.json"
    assert main(["evaluate", "--model", "demo", "--images", str(DEMO / "clean_ring.png"), "--methods", "gradcam",
                 "--metrics", "stability_noise,stability_rotation,stability_translation,sanity",
                 "--param", "sanity.top_blocks=2", "--json", str(js)]) == 0, capsys.readouterr().err
    row = json.loads(js.read_text())["rows"][0]
    assert {"stability_noise", "stability_rotation", "stability_translation", "sanity", "sanity_flagged"} <= set(row)
    assert "↓" in capsys.readouterr().out  # the header says which way is better


def test_sanity_known_answer_and_cache(tmp_path, capsys):
    js = tmp_path / "s.json"
    images = [str(DEMO / n) for n in ("clean_star.png", "clean_ring.png", "biased_square.png")]
    assert main(["sanity", "--model", "demo", "--methods", "gradcam,guided_backprop", "--images", *images,
                 "--json", str(js)]) == 0, capsys.readouterr().err
    verdicts = json.loads(js.read_text())["methods"]
    assert verdicts["gradcam"]["passes"] is True and verdicts["guided_backprop"]["passes"] is False
    assert set(verdicts["gradcam"]["similarity"]) >= {"fc", "features.8"} and "Adebayo" in verdicts["gradcam"]["rule"]
    bundle = load_model("demo")
    again = method_sanity(bundle, ["gradcam"], [DEMO / "clean_star.png", DEMO / "clean_ring.png",
                                                DEMO / "biased_square.png"])
    assert again["gradcam"]["cached"] is True
    digest = weights_digest(bundle.net)
    with torch.no_grad():
        bundle.net.fc.bias.add_(1.0)  # new weights: a new check, not the cached verdict
    assert weights_digest(bundle.net) != digest
    assert method_sanity(bundle, ["gradcam"], [DEMO / "clean_star.png"])["gradcam"]["cached"] is False


def test_disagreement_ranks_and_agreement():
    from core.metrics.disagreement import method_ranks, rank_agreement

    scores = {"a": {"deletion": 0.1, "insertion": 0.9, "average_drop": 50.0},
              "b": {"deletion": 0.2, "insertion": 0.8, "average_drop": 10.0},
              "c": {"deletion": 0.3, "insertion": 0.7, "average_drop": 30.0}}
    ranks = method_ranks(scores)
    assert ranks["deletion"] == {"a": 1.0, "b": 2.0, "c": 3.0}  # lower is better
    assert ranks["insertion"] == {"a": 1.0, "b": 2.0, "c": 3.0}  # higher is better
    assert ranks["average_drop"] == {"a": 3.0, "b": 1.0, "c": 2.0}
    agree = rank_agreement(ranks)
    assert agree["deletion"]["insertion"] == pytest.approx(1.0)
    assert agree["deletion"]["average_drop"] == pytest.approx(-0.5)
    tied = method_ranks({"a": {"iou": 0.5}, "b": {"iou": 0.5}, "c": {"iou": 0.1}})
    assert tied["iou"] == {"a": 1.5, "b": 1.5, "c": 3.0}


def test_evaluate_cli_prints_ranks(tmp_path, capsys):
    js = tmp_path / "e.json"
    assert main(["evaluate", "--model", "demo", "--images", str(DEMO / "clean_star.png"), "--methods",
                 "gradcam,saliency,layercam", "--metrics", "deletion,insertion,sparseness", "--json", str(js)]) == 0
    out = capsys.readouterr().out
    assert "rank by metric" in out and "rank agreement" in out
    data = json.loads(js.read_text())
    assert set(data["ranks"]["deletion"]) == {"gradcam", "saliency", "layercam"}
    assert data["rank_agreement"]["deletion"]["deletion"] == 1.0
