"""Tests for the procedural shapes-in-clutter dataset (core.datasets.shapes)."""
import numpy as np
import pytest

from core.datasets import shapes as S

K = len(S.CLASSES)
# Unit-circumradius area and perimeter of each class outline (see shapes._OUTLINES).
_W, _A = 0.3, np.sqrt(1 - 0.09)
_STAR_EDGE = np.sqrt(1 + 0.42 ** 2 - 2 * 0.42 * np.cos(np.pi / 5))
UNIT_AREA = {
    "circle": np.pi, "square": 2.0, "triangle": 3 * np.sqrt(3) / 4,
    "star": 5 * 0.42 * np.sin(np.pi / 5), "cross": 2 * (2 * _A) * (2 * _W) - (2 * _W) ** 2,
    "ring": np.pi * (1 - 0.55 ** 2),
}
UNIT_PERIM = {
    "circle": 2 * np.pi, "square": 4 * np.sqrt(2), "triangle": 3 * np.sqrt(3),
    "star": 10 * _STAR_EDGE, "cross": 4 * 2 * _W + 8 * (_A - _W),
    "ring": 2 * np.pi * 1.55,
}


@pytest.fixture(scope="module")
def data():
    return {m: S.generate(60, seed=7, size=128, mode=m) for m in S.MODES}


def _tight_box(mask):
    rows, cols = np.nonzero(mask)
    return (cols.min(), rows.min(), cols.max() + 1, rows.max() + 1)


def test_constants():
    assert S.CLASSES == ("circle", "square", "triangle", "star", "cross", "ring")
    assert len(S.TAG_COLORS) == K
    cols = np.array(S.TAG_COLORS, float)
    dists = np.linalg.norm(cols[:, None] - cols[None], axis=-1)
    assert dists[~np.eye(K, dtype=bool)].min() > 150   # clearly distinct
    assert S.tag_box(128) == (3, 3, 15, 15)
    x0, y0, x1, y1 = S.tag_box(256)
    assert x1 - x0 == y1 - y0 == 24 and x0 == y0 == 6


def test_shapes_and_dtypes(data):
    d = data["clean"]
    n = 60
    assert len(d) == n
    assert d.images.shape == (n, 128, 128, 3) and d.images.dtype == np.uint8
    assert d.labels.shape == (n,) and d.labels.dtype == np.int64
    assert d.masks.shape == (n, 128, 128) and d.masks.dtype == np.bool_
    assert d.boxes.shape == (n, 4) and d.boxes.dtype == np.int32
    assert d.tags.shape == (n,) and d.tags.dtype == np.int64
    assert d.colors.shape == (n, 3) and d.colors.dtype == np.uint8
    assert d.centers.shape == (n, 2) and d.radii.shape == (n,)
    assert tuple(d.classes) == S.CLASSES
    assert d.labels.min() >= 0 and d.labels.max() < K
    small = S.generate(3, seed=0, size=48)
    assert small.images.shape == (3, 48, 48, 3) and small.masks.shape == (3, 48, 48)


def test_determinism():
    a = S.generate(18, seed=11, size=64, mode="counter")
    b = S.generate(18, seed=11, size=64, mode="counter")
    for f in ("images", "labels", "masks", "boxes", "tags", "colors", "centers", "radii"):
        np.testing.assert_array_equal(getattr(a, f), getattr(b, f), err_msg=f)
    c = S.generate(18, seed=12, size=64, mode="counter")
    assert not np.array_equal(a.images, c.images)
    assert not np.array_equal(a.masks, c.masks)
    # each image differs from every other one
    flat = a.images.reshape(len(a), -1)
    assert len({row.tobytes() for row in flat}) == len(a)


def test_generate_matches_sample(data):
    d = data["biased"]
    for i in (0, 13, 59):
        s = S.sample(S.sample_seed(7, i), int(d.labels[i]), 128, "biased")
        np.testing.assert_array_equal(s.image, d.images[i])
        np.testing.assert_array_equal(s.mask, d.masks[i])
        assert s.box == tuple(d.boxes[i]) and s.tag == d.tags[i]


def test_class_balance():
    for n in (6, 31, 100):
        counts = np.bincount(S.generate(n, seed=n, size=32).labels, minlength=K)
        assert counts.max() - counts.min() <= 1, counts


def test_masks_boxes_consistent(data):
    d = data["clean"]
    for i in range(len(d)):
        m = d.masks[i]
        assert m.any()
        assert tuple(d.boxes[i]) == _tight_box(m)
        # every object pixel has exactly the object colour
        assert (d.images[i][m] == d.colors[i]).all()
        # object lies inside the image with a margin, and within its circumcircle
        x0, y0, x1, y1 = d.boxes[i]
        assert x0 >= 1 and y0 >= 1 and x1 <= 127 and y1 <= 127
        rows, cols = np.nonzero(m)
        cx, cy = d.centers[i]
        assert np.hypot(cols - cx, rows - cy).max() <= d.radii[i] + 1.5


def test_object_scale_and_shape(data):
    d = data["clean"]
    side = 128
    diam = 2 * d.radii / side
    assert diam.min() >= 0.15 and diam.max() <= 0.40
    area = d.masks.sum(axis=(1, 2))
    for i in range(len(d)):
        name, r = S.CLASSES[d.labels[i]], float(d.radii[i])
        expect = UNIT_AREA[name] * r * r
        # rasterisation adds at most about half the boundary length
        assert expect * 0.95 - 2 <= area[i] <= expect + 0.8 * UNIT_PERIM[name] * r + 4, \
            (name, area[i], expect)
        cx, cy = np.round(d.centers[i]).astype(int)
        assert d.masks[i][cy, cx] == (name != "ring")   # only the ring has a hole


def test_object_contrasts_with_background(data):
    d = data["clean"]
    for i in range(0, len(d), 3):
        bg = S.sample(S.sample_seed(7, i), int(d.labels[i]), 128, "clean",
                      draw_object=False)
        m = d.masks[i]
        np.testing.assert_array_equal(bg.mask, m)
        # outside the object the image is exactly the object-free render
        np.testing.assert_array_equal(d.images[i][~m], bg.image[~m])
        # inside, the object colour is far from what was underneath
        under = bg.image[m].astype(float).mean(axis=0)
        assert np.linalg.norm(under - d.colors[i].astype(float)) > 100
        # the background is cluttered, not flat
        assert bg.image.reshape(-1, 3).std(axis=0).max() > 10


def test_tags(data):
    x0, y0, x1, y1 = S.tag_box(128)
    clean, biased, counter = data["clean"], data["biased"], data["counter"]
    tag_colors = np.array(S.TAG_COLORS, np.uint8)

    assert (clean.tags == -1).all()
    np.testing.assert_array_equal(biased.tags, biased.labels)
    assert (counter.tags != counter.labels).all()
    assert (counter.tags >= 0).all() and (counter.tags < K).all()
    # the wrong class is not always the same offset
    assert len(set(((counter.tags - counter.labels) % K).tolist())) > 2

    for i in range(len(clean)):
        region_b = biased.images[i, y0:y1, x0:x1]
        region_c = counter.images[i, y0:y1, x0:x1]
        assert (region_b == tag_colors[biased.labels[i]]).all()
        assert (region_c == tag_colors[counter.tags[i]]).all()
        assert not (region_c == tag_colors[counter.labels[i]]).all()
        # clean images have no uniform tag there
        region = clean.images[i, y0:y1, x0:x1].reshape(-1, 3)
        assert not (region == region[0]).all()

    # same images in all modes apart from the tag region
    outside = np.ones((128, 128), bool)
    outside[y0:y1, x0:x1] = False
    for other in (biased, counter):
        np.testing.assert_array_equal(other.images[:, outside], clean.images[:, outside])
        np.testing.assert_array_equal(other.masks, clean.masks)
        np.testing.assert_array_equal(other.labels, clean.labels)


@pytest.mark.parametrize("size", [64, 128])
def test_object_never_overlaps_tag(size):
    d = S.generate(300, seed=3, size=size, mode="biased")
    x0, y0, x1, y1 = S.tag_box(size)
    assert not d.masks[:, y0:y1, x0:x1].any()
    # boxes are disjoint from the tag box as well
    bx0, by0 = d.boxes[:, 0], d.boxes[:, 1]
    assert ((bx0 >= x1) | (by0 >= y1)).all()
    # non-vacuous: some objects do come close to the tag
    assert np.maximum(bx0 - x1, by0 - y1).min() <= 6


def test_bad_arguments():
    with pytest.raises(ValueError):
        S.generate(2, mode="spurious")
    with pytest.raises(ValueError):
        S.sample(0, label=K)
