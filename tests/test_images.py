"""Image files: odd formats handled, broken files refused clearly; display aligned with input."""

import cv2
import numpy as np
import pytest
import torch
from PIL import Image

from core.images import ImageLoadError, load_image
from core.models import Preprocess

from conftest import PHOTOS


def write(path, arr):
    assert cv2.imwrite(str(path), arr)
    return path


def test_photos_load():
    img = load_image(PHOTOS / "chelsea.png")
    assert img.dtype == np.uint8 and img.ndim == 3 and img.shape[2] == 3
    jpg = load_image(PHOTOS / "rocket.jpg")
    assert jpg.shape[2] == 3


def test_bgr_becomes_rgb(tmp_path):
    arr = np.zeros((4, 5, 3), np.uint8)
    arr[..., 2] = 200  # red in OpenCV's BGR order
    img = load_image(write(tmp_path / "red.png", arr))
    assert (img[..., 0] == 200).all() and (img[..., 2] == 0).all()


def test_16bit_grayscale_rgba_palette(tmp_path):
    img16 = np.full((6, 7), 65535, np.uint16)
    img16[0, 0] = 257 * 100
    got = load_image(write(tmp_path / "deep.png", img16))
    assert got.shape == (6, 7, 3) and got[1, 1, 0] == 255 and got[0, 0, 1] == 100
    rgba = np.zeros((5, 5, 4), np.uint8)
    rgba[..., 1] = 90
    rgba[..., 3] = 10
    got = load_image(write(tmp_path / "alpha.png", rgba))
    assert got.shape == (5, 5, 3) and (got[..., 1] == 90).all()
    pal = Image.new("P", (8, 3))
    pal.putpalette([0, 0, 0, 10, 20, 30] + [0] * 762)
    pal.putpixel((2, 1), 1)
    pal.save(tmp_path / "palette.png")
    got = load_image(tmp_path / "palette.png")
    assert tuple(got[1, 2]) == (10, 20, 30)


def test_truncated_jpeg(tmp_path):
    data = (PHOTOS / "rocket.jpg").read_bytes()
    path = tmp_path / "cut.jpg"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageLoadError, match="truncated"):
        load_image(path)


def test_truncated_png(tmp_path):
    data = (PHOTOS / "coffee.png").read_bytes()
    path = tmp_path / "cut.png"
    path.write_bytes(data[: len(data) // 3])
    with pytest.raises(ImageLoadError, match="truncated"):
        load_image(path)


def test_text_named_png_and_empty_and_missing(tmp_path):
    fake = tmp_path / "notes.png"
    fake.write_text("hello, I am not a picture")
    with pytest.raises(ImageLoadError, match="not an image"):
        load_image(fake)
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    with pytest.raises(ImageLoadError, match="empty"):
        load_image(empty)
    with pytest.raises(ImageLoadError, match="no such file"):
        load_image(tmp_path / "gone.png")


def test_display_aligned_with_input():
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (300, 400, 3), dtype=np.uint8)
    pre = Preprocess(crop=(224, 224), resize=256)
    display, x = pre(img)
    assert display.shape == (224, 224, 3)
    expected = (torch.from_numpy(display).permute(2, 0, 1).float() / 255 - torch.tensor(pre.mean).view(3, 1, 1)) \
        / torch.tensor(pre.std).view(3, 1, 1)
    assert torch.allclose(x[0], expected)
    assert torch.allclose(pre.input_to_pixels(x)[0], torch.from_numpy(display).permute(2, 0, 1).float() / 255,
                          atol=1e-6)


def test_centre_crop_geometry():
    img = np.zeros((200, 400, 3), np.uint8)
    img[:, 200:] = 255  # right half white
    display = Preprocess(crop=(100, 100), resize=100).display_image(img)
    # 200×400 → 100×200, centre crop keeps columns 50..150: the white edge sits at column 50.
    assert display[:, :48].max() == 0 and display[:, 52:].min() == 255
