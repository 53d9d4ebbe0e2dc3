"""Preprocessing: resize, centre crop and normalise, keeping the display image aligned.

The crop shown to the user *is* the model input: the tensor is computed from the same
uint8 crop, so a map at input resolution overlays it pixel for pixel.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np
import torch

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
LUMA_BT601 = (0.299, 0.587, 0.114)  # ITU-R BT.601 luma weights: grey from R, G, B
CHANNEL_ORDERS = ("rgb", "bgr")


@dataclass(frozen=True)
class Preprocess:
    """How an RGB image becomes the model's input tensor.

    ``resize``: shorter side is scaled to this (``None``: resize straight to ``crop``);
    ``crop``: the centre crop (square side, or (h, w)); ``mean``/``std`` in [0, 1] units, one per
    model input channel, in the model's channel order. ``channels`` 1: grey by BT.601 luma.
    ``channel_order`` "bgr": the tensor's channels are reversed. *Pixels* (``pixels_to_input``)
    are always in display order (RGB, or grey), so images made from them show correctly.
    """

    crop: tuple[int, int] = (224, 224)
    resize: int | None = 256
    mean: tuple[float, ...] = IMAGENET_MEAN
    std: tuple[float, ...] = IMAGENET_STD
    interpolation: str = "bilinear"
    channels: int = field(default=3)
    channel_order: str = "rgb"

    def __post_init__(self):
        if self.channel_order not in CHANNEL_ORDERS:
            raise ValueError(f"channel order must be one of {', '.join(CHANNEL_ORDERS)}, "
                             f"not {self.channel_order!r}")

    @property
    def size(self) -> tuple[int, int]:
        return self.crop

    def display_image(self, rgb: np.ndarray) -> np.ndarray:
        """Resize + centre-crop ``rgb`` (H×W×3 uint8): the exact picture the model sees."""
        ch, cw = self.crop
        h, w = rgb.shape[:2]
        sx, sy, _, _ = self.geometry(h, w)
        out_w, out_h = round(w * sx), round(h * sy)
        if (out_h, out_w) != (h, w):
            shrinking = out_h < h and out_w < w
            interp = cv2.INTER_AREA if shrinking else (
                cv2.INTER_CUBIC if self.interpolation == "bicubic" else cv2.INTER_LINEAR)
            rgb = cv2.resize(rgb, (out_w, out_h), interpolation=interp)
        top, left = (out_h - ch) // 2, (out_w - cw) // 2
        return np.ascontiguousarray(rgb[top:top + ch, left:left + cw])

    def geometry(self, h: int, w: int) -> tuple[float, float, int, int]:
        """(scale_x, scale_y, left, top): an original pixel (x, y) lands at
        (x·scale_x − left, y·scale_y − top) in the display image."""
        ch, cw = self.crop
        if self.resize is None:
            out_w, out_h = cw, ch
        else:
            s = self.resize / min(h, w)
            out_w, out_h = max(cw, round(w * s)), max(ch, round(h * s))
        return out_w / w, out_h / h, (out_w - cw) // 2, (out_h - ch) // 2

    def map_box(self, box, h: int, w: int) -> tuple[int, int, int, int]:
        """An (x0, y0, x1, y1) box of an h×w original into display coordinates (clipped)."""
        sx, sy, left, top = self.geometry(h, w)
        ch, cw = self.crop
        x0, y0, x1, y1 = box
        return (int(np.clip(round(x0 * sx - left), 0, cw)), int(np.clip(round(y0 * sy - top), 0, ch)),
                int(np.clip(round(x1 * sx - left), 0, cw)), int(np.clip(round(y1 * sy - top), 0, ch)))

    def map_mask(self, mask: np.ndarray) -> np.ndarray:
        """A boolean mask of the original image, resized and cropped like the display image."""
        as_img = np.repeat(mask.astype(np.uint8)[..., None] * 255, 3, axis=2)
        return self.display_image(as_img)[..., 0] > 127

    def to_pixels(self, display: np.ndarray) -> torch.Tensor:
        """An aligned uint8 RGB display image as 1×C×H×W values in [0, 1] (grey for 1 channel)."""
        x = torch.from_numpy(np.ascontiguousarray(display)).permute(2, 0, 1).float().div_(255.0)
        if self.channels == 1:
            x = torch.tensordot(x.new_tensor(LUMA_BT601), x, dims=1).unsqueeze(0)
        return x.unsqueeze(0)

    def to_tensor(self, display: np.ndarray) -> torch.Tensor:
        """Normalise an aligned uint8 display image to a 1×C×H×W float32 tensor."""
        return self.pixels_to_input(self.to_pixels(display)).contiguous()

    def __call__(self, rgb: np.ndarray) -> tuple[np.ndarray, torch.Tensor]:
        display = self.display_image(rgb)
        return display, self.to_tensor(display)

    def pixels_to_input(self, pixels: torch.Tensor) -> torch.Tensor:
        """Map pixel-space values in [0, 1] (N×C×H×W, display order) to normalised model input."""
        if self.channel_order == "bgr":
            pixels = pixels.flip(1)
        mean = pixels.new_tensor(self.mean).view(1, -1, 1, 1)
        std = pixels.new_tensor(self.std).view(1, -1, 1, 1)
        return (pixels - mean) / std

    def input_to_pixels(self, x: torch.Tensor) -> torch.Tensor:
        """Inverse of ``pixels_to_input``."""
        mean = x.new_tensor(self.mean).view(1, -1, 1, 1)
        std = x.new_tensor(self.std).view(1, -1, 1, 1)
        pixels = x * std + mean
        return pixels.flip(1) if self.channel_order == "bgr" else pixels

    @classmethod
    def from_torchvision(cls, transforms) -> "Preprocess":
        """Read crop/resize/mean/std from a torchvision ``ImageClassification`` preset."""
        crop = transforms.crop_size
        crop = tuple(crop) * (2 if len(crop) == 1 else 1) if isinstance(crop, (list, tuple)) else (crop, crop)
        resize = transforms.resize_size
        resize = resize[0] if isinstance(resize, (list, tuple)) else resize
        interp = getattr(transforms.interpolation, "value", str(transforms.interpolation))
        return cls(crop=tuple(int(c) for c in crop[:2]), resize=int(resize),
                   mean=tuple(transforms.mean), std=tuple(transforms.std),
                   interpolation="bicubic" if "bicubic" in str(interp).lower() else "bilinear")
