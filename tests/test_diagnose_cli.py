"""The diagnosis views as shared core functions and as the ``attack`` / ``bias`` commands:
FGSM/PGD with the explanation shift, the bias report over an annotated folder, the
counterfactual pair of a mistake, and one-line errors."""

import json
import shutil

import cv2
import numpy as np
import pytest
import torch

from core.cli import main
from core.diagnose.adversarial import attack, epsilon_from_255, explain_attack
from core.diagnose.bias import bias_over_folder, parse_region, region_box
from core.diagnose.counterfactual import counterfactual
from core.explain import Explainer
from core.images import load_image
from core.jobs import Cancelled, Progress
from core.models import load_model

from conftest import ROOT

DEMO = ROOT / "resources/images/demo"
STAR = DEMO / "clean_star.png"
GRID_WIDTH = 3 * (2 * 128 + 6) + 6  # three 128-px panels at scale 2 with 6-px padding


@pytest.fixture(scope="module")
def demo():
    return load_model("demo")


def test_attack_cli_matches_a_direct_fgsm(tmp_path, capsys, demo):
    js, png = tmp_path / "a.json", tmp_path / "a.png"
    code = main(["attack", "--model", "demo", "--image", str(STAR), "--attack", "fgsm", "--epsilon", "8",
                 "--json", str(js), "--out", str(png)])
    assert code == 0, capsys.readouterr().err
    out = capsys.readouterr().out
    assert "Spearman" in out and "SSIM" in out and "‖δ‖∞ = 8.00/255" in out
    data = json.loads(js.read_text())
    assert data["attack"] == "fgsm" and data["norm"] == "linf" and data["steps"] == 1 and data["target"] is None
    assert data["method"] == "gradcam" and data["layer"] == "features"
    assert set(data["shift"]) == {"spearman", "topk_intersection", "ssim"}
    assert data["epsilon"] == pytest.approx(8 / 255)

    _, x = demo.prepare(load_image(STAR))
    res = attack(demo, x, 8 / 255, "fgsm", "linf")
    assert (data["clean"]["index"], data["attacked"]["index"]) == (res.before[0], res.after[0])
    assert data["clean"]["label"] == demo.label(res.before[0]) == "star"
    assert data["clean"]["probability"] == pytest.approx(res.before[1], rel=1e-5)
    assert data["attacked"]["probability"] == pytest.approx(res.after[1], rel=1e-5)
    assert data["success"] is res.success is True
    assert data["norm_255"] == pytest.approx(res.norm * 255, abs=1e-3) and data["norm_255"] <= 8 + 1e-3
    shift = explain_attack(demo, x, res, "gradcam").shift
    for key, value in shift.items():
        assert data["shift"][key] == pytest.approx(value, abs=1e-5)

    grid = cv2.imread(str(png))
    assert grid is not None and grid.shape[1] == GRID_WIDTH


def test_attack_cli_targeted_l2_with_method_params(tmp_path, capsys):
    js = tmp_path / "t.json"
    code = main(["attack", "--model", "demo", "--image", str(STAR), "--attack", "pgd", "--norm", "l2",
                 "--epsilon", "8", "--steps", "3", "--target", "circle", "--param", "relu=false", "--json", str(js)])
    assert code == 0, capsys.readouterr().err
    data = json.loads(js.read_text())
    assert data["target"] == {"index": 0, "label": "circle"} and data["steps"] == 3
    assert data["epsilon"] == pytest.approx(8 / 255 * np.sqrt(3 * 128 * 128))
    assert data["rms_255"] <= 8 + 1e-3 and data["params"] == {"relu": False}
    assert data["success"] == (data["attacked"]["index"] == 0)


def test_epsilon_from_255():
    x = torch.zeros(1, 3, 10, 20)
    assert epsilon_from_255(4, "linf", x) == pytest.approx(4 / 255)
    assert epsilon_from_255(4, "l2", x) == pytest.approx(4 / 255 * np.sqrt(600))
    with pytest.raises(ValueError):
        epsilon_from_255(-1, "linf", x)
    with pytest.raises(ValueError):
        epsilon_from_255(1, "l1", x)


@pytest.mark.parametrize("model,flagged", [("demo", False), ("demo-biased", True)])
def test_bias_cli_on_the_demo_folder(tmp_path, capsys, model, flagged):
    """The known answer of the GUI's bias report: with the tag region, only the biased model is flagged."""
    js = tmp_path / "b.json"
    assert main(["bias", "--model", model, "--data", str(DEMO), "--region", "tag", "--json", str(js)]) == 0
    out = capsys.readouterr().out
    assert ("FLAGGED" in out) == flagged
    data = json.loads(js.read_text())
    assert data["flagged"] is flagged and data["region"] == [0, 0, 19, 19] and data["method"] == "gradcam"
    assert data["images"] == 12 and data["skipped"] == []
    assert set(data["per_class"]) == {str(i) for i in range(6)}
    assert data["per_class"]["3"]["label"] == "star" and data["region_enrichment"] is not None
    assert (data["region_enrichment"] > 2) == flagged


def _small_folder(root):
    """Two demo images with masks and one corrupt image, annotated."""
    root.mkdir()
    entries = []
    for name in ("clean_star", "biased_square"):
        shutil.copy(DEMO / f"{name}.png", root)
        shutil.copy(DEMO / f"{name}_mask.png", root)
        entries.append({"file": f"{name}.png", "mask": f"{name}_mask.png", "label": 3 if "star" in name else 1})
    (root / "broken.png").write_bytes(b"not an image at all")
    entries.append({"file": "broken.png", "mask": "clean_star_mask.png", "label": 3})
    (root / "ground_truth.json").write_text(json.dumps({"images": entries}))
    return root


def test_bias_skips_an_unreadable_image(tmp_path, capsys, demo):
    folder = _small_folder(tmp_path / "set")
    seen = []
    report = bias_over_folder(demo, folder, region="tag", progress=Progress(callback=lambda d, t, m: seen.append(d)))
    assert report.images == 2 and seen == [1, 2, 3]
    assert [s["file"] for s in report.skipped] == [str(folder / "broken.png")] and report.skipped[0]["reason"]
    assert set(report.per_class) == {1, 3}

    js = tmp_path / "b.json"
    assert main(["bias", "--model", "demo", "--data", str(folder), "--json", str(js)]) == 0
    out = capsys.readouterr().out
    assert "skipped" in out and "broken.png" in out
    data = json.loads(js.read_text())
    assert len(data["skipped"]) == 1 and data["region"] is None and data["region_share"] is None

    progress = Progress()
    progress.cancel()
    with pytest.raises(Cancelled):
        bias_over_folder(demo, folder, progress=progress)


def test_regions():
    assert parse_region(None) is None and parse_region("tag") == "tag"
    assert parse_region(" 1, 2,30,40 ") == (1, 2, 30, 40)
    for bad in ("1,2,3", "a,b,c,d", "5,5,5,9", "1.5,2,3,4"):
        with pytest.raises(ValueError):
            parse_region(bad)
    assert region_box("tag", (128, 128)) == (0, 0, 19, 19)
    assert region_box((100, 100, 200, 200), (128, 128)) == (100, 100, 128, 128)
    with pytest.raises(ValueError, match="outside"):
        region_box("130,0,140,10", (128, 128))


def test_counterfactual_explains_both_classes(demo):
    cf = counterfactual(demo, STAR, predicted=3, true_class=0, method="gradcam")
    assert cf.predicted.target.index == 3 and cf.true.target.index == 0
    assert cf.predicted.map.shape == cf.true.map.shape == (128, 128)
    assert not np.allclose(cf.predicted.map, cf.true.map)
    assert cf.image.dtype == np.uint8 and cf.image.shape[1] == GRID_WIDTH
    again = counterfactual(demo, Explainer(demo, load_image(STAR)), 3, 0, "saliency")
    assert again.predicted.method == "saliency" and not np.allclose(again.predicted.map, again.true.map)
    with pytest.raises(ValueError):
        counterfactual(demo, STAR, 3, 0, "activation_maximization")


@pytest.mark.parametrize("argv", [
    ["attack", "--model", "demo", "--image", str(STAR), "--method", "nope"],
    ["attack", "--model", "demo", "--image", str(STAR), "--target", "hexagon"],
    ["attack", "--model", "demo", "--image", str(STAR), "--target", "6"],
    ["attack", "--model", "demo", "--image", str(STAR), "--steps", "0"],
    ["attack", "--model", "demo", "--image", str(STAR), "--param", "nope=1"],
    ["attack", "--model", "demo", "--image", str(STAR), "--epsilon", "-1"],
    ["bias", "--model", "demo", "--data", str(DEMO), "--method", "nope"],
    ["bias", "--model", "demo", "--data", str(DEMO), "--region", "1,2,x"],
    ["bias", "--model", "demo", "--data", str(DEMO), "--region", "200,200,210,210"],
    ["bias", "--model", "demo", "--data", str(DEMO / "no_such_folder")],
    ["bias", "--model", "demo", "--data", str(ROOT / "resources")],  # a folder without ground_truth.json
])
def test_bad_arguments_are_one_line(argv, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("saliency-studio: error:") and "\n" not in err and "Traceback" not in err
