"""Spectral relevance analysis (SpRAy; Lapuschkin et al. 2019, "Unmasking Clever Hans predictors
and assessing what machines really learn", Nat. Commun. 10:1096, §Methods "Spectral relevance
analysis").

Per class (the true class when the store is labelled, the predicted one otherwise): every
stored map is downsampled to a common size, normalised to unit L2 norm, and joined into a
symmetric k-nearest-neighbour graph; the eigenvalues of its normalised Laplacian give the
number of clusters (the largest eigengap among the first ``max_clusters``), spectral clustering
(scikit-learn) gives the members. Each cluster reports its members and the mean of its
(unnormalised) maps at the stored resolution; a 2-D embedding (t-SNE by default; ``spectral``:
the first two non-trivial Laplacian eigenvectors) places each image for display.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import cv2
import numpy as np

from .store import RunStore

EMBEDDINGS = ("tsne", "spectral", "none")


@dataclass
class Cluster:
    class_index: int
    cluster: int  # unique within its class; 0 is the largest
    ids: list[int]
    members: list[str]  # image files as the data source gives them
    mean_map: np.ndarray

    def to_dict(self) -> dict:
        return {"class": self.class_index, "cluster": self.cluster, "members": list(self.members),
                "size": len(self.members), "mean_map": np.round(self.mean_map.astype(float), 6).tolist()}


@dataclass
class SprayResult:
    method: str
    clusters: list[Cluster] = field(default_factory=list)
    embedding: dict[int, tuple[float, float]] = field(default_factory=dict)  # image id → (x, y)
    eigenvalues: dict[int, list[float]] = field(default_factory=dict)  # class → smallest Laplacian eigenvalues
    by_true_class: bool = True

    def to_dict(self) -> dict:
        return {"method": self.method, "classes_from": "label" if self.by_true_class else "predicted",
                "clusters": [c.to_dict() for c in self.clusters],
                "eigenvalues": {str(k): v for k, v in self.eigenvalues.items()}}


def _prepared(maps: list[np.ndarray], side: int) -> np.ndarray:
    """N×(side²) vectors: each map area-resized to side×side and scaled to unit L2 norm."""
    out = []
    for m in maps:
        small = cv2.resize(m.astype(np.float32), (side, side), interpolation=cv2.INTER_AREA)
        v = small.ravel().astype(np.float64)
        out.append(v / (np.linalg.norm(v) + 1e-12))
    return np.stack(out)


def knn_affinity(x: np.ndarray, neighbours: int) -> np.ndarray:
    """Symmetric 0/1 k-nearest-neighbour graph (SpRAy's affinity)."""
    n = len(x)
    d = ((x[:, None, :] - x[None, :, :]) ** 2).sum(-1)
    np.fill_diagonal(d, np.inf)
    k = min(neighbours, n - 1)
    nearest = np.argsort(d, axis=1, kind="stable")[:, :k]
    a = np.zeros((n, n))
    a[np.repeat(np.arange(n), k), nearest.ravel()] = 1.0
    return np.maximum(a, a.T)


def laplacian_spectrum(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Eigenvalues (ascending) and eigenvectors of the normalised Laplacian I − D^-½ A D^-½."""
    deg = a.sum(1)
    inv = 1.0 / np.sqrt(np.where(deg > 0, deg, 1.0))
    lap = np.eye(len(a)) - inv[:, None] * a * inv[None, :]
    values, vectors = np.linalg.eigh(lap)
    return np.clip(values, 0.0, 2.0), vectors


def eigengap(values: np.ndarray, max_clusters: int) -> int:
    """The number of clusters k ≤ ``max_clusters`` after which the eigenvalues jump most."""
    top = min(max_clusters, len(values) - 1)
    if top < 2:
        return 1
    gaps = np.diff(values[:top + 1])
    return int(np.argmax(gaps)) + 1


def cluster_class(x: np.ndarray, max_clusters: int = 8, neighbours: int | None = None,
                  seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(cluster of each row, Laplacian eigenvalues, eigenvectors) for one class's vectors."""
    n = len(x)
    if n < 3:
        return np.zeros(n, int), np.zeros(n), np.zeros((n, n))
    k_nn = neighbours or int(np.clip(round(np.sqrt(n)), 3, 10))
    a = knn_affinity(x, k_nn)
    values, vectors = laplacian_spectrum(a)
    k = eigengap(values, max_clusters)
    if k == 1:
        return np.zeros(n, int), values, vectors
    SpectralClustering = _sklearn("cluster").SpectralClustering

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "graph is not fully connected": the clusters are the components
        labels = SpectralClustering(n_clusters=k, affinity="precomputed", random_state=seed,
                                    assign_labels="cluster_qr").fit_predict(a)
    # Renumber by size, largest first, so ids are stable and 0 is the main mode of the class.
    order = sorted(set(labels.tolist()), key=lambda c: (-int((labels == c).sum()), c))
    return np.array([order.index(c) for c in labels]), values, vectors


def _sklearn(module: str):
    """A scikit-learn module, or a one-line error saying how to install it."""
    import importlib

    try:
        return importlib.import_module(f"sklearn.{module}")
    except ImportError:
        raise ImportError("clustering the maps (SpRAy) needs scikit-learn: pip install scikit-learn") from None


def _embed(x: np.ndarray, vectors: np.ndarray, how: str, seed: int) -> np.ndarray:
    n = len(x)
    if how == "none" or n < 2:
        return np.zeros((n, 2))
    if how == "spectral" or n < 5:
        if vectors.shape[1] >= 3:
            return vectors[:, 1:3]
        return np.zeros((n, 2))
    TSNE = _sklearn("manifold").TSNE
    perplexity = float(max(1.0, min(30.0, (n - 1) / 3)))
    method = "exact" if n <= 300 else "barnes_hut"  # exact is faster for a class of a few hundred maps
    return TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed, method=method).fit_transform(x)


def spray(store: RunStore, method: str, *, side: int = 16, max_clusters: int = 8, neighbours: int | None = None,
          embedding: str = "tsne", seed: int = 0) -> SprayResult:
    """SpRAy over the stored maps of ``method`` (see the module docstring)."""
    if embedding not in EMBEDDINGS:
        raise ValueError(f"embedding must be one of {', '.join(EMBEDDINGS)}")
    maps = store.maps(method)
    if not maps:
        stored = store.map_methods()
        raise ValueError(f"{store.path} has no maps of {method!r}" + (f"; it has {', '.join(stored)}" if stored else ""))
    by_true = store.labelled
    images = {r["id"]: r for r in store.images()}
    groups: dict[int, list[int]] = {}
    for image_id in maps:
        r = images[image_id]
        cls = r["label"] if by_true and r["label"] is not None else r["predicted"]
        groups.setdefault(int(cls), []).append(image_id)
    shape = next(iter(maps.values())).shape
    side = min(side, max(shape))
    result = SprayResult(method, by_true_class=by_true)
    for cls, ids in sorted(groups.items()):
        x = _prepared([maps[i] for i in ids], side)
        labels, values, vectors = cluster_class(x, max_clusters, neighbours, seed)
        result.eigenvalues[cls] = [float(v) for v in values[:max_clusters + 1]]
        for c in range(int(labels.max()) + 1 if len(labels) else 0):
            members = [i for i, lab in zip(ids, labels) if lab == c]
            stack = np.stack([_resized(maps[i], shape) for i in members])
            result.clusters.append(Cluster(cls, c, members, [images[i]["file"] for i in members], stack.mean(0)))
        coords = _embed(x, vectors, embedding, seed)
        result.embedding.update({i: (float(a), float(b)) for i, (a, b) in zip(ids, coords)})
    return result


def _resized(m: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Maps of one method share a shape unless image aspect ratios differ; then resize to ``shape``."""
    if m.shape == shape:
        return m
    return cv2.resize(m, (shape[1], shape[0]), interpolation=cv2.INTER_AREA)
