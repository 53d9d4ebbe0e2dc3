"""Procedural datasets with exact ground truth (object masks, boxes, spurious tags)."""
