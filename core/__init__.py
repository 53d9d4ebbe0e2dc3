"""Saliency Studio engine: models, layers, targets, capture, attribution methods, rendering.

Pure torch + numpy + OpenCV. Never imports Qt: the desktop app and the CLI both sit on top.
"""

__version__ = "0.1.0"
