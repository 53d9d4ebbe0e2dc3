"""Reading images from disk into RGB uint8 arrays, with clear errors for bad files.

Anything OpenCV decodes is accepted: 8/16-bit, float, grayscale, RGBA (alpha dropped, as
PIL's ``convert('RGB')``), palette. Truncated JPEG/PNG files are refused rather than shown
half grey, which OpenCV would otherwise do silently.
"""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np

MAX_PIXELS = 200_000_000
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".gif", ".ppm", ".pgm", ".exr"}


class ImageLoadError(ValueError):
    """An image file could not be read; the message says which file and why."""


def _check_complete(data: bytes, path: Path) -> None:
    if data[:3] == b"\xff\xd8\xff":  # JPEG: entropy-coded data must end with an EOI marker
        sos = data.rfind(b"\xff\xda")
        if data.find(b"\xff\xd9", max(sos, 0)) < 0:
            raise ImageLoadError(f"{path}: the JPEG file is truncated (no end-of-image marker)")
    elif data[:8] == b"\x89PNG\r\n\x1a\n" and b"IEND" not in data[-64:]:
        raise ImageLoadError(f"{path}: the PNG file is truncated (no IEND chunk)")


def to_rgb8(img: np.ndarray) -> np.ndarray:
    """Convert an OpenCV-decoded array (BGR/BGRA/gray, any depth) to contiguous RGB uint8."""
    if img.dtype == np.uint16:
        img = (img.astype(np.float32) / 257.0 + 0.5).astype(np.uint8)
    elif img.dtype in (np.float32, np.float64):
        finite = np.nan_to_num(img.astype(np.float32), nan=0.0, posinf=1.0, neginf=0.0)
        scale = 255.0 if finite.max(initial=0.0) <= 1.0 else 1.0
        img = np.clip(finite * scale + 0.5, 0, 255).astype(np.uint8)
    elif img.dtype != np.uint8:
        raise ImageLoadError(f"unsupported pixel type {img.dtype}")
    if img.ndim == 2:
        return np.ascontiguousarray(cv2.cvtColor(img, cv2.COLOR_GRAY2RGB))
    channels = img.shape[2]
    if channels == 1:
        return np.ascontiguousarray(cv2.cvtColor(img[:, :, 0], cv2.COLOR_GRAY2RGB))
    if channels == 3:
        return np.ascontiguousarray(cv2.cvtColor(img, cv2.COLOR_BGR2RGB))
    if channels == 4:
        return np.ascontiguousarray(cv2.cvtColor(img, cv2.COLOR_BGRA2RGB))
    raise ImageLoadError(f"unsupported number of channels: {channels}")


def load_image(path: str | os.PathLike) -> np.ndarray:
    """Read ``path`` as an H×W×3 RGB uint8 array or raise ``ImageLoadError`` saying why."""
    path = Path(path)
    if not path.is_file():
        raise ImageLoadError(f"{path}: no such file")
    data = path.read_bytes()
    if not data:
        raise ImageLoadError(f"{path}: the file is empty")
    _check_complete(data, path)
    try:
        img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    except cv2.error as exc:
        raise ImageLoadError(f"{path}: OpenCV could not decode it ({exc.err})") from None
    if img is None:
        raise ImageLoadError(f"{path}: not an image OpenCV can read (corrupt file or unknown format)")
    if img.shape[0] * img.shape[1] > MAX_PIXELS:
        raise ImageLoadError(f"{path}: {img.shape[1]}×{img.shape[0]} pixels is too large")
    return to_rgb8(img)


def gaussian_blur(t: "torch.Tensor", kernel: list[int], sigma: list[float]) -> "torch.Tensor":
    """torchvision's Gaussian blur, imported on first use: torchvision costs ~2 s at start-up and
    the first heatmap does not need it."""
    import torchvision.transforms.functional as TF

    return TF.gaussian_blur(t, kernel, sigma)
