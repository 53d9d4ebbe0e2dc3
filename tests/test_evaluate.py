"""Evaluation over a set: ground truth beats random maps; the CLI's evaluate command."""

import json

import numpy as np
import pytest
import torch

from core.cli import main
from core.datasets.samples import read_samples
from core.evaluate import collect_images, evaluate, read_annotations
from core.images import load_image
from core.metrics import faithfulness as faith
from core.models import load_model

from conftest import ROOT

DEMO = ROOT / "resources" / "images" / "demo"


@pytest.fixture(scope="module")
def demo():
    return load_model("demo")


def test_ground_truth_masks_beat_random_maps(demo):
    rng = np.random.default_rng(0)
    samples = [s for s in read_samples() if s["mode"] == "clean"]
    scores = {"truth": [], "random": []}
    for s in samples:
        _, x = demo.prepare(load_image(s["path"]))
        truth = s["mask_array"].astype(np.float32) + 0.01 * rng.random((128, 128), dtype=np.float32)
        rand = rng.random((128, 128), dtype=np.float32)
        for name, m in (("truth", truth), ("random", rand)):
            scores[name].append([
                faith.deletion_insertion(demo, x, m, "deletion", step=128).value,
                faith.deletion_insertion(demo, x, m, "insertion", step=128).value,
                faith.region_perturbation(demo, x, m, "morf", region=8, steps=40).value,
                faith.average_drop(demo, x, [m]).value,
            ])
    truth, rand = np.mean(scores["truth"], 0), np.mean(scores["random"], 0)
    assert truth[0] < rand[0], "deletion: lower is better"
    assert truth[1] > rand[1], "insertion: higher is better"
    assert truth[2] > rand[2], "AOPC MoRF: higher is better"
    assert truth[3] < rand[3], "average drop: lower is better"


def test_annotations_and_image_collection():
    ann = read_annotations(DEMO / "ground_truth.json")
    assert ann["clean_star.png"].label == 3 and ann["clean_star.png"].mask.shape == (128, 128)
    images = collect_images([DEMO])
    assert len(images) == 12 and not any(p.stem.endswith("_mask") for p in images)


def test_evaluate_table(demo):
    ann = read_annotations(DEMO / "ground_truth.json")
    images = [DEMO / "clean_star.png", DEMO / "clean_ring.png"]
    table = evaluate(demo, images, ["gradcam", "saliency"], ["deletion", "pointing_game", "iou"], ann)
    assert len(table.rows) == 4 and {r["method"] for r in table.rows} == {"gradcam", "saliency"}
    assert all(0 <= r["deletion"] <= 1 and r["pointing_game"] in (0.0, 1.0) for r in table.rows)
    assert len(table.curves) == 4 and table.summary()["gradcam"]["pointing_game"] == 1.0
    with pytest.raises(ValueError, match="annotation"):
        evaluate(demo, [DEMO / "clean_star.png"], ["gradcam"], ["iou"], None)


def test_cli_evaluate(tmp_path, capsys):
    csv_path, json_path = tmp_path / "t.csv", tmp_path / "t.json"
    code = main(["evaluate", "--model", "demo", "--images", str(DEMO / "clean_cross.png"), str(DEMO / "biased_circle.png"),
                 "--annotations", str(DEMO / "ground_truth.json"), "--methods", "gradcam,occlusion",
                 "--param", "occlusion.window=32", "--param", "occlusion.stride=16",
                 "--metrics", "deletion,insertion,average_drop,energy_in_box", "--csv", str(csv_path),
                 "--json", str(json_path)])
    assert code == 0, capsys.readouterr().err
    data = json.loads(json_path.read_text())
    assert len(data["rows"]) == 4 and set(data["summary"]) == {"gradcam", "occlusion"}
    assert set(data["win_percent"]) == {"gradcam", "occlusion"}
    assert csv_path.read_text().splitlines()[0].startswith("image,method,predicted,deletion")
    assert main(["evaluate", "--model", "demo", "--images", str(DEMO), "--methods", "gradcam",
                 "--metrics", "vibes"]) == 2
    assert "unknown metric" in capsys.readouterr().err
    assert main(["evaluate", "--model", "demo", "--images", str(DEMO), "--methods", "gradcam",
                 "--param", "saliency.abs=1"]) == 2


def test_box_mapping_through_preprocessing():
    from core.models import Preprocess

    pre = Preprocess(crop=(100, 100), resize=100)
    # 200×400 → 100×200, centre crop drops 50 columns on the left.
    assert pre.map_box((100, 20, 140, 60), 200, 400) == (0, 10, 20, 30)
    mask = np.zeros((200, 400), bool)
    mask[20:60, 100:140] = True
    mapped = pre.map_mask(mask)
    ys, xs = np.nonzero(mapped)
    assert (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1) == (0, 10, 20, 30)
    assert torch.is_tensor(pre.to_tensor(np.zeros((100, 100, 3), np.uint8)))
