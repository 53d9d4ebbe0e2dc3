"""SpRAy known answer (Lapuschkin et al. 2019): on a mixed set — half the images with the
class-tied corner tag, half without — the Grad-CAM maps of ``demo-biased`` form a cluster of
tagged images whose mean map sits on the tag corner; those of ``demo`` do not. Also the
``dataset clusters`` JSON contract, cohorts, sorting/filtering and the HTML report."""

import json

import cv2
import numpy as np
import pytest

from core.cli import main
from core.datasets.shapes import CLASSES, generate, tag_box
from core.workbench.analysis import cohorts, filter_rows, read_table, sort_rows
from core.workbench.run import run_dataset
from core.workbench.sources import read_source
from core.workbench.spec import ModelSpec
from core.workbench.spray import eigengap
from core.workbench.store import RunStore

PER_MODE = 30  # 60 images, 10 per class: about 3 s per model on 2 CPU cores
TAGGED_SHARE = 0.8
CORNER_SHARE = 0.15  # tag corner (tag box + 4 px) is 3.5% of a 16×16 map; tag clusters measured 0.19-0.21


@pytest.fixture(scope="module")
def mixed(tmp_path_factory):
    root = tmp_path_factory.mktemp("spray") / "mixed"
    for mode, seed in (("biased", 0), ("clean", 1)):
        data = generate(PER_MODE, seed=seed, mode=mode)
        for i, (img, label) in enumerate(zip(data.images, data.labels)):
            folder = root / CLASSES[label]
            folder.mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(folder / f"{mode}_{i}.png"), cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
    return root


@pytest.fixture(scope="module")
def stores(mixed, tmp_path_factory):
    out = {}
    for model in ("demo-biased", "demo"):
        path = tmp_path_factory.mktemp("stores") / f"{model}.db"
        run_dataset(ModelSpec(model), str(mixed), ["gradcam"], path, metrics=["sparseness"])
        out[model] = path
    out["data"] = mixed
    return out


def corner_share(mean_map) -> float:
    """Share of the mean map's positive energy on the tag corner (tag box + 4 px, in map cells)."""
    m = np.maximum(np.asarray(mean_map, float), 0)
    h, w = m.shape
    x1, y1 = (int(np.ceil((v + 4) * s / 128)) for v, s in ((tag_box(128)[2], w), (tag_box(128)[3], h)))
    return float(m[:y1, :x1].sum() / (m.sum() or 1.0))


def _clusters(store, tmp_path, name):
    out = tmp_path / f"{name}.json"
    assert main(["dataset", "clusters", str(store), "--method", "gradcam", "--json", str(out),
                 "--embedding", "spectral"]) == 0
    return json.loads(out.read_text())


def _tag_clusters(data):
    return [c for c in data["clusters"]
            if np.mean(["/biased_" in f for f in c["members"]]) >= TAGGED_SHARE and corner_share(c["mean_map"]) >= CORNER_SHARE]


def test_spray_finds_the_tag_reading_cluster_of_the_biased_model_only(stores, tmp_path):
    biased = _clusters(stores["demo-biased"], tmp_path, "biased")
    assert {"class", "cluster", "members", "mean_map"} <= set(biased["clusters"][0])
    for cls in {c["class"] for c in biased["clusters"]}:
        ids = [c["cluster"] for c in biased["clusters"] if c["class"] == cls]
        assert len(ids) == len(set(ids))
    members = [f for c in biased["clusters"] for f in c["members"]]
    assert len(members) == 2 * PER_MODE == len(set(members))
    assert set(members) == {i.file for i in read_source(stores["data"], list(CLASSES)).items}
    assert np.asarray(biased["clusters"][0]["mean_map"]).shape == (16, 16)
    assert len(biased["embedding"]) == 2 * PER_MODE
    assert _tag_clusters(biased), [(c["class"], len(c["members"]), corner_share(c["mean_map"])) for c in biased["clusters"]]

    clean = _clusters(stores["demo"], tmp_path, "clean")
    assert not _tag_clusters(clean)
    assert max(corner_share(c["mean_map"]) for c in clean["clusters"]
               if np.mean(["/biased_" in f for f in c["members"]]) >= 0.5) < CORNER_SHARE


def test_eigengap():
    assert eigengap(np.array([0, 0, 0, 0.9, 1.0, 1.1]), 8) == 3
    assert eigengap(np.array([0, 0.8, 0.9, 1.0]), 8) == 1


def test_cohorts_sort_filter_and_report(stores, tmp_path):
    with RunStore(stores["demo-biased"]) as store:
        table = read_table(store)
    names = {c.name: c for c in cohorts(table)}
    correct, incorrect = names["correct"].ids, names["incorrect"].ids
    assert len(correct) + len(incorrect) == 2 * PER_MODE and len(incorrect) > 0
    assert sum(len(c.ids) for c in names.values() if c.kind == "class") == 2 * PER_MODE
    assert sum(len(c.ids) for c in names.values() if c.kind == "confusion") == len(incorrect)
    assert sum(len(c.ids) for c in names.values() if c.kind == "quantile") == 2 * PER_MODE
    ordered = sort_rows(table.rows, "gradcam.sparseness", descending=True)
    values = [r["gradcam.sparseness"] for r in ordered]
    assert values == sorted(values, reverse=True)
    assert {r["id"] for r in filter_rows(table.rows, "label=circle")} == set(names["class circle"].ids)
    assert all(r["confidence"] > 0.9 for r in filter_rows(table.rows, "confidence>0.9", "file~biased_"))

    out = tmp_path / "report.html"
    assert main(["dataset", "report", str(stores["demo-biased"]), "--html", str(out)]) == 0
    page = out.read_text()
    assert page.count("data:image/png;base64,") > 20
    assert "Confusion matrix" in page and "<th class=l>circle</th>" in page and "cluster 0" in page
    assert "Most confident mistakes" in page and "Worst by gradcam.sparseness" in page
