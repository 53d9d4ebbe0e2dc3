"""The responses file of a participant session, written one answer at a time, crash-safe.

``participant,trial,choice,rt_ms`` (``core.study.analysis.RESPONSE_COLUMNS``): every answer is
appended, flushed and ``fsync``-ed before the next trial is shown, so a crash or a closed window
loses at most the answer being given. Reopening the file for the same participant finds the
trials already answered (resume at the next unanswered one); an answer to a trial already in the
file is refused, so the file keeps exactly one row per trial and participant. A last line cut off
by a crash mid-write (no final newline) is removed on opening.
"""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path

from .analysis import RESPONSE_COLUMNS


def participant_file(pkg: str | Path, participant: str) -> Path:
    """The default responses file of a participant: ``PKG/responses/<participant>.csv`` (characters
    other than letters, digits, ``-``, ``_`` and ``.`` become ``_``)."""
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in participant.strip()) or "participant"
    return Path(pkg) / "responses" / f"{safe}.csv"


def _drop_partial_line(path: Path) -> None:
    data = path.read_bytes()
    if data and not data.endswith(b"\n"):
        with path.open("r+b") as f:
            f.truncate(data.rfind(b"\n") + 1)


class ResponseLog:
    """Append-only responses of one participant in ``path`` (other participants' rows in the same
    file are kept and ignored). ``answered``: trial → choice (text) already in the file."""

    def __init__(self, path: str | Path, participant: str):
        participant = participant.strip()
        if not participant:
            raise ValueError("a participant ID is needed")
        self.path, self.participant = Path(path), participant
        self.answered: dict[int, str] = {}
        if self.path.is_file() and self.path.stat().st_size:
            _drop_partial_line(self.path)
            with self.path.open(newline="", encoding="utf-8") as f:
                reader = csv.DictReader(f)
                if tuple(reader.fieldnames or ()) != RESPONSE_COLUMNS:
                    raise ValueError(f"{self.path} is not a responses file (expected the columns "
                                     f"{','.join(RESPONSE_COLUMNS)})")
                for row in reader:
                    if (row["participant"] or "").strip() == participant and row["trial"]:
                        self.answered.setdefault(int(row["trial"]), row["choice"])
        else:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._write(",".join(RESPONSE_COLUMNS) + "\n")

    def _write(self, text: str) -> None:
        with self.path.open("a", encoding="utf-8", newline="") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())

    def append(self, trial: int, choice, rt_ms: float) -> None:
        """Record one answer at once (flush + fsync). A second answer to ``trial`` raises."""
        trial = int(trial)
        if trial in self.answered:
            raise ValueError(f"trial {trial} was already answered by {self.participant}")
        line = io.StringIO()
        csv.writer(line, lineterminator="\n").writerow([self.participant, trial, choice, int(round(rt_ms))])
        self._write(line.getvalue())
        self.answered[trial] = str(choice)

    def next_unanswered(self, trials: list[int]) -> int | None:
        """The index in ``trials`` (trial numbers in session order) of the first unanswered trial."""
        for i, trial in enumerate(trials):
            if int(trial) not in self.answered:
                return i
        return None
