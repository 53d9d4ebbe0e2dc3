"""The Ray executor on a local Ray cluster (2 CPUs, two actors) writes the same rows as the
local executor on 40 images, with maps equal at the store's float16 precision."""

import os

import numpy as np
import pytest

ray = pytest.importorskip("ray")

from core.datasets.shapes import generate  # noqa: E402
from core.workbench.analysis import read_table  # noqa: E402
from core.workbench.ray_executor import RayExecutor  # noqa: E402
from core.workbench.run import run_dataset  # noqa: E402
from core.workbench.spec import ModelSpec  # noqa: E402
from core.workbench.store import RunStore  # noqa: E402

from conftest import write_labelled_folder  # noqa: E402

N = 40


@pytest.fixture(scope="module")
def local_ray():
    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
    ray.init(num_cpus=2, include_dashboard=False, logging_level="ERROR", log_to_driver=False)
    yield
    ray.shutdown()


def _read(path):
    with RunStore(path) as store:
        table = read_table(store)
        by_file = {r["file"]: r for r in table.rows}
        maps = {by_file_id: m for by_file_id, m in store.maps("gradcam").items()}
        files = {r["id"]: r["file"] for r in table.rows}
        return by_file, {files[i]: m for i, m in maps.items()}, store.runs()


def test_ray_executor_matches_local(tmp_path, local_ray):
    data = write_labelled_folder(tmp_path / "set", generate(N, seed=21))
    common = dict(metrics=["sparseness"], batch_size=8)
    run_dataset(ModelSpec("demo"), str(data), ["gradcam"], tmp_path / "local.db", **common)
    summary = run_dataset(ModelSpec("demo"), str(data), ["gradcam"], tmp_path / "ray.db",
                          executor=RayExecutor(cpus_per_worker=1), **common)
    assert summary.computed == N
    local_rows, local_maps, _ = _read(tmp_path / "local.db")
    ray_rows, ray_maps, runs = _read(tmp_path / "ray.db")
    assert runs[0]["executor"] == "ray"
    assert set(local_rows) == set(ray_rows) and len(ray_rows) == N
    for file, row in local_rows.items():
        other = ray_rows[file]
        for key in ("label", "predicted", "label_index", "predicted_index"):
            assert row[key] == other[key], (file, key)
        assert row["confidence"] == pytest.approx(other["confidence"], rel=1e-4)
        assert row["gradcam.sparseness"] == pytest.approx(other["gradcam.sparseness"], rel=1e-3, abs=1e-4)
        a, b = local_maps[file], ray_maps[file]
        scale = float(np.abs(a).max()) or 1.0
        # float16 keeps 11 significant bits: equal up to one float16 step of the map's scale
        np.testing.assert_allclose(a, b, rtol=2 ** -10, atol=scale * 2 ** -10)
