"""Dataset workbench: input formats and skipped files, the run store written by a local run,
batched maps equal to one-image maps, export columns, added methods, refused resumes."""

import csv
import json
import sqlite3

import cv2
import numpy as np
import pytest
import torch

from core.cli import main
from core.datasets.shapes import CLASSES, generate
from core.explain import Explainer
from core.images import load_image
from core.models import load_model
from core.workbench.sources import read_source
from core.workbench.spec import RunOptions
from core.workbench.store import RunStore
from core.workbench.worker import Worker, WorkUnit

from conftest import ROOT, write_labelled_folder

DEMO = ROOT / "resources" / "images" / "demo"


@pytest.fixture(scope="module")
def demo():
    return load_model("demo")


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """ImageFolder of 8 shapes, plus a corrupt image and a folder that is no class."""
    root = write_labelled_folder(tmp_path_factory.mktemp("wb") / "set", generate(8, seed=3))
    (root / "circle" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    (root / "hexagon").mkdir()
    cv2.imwrite(str(root / "hexagon" / "h.png"), np.zeros((8, 8, 3), np.uint8))
    return root


def _write(path, img):
    cv2.imwrite(str(path), cv2.cvtColor(img, cv2.COLOR_RGB2BGR))


def test_sources_read_every_format(tmp_path, folder):
    src = read_source(folder, list(CLASSES))
    assert src.kind == "imagefolder" and src.labelled
    assert len(src.items) == 9  # 8 shapes + the corrupt one (decoded, and skipped, by the run)
    assert [s["file"] for s in src.skipped] == [str(folder / "hexagon" / "h.png")]
    assert "not a class" in src.skipped[0]["reason"]
    assert all(i.file.startswith(str(folder)) for i in src.items)

    data = generate(3, seed=1)
    for i, img in enumerate(data.images):
        _write(tmp_path / f"{i}.png", img)
    cv2.imwrite(str(tmp_path / "m0.png"), data.masks[0].astype(np.uint8) * 255)
    rows = ["file,label,x0,y0,x1,y1,mask", f"0.png,{CLASSES[data.labels[0]]},{','.join(map(str, data.boxes[0]))},m0.png",
            f"1.png,{data.labels[1]},,,,,", "2.png,hexagon,,,,,", "missing.png,circle,,,,,", "1.png,circle,5,5,2,2,"]
    (tmp_path / "list.csv").write_text("\n".join(rows) + "\n")
    src = read_source(tmp_path / "list.csv", list(CLASSES))
    assert src.kind == "csv"
    assert [(i.file, i.label) for i in src.items] == [("0.png", data.labels[0]), ("1.png", data.labels[1])]
    assert src.items[0].box == tuple(data.boxes[0]) and src.items[0].mask.endswith("m0.png")
    assert src.items[1].box is None
    assert [s["file"] for s in src.skipped] == ["2.png", "missing.png", "1.png"]

    (tmp_path / "plain.csv").write_text("0.png\n1.png\n")
    assert [i.label for i in read_source(tmp_path / "plain.csv", list(CLASSES)).items] == [None, None]

    src = read_source(DEMO, list(CLASSES))
    assert src.kind == "ground_truth" and len(src.items) == 12
    assert all(i.box and i.mask and i.label is not None for i in src.items)
    assert src.items[0].file == str(DEMO / "clean_circle.png")
    src = read_source(DEMO / "ground_truth.json", list(CLASSES))
    assert src.items[0].file == "clean_circle.png"

    flat = tmp_path / "flat"
    flat.mkdir()
    _write(flat / "a.png", data.images[0])
    src = read_source(flat, list(CLASSES))
    assert src.kind == "folder" and not src.labelled and src.items[0].label is None

    with pytest.raises(FileNotFoundError):
        read_source(tmp_path / "nothing", list(CLASSES))


@pytest.mark.parametrize("method", ["gradcam", "gradcam_pp", "layercam", "saliency", "input_x_gradient"])
def test_batched_maps_equal_single_image_maps(demo, folder, method):
    """One forward/backward for 5 images with per-image targets gives each image's own map."""
    items = [i for i in read_source(folder, list(CLASSES)).items if "broken" not in i.file][:5]
    worker = Worker(demo, RunOptions(methods={method: {}}))
    records, skipped = worker.process([WorkUnit(i, (method,)) for i in items])
    assert not skipped and len(records) == 5
    assert worker.passes == 1  # one forward + backward for the five images
    for item, rec in zip(items, records):
        ex = Explainer(demo, load_image(item.path))
        single = ex.explain(method)
        assert rec.predicted == ex.prediction[0][0]
        expected = single.low_res if single.low_res is not None else cv2.resize(single.map, (64, 64),
                                                                                 interpolation=cv2.INTER_AREA)
        assert rec.maps[method].native == (single.low_res is not None)
        np.testing.assert_allclose(rec.maps[method].data, expected, rtol=1e-4, atol=1e-5 * np.abs(expected).max())


class BatchStatNet(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.features = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, padding=1), torch.nn.BatchNorm2d(4),
                                            torch.nn.ReLU())
        self.fc = torch.nn.Linear(4, 3)

    def forward(self, x):
        return self.fc(self.features(x).mean((2, 3)))


def test_batch_statistics_model_runs_one_image_per_forward(folder):
    from core.models import ModelBundle, Preprocess

    net = BatchStatNet()
    bundle = ModelBundle(net, Preprocess(crop=(32, 32), resize=None), labels=["a", "b", "c"])
    net.features[1].train()  # batch statistics
    items = [i for i in read_source(folder, list(CLASSES)).items if "broken" not in i.file][:3]
    worker = Worker(bundle, RunOptions(methods={"gradcam": {}}, layer="features"))
    assert worker.per_image
    records, _ = worker.process([WorkUnit(i, ("gradcam",)) for i in items])
    for item, rec in zip(items, records):
        single = Explainer(bundle, load_image(item.path)).explain("gradcam", layer="features")
        np.testing.assert_allclose(rec.maps["gradcam"].data, single.low_res, rtol=1e-4, atol=1e-6)


def _columns(path):
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    return list(rows[0]), rows


def test_cli_run_export_add_method_and_refusals(tmp_path, folder, capsys):
    store = tmp_path / "run.db"
    base = ["dataset", "run", "--model", "demo", "--data", str(folder), "--store", str(store)]
    assert main(base + ["--methods", "gradcam", "--metrics", "sparseness,complexity"]) == 0
    out = capsys.readouterr().out
    assert "8 images computed" in out and "2 skipped" in out and "broken.png" in out

    db = sqlite3.connect(store)
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.execute("SELECT COUNT(*) FROM images").fetchone()[0] == 8
    assert db.execute("SELECT COUNT(*) FROM maps").fetchone()[0] == 8
    h, w, blob, native = db.execute("SELECT height, width, data, native FROM maps LIMIT 1").fetchone()
    assert (h, w, native) == (16, 16, 1) and len(blob) == 16 * 16 * 2  # Grad-CAM at its native 16×16, float16
    run = db.execute("SELECT weights_hash, versions, params, seed FROM runs").fetchone()
    assert len(run[0]) == 16 and "torch" in json.loads(run[1]) and "gradcam" in json.loads(run[2])["methods"]
    assert {r[0] for r in db.execute("SELECT file FROM skipped")} == {str(folder / "circle" / "broken.png"),
                                                                      str(folder / "hexagon" / "h.png")}
    db.close()

    # Another method adds its columns to the same store, without duplicating any row.
    assert main(base + ["--methods", "saliency", "--metrics", "sparseness,complexity"]) == 0
    assert main(["dataset", "export", str(store), "--csv", str(tmp_path / "t.csv")]) == 0
    columns, rows = _columns(tmp_path / "t.csv")
    assert columns == ["file", "label", "predicted", "label_index", "predicted_index", "confidence",
                       "gradcam.sparseness", "gradcam.complexity", "saliency.sparseness", "saliency.complexity"]
    assert len(rows) == 8 and len({r["file"] for r in rows}) == 8
    assert all(r["label"] in CLASSES and r["predicted"] in CLASSES and r["saliency.complexity"] for r in rows)
    assert all(CLASSES[int(r["label_index"])] == r["label"] for r in rows)
    with RunStore(store) as s:
        assert s.count("images") == 8 and s.count("maps") == 16 and s.count("metric_values") == 32
        assert s.count("runs") == 2

    capsys.readouterr()
    # Refusals: another model, other method parameters, a stored method again without --resume.
    assert main(["dataset", "run", "--model", "demo-biased", "--data", str(folder), "--store", str(store),
                 "--methods", "gradcam", "--resume"]) == 2
    err = capsys.readouterr().err
    assert "made with model demo" in err and len(err.strip().splitlines()) == 1
    assert main(base + ["--methods", "gradcam", "--param", "gradcam.relu=false", "--resume"]) == 2
    assert "other parameters" in capsys.readouterr().err
    assert main(base + ["--methods", "gradcam", "--seed", "3", "--resume"]) == 2
    assert "--seed" in capsys.readouterr().err
    assert main(base + ["--methods", "gradcam"]) == 2
    assert "--resume" in capsys.readouterr().err
    assert main(base + ["--methods", "gradcam", "--metrics", "sparseness,complexity", "--resume"]) == 0
    with RunStore(store) as s:
        assert s.count("images") == 8 and s.count("maps") == 16


def test_unlabelled_export_and_bad_store(tmp_path, capsys):
    flat = tmp_path / "flat"
    flat.mkdir()
    for i, img in enumerate(generate(3, seed=5).images):
        _write(flat / f"{i}.png", img)
    store = tmp_path / "u.db"
    assert main(["dataset", "run", "--model", "demo", "--data", str(flat), "--store", str(store),
                 "--methods", "gradcam"]) == 0
    assert main(["dataset", "export", str(store), "--csv", str(tmp_path / "u.csv")]) == 0
    columns, rows = _columns(tmp_path / "u.csv")
    assert columns == ["file", "label", "predicted", "label_index", "predicted_index", "confidence"]
    assert all(r["label"] == "" and r["label_index"] == "" and r["predicted"] in CLASSES for r in rows)
    (tmp_path / "junk.db").write_text("not a database at all, not even close" * 10)
    capsys.readouterr()
    assert main(["dataset", "export", str(tmp_path / "junk.db"), "--csv", str(tmp_path / "x.csv")]) == 2
    assert "not a run store" in capsys.readouterr().err
    assert main(["dataset", "export", str(tmp_path / "none.db"), "--csv", str(tmp_path / "x.csv")]) == 2
    assert main(["dataset", "run", "--model", "demo", "--data", str(flat), "--store", str(tmp_path / "v.db"),
                 "--methods", "gradcam", "--metrics", "iou"]) == 2
    assert "needs ground-truth boxes" in capsys.readouterr().err
