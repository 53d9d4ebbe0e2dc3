"""Bias report: how much explanation energy falls on the object, and on a named region (such as
the corner where a spurious tag sits), per class. A model whose explanations concentrate on
the region far beyond its share of the image is flagged (cf. Selvaraju et al. 2017, §6)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..metrics.localization import box_mask


@dataclass
class BiasReport:
    per_class: dict[int, dict[str, float]]
    object_share: float
    region_share: float | None
    region_enrichment: float | None
    flagged: bool
    reason: str

    def to_dict(self) -> dict:
        return {"per_class": self.per_class, "object_share": self.object_share, "region_share": self.region_share,
                "region_enrichment": self.region_enrichment, "flagged": self.flagged, "reason": self.reason}


def bias_report(maps: list[np.ndarray], object_masks: list[np.ndarray], labels: list[int],
                region_box=None, enrichment_limit: float = 2.0, object_limit: float = 0.3) -> BiasReport:
    """Shares of positive map energy on each object mask and in ``region_box`` (x0, y0, x1, y1).

    Flagged when the region holds more than ``enrichment_limit`` times its area share of the
    energy, or (without a region) when less than ``object_limit`` of it lies on the objects.
    """
    rows: dict[int, list[tuple[float, float]]] = {}
    region_area = None
    for m, mask, label in zip(maps, object_masks, labels):
        pos = np.maximum(np.asarray(m, np.float64), 0)
        total = pos.sum() or 1.0
        obj = float(pos[np.asarray(mask, bool)].sum() / total)
        reg = float("nan")
        if region_box is not None:
            region = box_mask(pos.shape, region_box)
            region_area = region.mean()
            reg = float(pos[region].sum() / total)
        rows.setdefault(int(label), []).append((obj, reg))
    per_class = {k: {"object_share": float(np.mean([r[0] for r in v])),
                     "region_share": float(np.mean([r[1] for r in v])) if region_box is not None else None,
                     "images": len(v)} for k, v in sorted(rows.items())}
    all_rows = [r for v in rows.values() for r in v]
    object_share = float(np.mean([r[0] for r in all_rows]))
    if region_box is not None:
        region_share = float(np.mean([r[1] for r in all_rows]))
        enrichment = region_share / region_area if region_area else float("inf")
        flagged = bool(enrichment > enrichment_limit)
        reason = (f"{region_share:.1%} of the explanation energy lies in a region covering {region_area:.1%} of "
                  f"the image ({enrichment:.1f}× its share)")
    else:
        region_share = enrichment = None
        flagged = bool(object_share < object_limit)
        reason = f"{object_share:.1%} of the explanation energy lies on the objects"
    return BiasReport(per_class, object_share, region_share, enrichment, flagged, reason)
