"""Where metrics disagree (cf. MetaQuantus, Hedström et al. 2023): for the methods compared on the
current image, each method's rank under each chosen metric (1 = best by that metric's own
direction) and the Spearman correlation between every two metrics' rankings, so a user sees when
faithfulness metrics order the methods differently. Computed in the background lane (progress
and Cancel here and in the status bar) on a private copy of the model; the result is a session
result of kind "disagreement", shown only while it matches the compared methods, their
parameters, the layer, the class and the ticked metrics."""

from __future__ import annotations

import textwrap

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QBrush, QColor, QFont
from PySide6.QtWidgets import (QHBoxLayout, QHeaderView, QLabel, QListWidget, QListWidgetItem, QProgressBar,
                               QPushButton, QTableWidget, QTableWidgetItem, QTabWidget, QVBoxLayout, QWidget)

from . import adapters, metrics_adapters
from .metrics_panel import arrows, explain_metric
from .widgets import checked_names, set_checked_names

DEFAULT_FAMILY = "faithfulness"  # ticked at first: the metrics whose disagreement MetaQuantus studied
HOW_TO_READ = ("Rank 1 = best under each metric's own direction (↑ higher is better, ↓ lower is better). "
               "Agreement: Spearman correlation of two metrics' rankings: +1 same order, −1 reversed; "
               "red means the two metrics disagree about which method is more faithful.")


class DisagreementView(QWidget):
    """Ranks and rank agreement for the methods ``methods()`` returns (the Compare choice)."""

    ranked = Signal(object)  # the shown result: {"scores", "ranks", "agreement", ...}

    def __init__(self, session, jobs, methods, parent=None):
        super().__init__(parent)
        self.session, self.jobs, self.methods = session, jobs, methods
        self.choice = QListWidget()
        self.choice.setObjectName("disagreement_metrics")
        self.choice.setToolTip("the metrics that rank the methods")
        for name, spec in adapters.metric_specs().items():
            item = QListWidgetItem(f"{spec.label}  {arrows(spec)}")
            item.setData(Qt.UserRole, name)
            item.setToolTip(explain_metric(spec))
            item.setFlags(item.flags() | Qt.ItemIsUserCheckable)
            default = spec.family == DEFAULT_FAMILY and "map_fn" not in spec.needs
            item.setCheckState(Qt.Checked if default else Qt.Unchecked)
            self.choice.addItem(item)
        self.run_button = QPushButton("Rank methods")
        self.run_button.setObjectName("disagreement_run")
        self.run_button.setToolTip("score every compared method's map by every ticked metric and rank them "
                                   "(runs in the background; the maps are computed first where missing)")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setObjectName("disagreement_cancel")
        self.cancel_button.setEnabled(False)
        self.progress = QProgressBar()
        self.progress.setTextVisible(False)
        self.progress.setMaximumHeight(10)
        self.progress.setVisible(False)
        self.state = QLabel("")
        self.state.setObjectName("disagreement_state")
        self.state.setWordWrap(True)
        self.state.setStyleSheet("color: #888;")
        self.ranks = QTableWidget(0, 0)
        self.ranks.setObjectName("rank_table")
        self.ranks.setToolTip("each method's rank under each metric: 1 = best")
        self.agreement = QTableWidget(0, 0)
        self.agreement.setObjectName("agreement_table")
        self.agreement.setToolTip("Spearman correlation between two metrics' rankings of the methods: "
                                  "+1 same order, −1 reversed (needs at least 3 methods)")
        for table in (self.ranks, self.agreement):
            table.setEditTriggers(QTableWidget.NoEditTriggers)
            table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeToContents)
            table.setMinimumHeight(90)
            table.verticalHeader().setDefaultSectionSize(22)
        self.verdict = QLabel("")
        self.verdict.setObjectName("disagreement_verdict")
        self.verdict.setWordWrap(True)

        left = QWidget()
        column = QVBoxLayout(left)
        column.setContentsMargins(0, 0, 0, 0)
        column.addWidget(QLabel("<b>Rank the methods by</b>"))
        column.addWidget(self.choice, 1)
        buttons = QHBoxLayout()
        buttons.addWidget(self.run_button)
        buttons.addWidget(self.cancel_button)
        column.addLayout(buttons)
        column.addWidget(self.progress)
        column.addWidget(self.state)
        left.setMinimumWidth(180)
        left.setMaximumWidth(240)
        self.tabs = QTabWidget()  # one table at a time: each gets the full width
        self.tabs.setObjectName("disagreement_tabs")
        for title, table, tip in (
                ("Rank under each metric (1 = best)", self.ranks, "each method's rank under each metric; "
                 "↑ higher / ↓ lower: which way the metric is better"),
                ("Do the metrics agree?", self.agreement, "rank correlation between two metrics' orders of the "
                 "methods: +1 same order, −1 reversed")):
            self.tabs.addTab(table, title)
            self.tabs.setTabToolTip(self.tabs.count() - 1, f"{tip}\n{HOW_TO_READ}\nHedström et al. 2023, "
                                    "The Meta-Evaluation Problem in Explainable AI (MetaQuantus)")
        right = QWidget()
        right_column = QVBoxLayout(right)
        right_column.setContentsMargins(0, 0, 0, 0)
        right_column.addWidget(self.verdict)
        right_column.addWidget(self.tabs, 1)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(left)
        layout.addWidget(right, 1)

        self._job = None  # the running metrics_adapters.TwinJob
        self._shown = None
        self.run_button.clicked.connect(self.run)
        self.cancel_button.clicked.connect(self.cancel)
        self.choice.itemChanged.connect(lambda _item: self.render())
        for signal in (session.model_changed, session.image_changed, session.selection_changed):
            signal.connect(self.render)
        session.results_changed.connect(lambda kind: self.render() if kind in ("disagreement", "explanation")
                                        else None)
        jobs.progressed.connect(self._progressed)

    # ----- what is asked -----
    def chosen(self) -> list[str]:
        return checked_names(self.choice)

    def set_chosen(self, names) -> None:
        set_checked_names(self.choice, names)

    def _asked(self) -> dict:
        s = self.session
        return {"methods": {n: s.key("explanation", method=n) for n in self.methods()}, "metrics": self.chosen()}

    def current(self):
        """The session's ranking when it matches what is asked now, else None."""
        s = self.session
        value = s.result("disagreement") if s.explainer is not None else None
        if value is None or {k: value[k] for k in ("methods", "metrics")} != self._asked():
            return None
        return value

    # ----- computing -----
    def run(self) -> None:
        s = self.session
        if s.explainer is None:
            s.notify("info", "Open an image first.")
            return
        asked = self._asked()
        if len(asked["methods"]) < 2 or not asked["metrics"]:
            s.notify("info", "Tick at least two methods (left) and one metric to rank them.")
            return
        if self.current() is not None:
            return
        explainer, image_path, key = s.explainer, s.image_path, s.key("disagreement")
        todo = asked["methods"]
        cached = {n: s.get(k) for n, k in todo.items()}
        names = list(asked["metrics"])

        def job(twin, progress):
            results = {}
            for n, k in todo.items():
                progress.check()
                results[n] = cached[n] or metrics_adapters.explain_on_twin(twin, explainer, n, k.target, k.layer,
                                                                            dict(k.params), progress)
            truth = adapters.ground_truth(explainer.bundle, image_path)
            out = metrics_adapters.rank_methods(twin, explainer, results, names, truth, progress=progress)
            out["new_maps"] = [(todo[n], results[n]) for n in todo if cached[n] is None]
            return out

        def done(value):
            self._ended()
            for map_key, result in value.pop("new_maps"):
                s.put(map_key, result)
            s.put(key, {**asked, **value})
            s.say(f"{len(todo)} methods ranked by {len(names)} metrics")

        def failed(message):
            self._ended()
            s.notify("error", f"Ranking the methods failed: {message}")

        def cancelled():
            self._ended()
            self.state.setText("cancelled")

        self._job = metrics_adapters.TwinJob(self.jobs, explainer.bundle, "disagreement", job, on_done=done,
                                             on_error=failed, on_cancel=cancelled)
        self.cancel_button.setEnabled(True)
        self.progress.setRange(0, 0)
        self.progress.setVisible(True)
        self.state.setText("ranking… (background)")

    def cancel(self) -> None:
        if self._job is not None:
            self._job.cancel()

    def _ended(self) -> None:
        self._job = None
        self.cancel_button.setEnabled(False)
        self.progress.setVisible(False)
        self.render()

    def _progressed(self, job_id, kind, done, total, message) -> None:
        if self._job is not None and job_id == self._job.id:
            self.progress.setRange(0, max(total, 1))
            self.progress.setValue(done)
            self.state.setText(f"ranking… {done}/{total} {message}")

    # ----- showing -----
    def render(self) -> None:
        value = self.current()
        if value is None:
            self._shown = None
            self.ranks.setRowCount(0)
            self.ranks.setColumnCount(0)
            self.agreement.setRowCount(0)
            self.agreement.setColumnCount(0)
            self.verdict.setText("")
            if self._job is None:
                n = len(self.methods())
                self.state.setText("not computed — Rank methods" if n >= 2 else "tick at least two methods")
            return
        self._fill_ranks(value)
        self._fill_agreement(value)
        self.verdict.setText(self._verdict(value))
        skipped = "; ".join(value.get("skipped", []))
        self.state.setText(f"skipped: {skipped}" if skipped else "")
        if value is not self._shown:
            self._shown = value
            self.ranked.emit(value)

    def _outputs(self) -> dict:
        """Output name → (MetricOutput, MetricSpec) over the registry."""
        return {out.name: (out, spec) for spec in adapters.metric_specs().values() for out in spec.outputs}

    @staticmethod
    def _short(out, spec) -> str:
        """A table row's name: the metric's label (the output's when the metric reports several)."""
        return spec.label if len(spec.outputs) == 1 else out.label

    def _fill_ranks(self, value) -> None:
        outputs, ranks, scores = self._outputs(), value["ranks"], value["scores"]
        methods = list(value["methods"])
        self.ranks.setRowCount(len(ranks))
        self.ranks.setColumnCount(len(methods))
        self.ranks.setHorizontalHeaderLabels([textwrap.fill(self.session.spec(m).label, 14, break_long_words=False)
                                              for m in methods])  # two short lines per method
        self.ranks.setVerticalHeaderLabels([f"{self._short(*outputs[o])} {outputs[o][0].arrow}" for o in ranks])
        bold = QFont()
        bold.setBold(True)
        for row, (output, by_method) in enumerate(ranks.items()):
            out, spec = outputs[output]
            header = self.ranks.verticalHeaderItem(row)
            header.setToolTip(f"{out.describe()}\n{explain_metric(spec)}")
            best = min(by_method.values()) if by_method else None
            for col, method in enumerate(methods):
                rank = by_method.get(method)
                item = QTableWidgetItem("—" if rank is None else f"{rank:g}")
                item.setTextAlignment(Qt.AlignCenter)
                raw = scores.get(method, {}).get(output)
                item.setToolTip(f"{self.session.spec(method).label}: {out.label} = "
                                + ("not scored" if raw is None else f"{raw:.4g}") + f" ({out.direction} is better)")
                if rank is not None and rank == best:
                    item.setFont(bold)
                    item.setBackground(QBrush(QColor("#c8e6c9")))
                self.ranks.setItem(row, col, item)

    def _fill_agreement(self, value) -> None:
        outputs, agreement = self._outputs(), value["agreement"]
        names = list(agreement)
        labels = [self._short(*outputs[n]) for n in names]
        self.agreement.setRowCount(len(names))
        self.agreement.setColumnCount(len(names))
        self.agreement.setHorizontalHeaderLabels([str(i + 1) for i in range(len(names))])  # narrow columns
        self.agreement.setVerticalHeaderLabels([f"{i + 1} {label}" for i, label in enumerate(labels)])
        for i, label in enumerate(labels):
            self.agreement.horizontalHeaderItem(i).setToolTip(label)
        for row, a in enumerate(names):
            for col, b in enumerate(names):
                v = agreement[a].get(b, float("nan"))
                item = QTableWidgetItem("n/a" if v != v else f"{v:+.2f}")
                item.setTextAlignment(Qt.AlignCenter)
                if v == v and a != b:
                    item.setBackground(QBrush(QColor("#ffcdd2" if v < 0 else "#c8e6c9" if v > 0.5 else "#fff9c4")))
                item.setToolTip("fewer than 3 methods ranked by both: no correlation" if v != v else
                                f"{labels[row]} vs {labels[col]}: rank correlation {v:+.2f}")
                self.agreement.setItem(row, col, item)

    def _verdict(self, value) -> str:
        """One sentence: the most disagreeing pair of metrics, or that they agree."""
        outputs, agreement = self._outputs(), value["agreement"]
        names = list(agreement)
        pairs = [(agreement[a][b], a, b) for i, a in enumerate(names) for b in names[i + 1:]
                 if agreement[a][b] == agreement[a][b]]
        if not pairs:
            return ("Rank correlations need at least three methods ranked by two metrics."
                    if len(names) >= 2 else "")
        v, a, b = min(pairs)
        if v < 0:
            return (f"<span style='color:#c62828'><b>The metrics disagree</b></span>: "
                    f"{self._short(*outputs[a])} and {self._short(*outputs[b])} order the methods differently "
                    f"(rank correlation {v:+.2f}). "
                    "No single number says which method is most faithful here.")
        return f"The metrics broadly agree (lowest rank correlation {v:+.2f})."
