"""A run store as one self-contained HTML page (images inlined as base64 PNG): summary, the
labelled confusion matrix, cohorts, the worst images per metric and the most confident mistakes
with their maps, and the SpRAy clusters of one method with their mean maps (Lapuschkin et al. 2019)."""

from __future__ import annotations

import base64
import html
from pathlib import Path

import cv2
import numpy as np

from ..render import colorize
from .analysis import Table, class_name, cohorts, confusion, read_table, worst
from .spray import spray
from .store import RunStore
from .thumbnails import preprocess_of, thumbnail

THUMB = 96
_STYLE = """body{font-family:system-ui,sans-serif;margin:24px;color:#222}table{border-collapse:collapse;margin:8px 0}
td,th{border:1px solid #ccc;padding:3px 7px;text-align:right}th{background:#f3f3f3}td.l,th.l{text-align:left}
.g{display:flex;flex-wrap:wrap;gap:8px}.c{font-size:11px;width:%dpx;word-break:break-all}
.d{background:#fde0dc}h2{margin-top:28px}.k{margin:10px 0;padding:6px;border:1px solid #ddd}""" % THUMB


def _png(rgb: np.ndarray) -> str:
    ok, buf = cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    return "data:image/png;base64," + base64.b64encode(buf.tobytes()).decode() if ok else ""


def _img(rgb: np.ndarray, caption: str) -> str:
    return (f'<div class="c"><img src="{_png(rgb)}" width="{THUMB}" height="{THUMB}"><br>'
            f"{html.escape(caption)}</div>")


class _Thumbs:
    """Thumbnails of stored images, with a method's map over them where one is stored."""

    def __init__(self, store: RunStore, method: str | None):
        self.pre = preprocess_of(store.identity())
        self.maps = store.maps(method) if method else {}

    def __call__(self, row: dict) -> np.ndarray:
        return thumbnail(row["path"], THUMB, self.pre, self.maps.get(row["id"]))


def _summary(store: RunStore, table: Table) -> str:
    ident = store.identity() or {}
    runs = store.runs()
    lines = [f"<tr><th class=l>store</th><td class=l>{html.escape(str(store.path))}</td></tr>",
             f"<tr><th class=l>model</th><td class=l>{html.escape(str(ident.get('model')))} (weights "
             f"{html.escape(str(ident.get('weights_hash')))})</td></tr>",
             f"<tr><th class=l>data</th><td class=l>{html.escape(str(ident.get('data')))}</td></tr>",
             f"<tr><th class=l>images</th><td class=l>{len(table.rows)} ({store.count('skipped')} skipped)</td></tr>",
             f"<tr><th class=l>methods</th><td class=l>{html.escape(', '.join(store.methods()))}</td></tr>",
             f"<tr><th class=l>metrics</th><td class=l>{html.escape(', '.join(store.metrics()) or '—')}</td></tr>",
             f"<tr><th class=l>runs</th><td class=l>{len(runs)}, first {html.escape(runs[0]['created'] if runs else '')}"
             "</td></tr>"]
    labelled = [r for r in table.rows if r["label_index"] != ""]
    if labelled:
        acc = np.mean([r["label_index"] == r["predicted_index"] for r in labelled])
        lines.append(f"<tr><th class=l>accuracy</th><td class=l>{acc:.1%} of {len(labelled)} labelled</td></tr>")
    means = []
    for column in table.value_columns:
        values = [r[column] for r in table.rows if r.get(column) is not None]
        if values:
            arrow = {"higher": "↑", "lower": "↓"}.get(table.directions.get(column, ""), "")
            means.append(f"<tr><td class=l>{html.escape(column)} {arrow}</td><td>{np.mean(values):.4f}</td>"
                         f"<td>{len(values)}</td></tr>")
    out = "<h2>Summary</h2><table>" + "".join(lines) + "</table>"
    if means:
        out += "<table><tr><th class=l>metric</th><th>mean</th><th>images</th></tr>" + "".join(means) + "</table>"
    return out


def _confusion(table: Table) -> str:
    if not any(r["label_index"] != "" for r in table.rows):
        return "<h2>Confusion matrix</h2><p>The data is unlabelled.</p>"
    m = confusion(table)
    names = [html.escape(class_name(table.classes, i)) for i in range(len(m))]
    head = "<tr><th class=l>true ↓ / predicted →</th>" + "".join(f"<th>{n}</th>" for n in names) + "</tr>"
    body = "".join("<tr><th class=l>" + names[i] + "</th>" + "".join(
        f'<td class="{"d" if i != j and m[i, j] else ""}">{m[i, j]}</td>' for j in range(len(m))) + "</tr>"
        for i in range(len(m)))
    return f"<h2>Confusion matrix</h2><table>{head}{body}</table>"


def _cohorts(table: Table, thumbs: _Thumbs, per: int) -> str:
    listing = "".join(f"<tr><td class=l>{html.escape(c.name)}</td><td>{len(c.ids)}</td></tr>" for c in cohorts(table))
    out = f"<h2>Cohorts</h2><table><tr><th class=l>cohort</th><th>images</th></tr>{listing}</table>"
    wrong = [r for r in table.rows if r["label_index"] != "" and r["label_index"] != r["predicted_index"]]
    wrong.sort(key=lambda r: -r["confidence"])
    sections = []
    if wrong:
        sections.append(("Most confident mistakes", [
            (r, f"{r['file']}: {r['label']} → {r['predicted']} ({r['confidence']:.0%})") for r in wrong[:per]]))
    for column in table.value_columns:
        rows = worst(table, column, per)
        if rows:
            sections.append((f"Worst by {column}", [(r, f"{r['file']}: {r[column]:.3g}") for r in rows]))
    for title, entries in sections:
        out += f"<h3>{html.escape(title)}</h3><div class=g>" + "".join(_img(thumbs(r), cap) for r, cap in entries)
        out += "</div>"
    return out


def _clusters(store: RunStore, table: Table, method: str, thumbs: _Thumbs, per: int) -> str:
    result = spray(store, method, embedding="none")
    rows = table.by_id()
    out = (f"<h2>Clusters of {html.escape(method)} maps (SpRAy, per "
           f"{'true' if result.by_true_class else 'predicted'} class)</h2>")
    for c in result.clusters:
        mean = cv2.resize(colorize(c.mean_map), (THUMB, THUMB), interpolation=cv2.INTER_NEAREST)
        members = "".join(_img(thumbs(rows[i]), rows[i]["file"]) for i in c.ids[:max(1, per - 2)])
        out += (f'<div class=k><b>{html.escape(class_name(table.classes, c.class_index))}, cluster {c.cluster}</b>: '
                f"{len(c.ids)} images<div class=g>{_img(mean, 'mean map')}{members}</div></div>")
    return out


def write_report(store: RunStore, path: str | Path, method: str | None = None, per: int = 8) -> Path:
    """Write the report of ``store`` to ``path``; clusters of ``method`` (default: the first stored)."""
    table = read_table(store)
    methods = store.map_methods()
    method = method or next(iter(store.methods()), None)
    if method is not None and method not in methods:
        raise ValueError(f"{store.path} has no maps of {method!r}; it has {', '.join(methods) or 'none'}")
    thumbs = _Thumbs(store, method)
    parts = [_summary(store, table), _confusion(table), _cohorts(table, thumbs, per)]
    if method is not None:
        parts.append(_clusters(store, table, method, thumbs, per))
    skipped = store.skipped()
    if skipped:
        parts.append("<h2>Skipped</h2><table>" + "".join(
            f"<tr><td class=l>{html.escape(s['file'])}</td><td class=l>{html.escape(s['reason'])}</td></tr>"
            for s in skipped) + "</table>")
    page = (f"<!DOCTYPE html><html><head><meta charset=utf-8><title>Saliency Studio dataset report</title>"
            f"<style>{_STYLE}</style></head><body><h1>Dataset report</h1>{''.join(parts)}</body></html>")
    path = Path(path)
    path.write_text(page, encoding="utf-8")
    return path
