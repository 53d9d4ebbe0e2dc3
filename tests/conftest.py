import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
# Logs, caches and settings of the code under test go to a throw-away folder (core.paths).
os.environ.setdefault("SALIENCY_STUDIO_HOME", __import__("tempfile").mkdtemp(prefix="saliency-home-"))

from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
PHOTOS = ROOT / "resources" / "images" / "photos"

torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))


@pytest.fixture
def one_torch_thread():
    """One torch thread while a test runs: tiny networks on a shared 2-core machine gain nothing from
    threads and lose much when the machine is busy (modules opt in with ``pytestmark``)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def zoo():
    """Seeded random-init zoo bundles, built once per session (never downloads)."""
    from core.models import load_model

    cache = {}

    def get(name):
        if name not in cache:
            cache[name] = load_model(name, weights="none", seed=0)
        return cache[name]

    return get


@pytest.fixture
def small_input():
    """A seeded 1×3×64×64 normalised input."""
    gen = torch.Generator().manual_seed(1)
    return torch.randn(1, 3, 64, 64, generator=gen)


@pytest.fixture
def rgb_image():
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (120, 160, 3), dtype=np.uint8)


def write_labelled_folder(root: Path, data) -> Path:
    """ImageFolder layout (one sub-folder per class name) of generated shapes; returns the folder."""
    import cv2

    from core.datasets.shapes import CLASSES

    for i, (img, label) in enumerate(zip(data.images, data.labels)):
        folder = root / CLASSES[label]
        folder.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(folder / f"{i}.png"), cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
    return root
