"""The trial plan of a study, before anything is rendered: which image, which condition(s),
which side — counterbalanced and in a seeded random order. Pure Python (no torch).

Protocols, after the human studies of Grad-CAM (Selvaraju et al. 2017, §5.1 class
discrimination, §5.2 trust) and Grad-CAM++ (Chattopadhay et al. 2018, §6):

* ``discrimination``: a map made by one condition (method or model) for one of two classes
  present in the image; the participant picks the class. ``per_condition`` trials per
  condition; every condition sees the same image/class draws (a within-subject design), and
  the correct answer is on the left in half of each condition's trials (±1).
* ``preference``: two conditions' maps of the same image side by side; ``per_condition``
  trials per *pair* of conditions, each member of a pair on the left in half of them (±1).

Order: trials run in rounds holding one trial of each condition (or pair), each condition
shifted to a different image draw, so conditions are spread evenly over the session and the
same image rarely follows itself. Attention checks are spaced evenly through the session.
"""

from __future__ import annotations

import csv
import random
from dataclasses import dataclass
from itertools import combinations
from pathlib import Path

PROTOCOLS = ("discrimination", "preference")
TRIAL_COLUMNS = ("trial", "protocol", "condition", "image", "left", "right", "correct",
                 "stimulus_left", "stimulus_right", "attention")
SIDES = ("left", "right")


@dataclass
class PlannedTrial:
    """One trial of the plan. ``item`` indexes the study's images (or, when ``attention``, its
    attention items); ``target`` is which of an item's two classes the map explains
    (discrimination); ``conditions`` are the condition(s) as shown, left first for preference."""

    protocol: str
    conditions: tuple[str, ...]
    item: int
    correct: str = ""
    target: int = 0
    attention: bool = False


def condition_pairs(conditions: list[str]) -> list[tuple[str, str]]:
    """Every unordered pair of conditions, each in alphabetical order (the analysis keys "A|B")."""
    return [tuple(sorted(p)) for p in combinations(conditions, 2)]


def _balanced_sides(n: int, rng: random.Random, extra_left: bool | None = None) -> list[str]:
    """``n`` sides, left and right equally often (the odd one out at random), shuffled."""
    if extra_left is None:
        extra_left = rng.random() < 0.5
    n_left = (n + 1) // 2 if extra_left else n // 2
    sides = ["left"] * n_left + ["right"] * (n - n_left)
    rng.shuffle(sides)
    return sides


def _draws(n: int, n_items: int, rng: random.Random, two_targets: bool) -> list[tuple[int, int]]:
    """``n`` (item, target) draws: items in shuffled passes so each is used before any repeats;
    with ``two_targets`` each pass explains the other class of every item than the pass before."""
    base = _balanced_sides(n_items, rng)
    out: list[tuple[int, int]] = []
    p = 0
    while len(out) < n:
        order = list(range(n_items))
        rng.shuffle(order)
        for i in order:
            target = ((base[i] == "right") + p) % 2 if two_targets else 0
            out.append((i, target))
        p += 1
    return out[:n]


def _interleave(streams: list[list[PlannedTrial]], rng: random.Random) -> list[PlannedTrial]:
    """Round r takes trial (r + offset_c) of stream c; rounds shuffled inside, avoiding the same
    image twice in a row where a rotation of the round can."""
    if not streams:
        return []
    n = len(streams[0])
    step = max(1, n // len(streams))
    order: list[PlannedTrial] = []
    for r in range(n):
        rnd = [s[(r + c * step) % n] for c, s in enumerate(streams)]
        rng.shuffle(rnd)
        for k in range(len(rnd)):
            if not order or order[-1].item != rnd[0].item:
                break
            rnd = rnd[1:] + rnd[:1]
        order += rnd
    return order


def plan(protocol: str, conditions: list[str], n_items: int, per_condition: int, seed: int,
         attention: int = 0, n_attention_items: int = 0) -> list[PlannedTrial]:
    """The whole session in order (see the module docstring)."""
    if protocol not in PROTOCOLS:
        raise ValueError(f"protocol must be one of {', '.join(PROTOCOLS)}, got {protocol!r}")
    if len(set(conditions)) != len(conditions):
        raise ValueError(f"conditions must be distinct, got {', '.join(conditions)}")
    if protocol == "preference" and len(conditions) < 2:
        raise ValueError("a preference study compares at least two conditions (methods or models)")
    if not conditions:
        raise ValueError("a study needs at least one condition")
    if per_condition < 1:
        raise ValueError(f"trials per condition must be at least 1, got {per_condition}")
    if n_items < 1:
        raise ValueError("a study needs at least one image")
    if attention < 0 or (attention and n_attention_items < 1):
        raise ValueError("attention checks need at least one attention image")
    rng = random.Random(seed)
    streams = []
    if protocol == "discrimination":
        draws = _draws(per_condition, n_items, rng, two_targets=True)
        for c in conditions:
            sides = _balanced_sides(per_condition, rng)
            streams.append([PlannedTrial(protocol, (c,), item, side, target)
                            for (item, target), side in zip(draws, sides)])
    else:
        draws = _draws(per_condition, n_items, rng, two_targets=False)
        for k, (a, b) in enumerate(condition_pairs(conditions)):
            # alternate which member gets the odd left, so per-condition totals stay balanced
            sides = _balanced_sides(per_condition, rng, extra_left=k % 2 == 0)
            streams.append([PlannedTrial(protocol, (a, b) if side == "left" else (b, a), item)
                            for (item, _), side in zip(draws, sides)])
    order = _interleave(streams, rng)
    if attention:
        checks = [PlannedTrial(protocol, (), i % n_attention_items, side, 0, True)
                  for i, side in enumerate(_balanced_sides(attention, rng))]
        n = len(order)
        slots = sorted(int((j + rng.uniform(0.25, 0.75)) * n / attention) for j in range(attention))
        for j, pos in reversed(list(enumerate(slots))):
            order.insert(min(pos, n), checks[j])
    return order


def write_trials(path: str | Path, rows: list[dict]) -> Path:
    """``trials.csv`` with exactly ``TRIAL_COLUMNS``."""
    path = Path(path)
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=TRIAL_COLUMNS, extrasaction="raise", lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: row.get(k, "") for k in TRIAL_COLUMNS})
    return path


def read_trials(path: str | Path) -> list[dict]:
    """Rows of ``trials.csv`` (``trial`` and ``attention`` as int), checked for the columns."""
    path = Path(path)
    with path.open(newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        if tuple(reader.fieldnames or ()) != TRIAL_COLUMNS:
            raise ValueError(f"{path}: expected the columns {','.join(TRIAL_COLUMNS)}, got "
                             f"{','.join(reader.fieldnames or ())}")
        rows = []
        for line, row in enumerate(reader, start=2):
            try:
                row["trial"] = int(row["trial"])
                row["attention"] = int(row["attention"] or 0)
            except ValueError:
                raise ValueError(f"{path}:{line}: trial and attention must be integers") from None
            if row["protocol"] not in PROTOCOLS:
                raise ValueError(f"{path}:{line}: unknown protocol {row['protocol']!r}")
            rows.append(row)
    if not rows:
        raise ValueError(f"{path}: no trials")
    return rows
