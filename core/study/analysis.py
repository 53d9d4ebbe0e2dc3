"""Analysis of a study's responses: accuracy of class discrimination per condition against
chance, and preference per pair of conditions (Selvaraju et al. 2017, Grad-CAM §5.1-5.2;
Chattopadhay et al. 2018, Grad-CAM++ §6).

* ``discrimination[condition] = {n, accuracy, ci95, p_value}``: Wilson interval (Wilson 1927)
  and exact two-sided binomial test against 0.5.
* ``preference["A|B"] = {n, mean, ci95, p_value}`` with A < B alphabetically: each answer is
  turned from left/right (−2 = left much more reasonable … +2 = right much more reasonable)
  into "how much A was preferred" using the sides the trial showed; ties (0) count in ``n``
  and ``mean`` but not in the sign test; ``ci95`` is the Student-t interval of the mean.
* ``participants[id] = {answered, trials, attention_checks, attention_failures, excluded,
  duplicates}``: a participant with more than ``max_attention_failures`` failed checks is
  excluded from the figures above. Trials from all included participants are pooled.
"""

from __future__ import annotations

import csv
from pathlib import Path

from .design import condition_pairs
from .stats import binom_test, sign_test, t_interval, wilson

RESPONSE_COLUMNS = ("participant", "trial", "choice", "rt_ms")


def read_responses(paths: list[str | Path]) -> list[dict]:
    """Rows of one or more responses CSVs (``participant,trial,choice,rt_ms``); ``trial`` as
    int, ``rt_ms`` as float (or None when empty), ``choice`` as text."""
    rows = []
    for path in paths:
        path = Path(path)
        with path.open(newline="", encoding="utf-8-sig") as f:
            reader = csv.DictReader(f)
            missing = [c for c in RESPONSE_COLUMNS if c not in (reader.fieldnames or ())]
            if missing:
                raise ValueError(f"{path}: not a responses file (missing columns {', '.join(missing)}; "
                                 f"expected {','.join(RESPONSE_COLUMNS)})")
            for line, row in enumerate(reader, start=2):
                try:
                    trial = int(row["trial"])
                    rt = float(row["rt_ms"]) if (row["rt_ms"] or "").strip() else None
                except ValueError:
                    raise ValueError(f"{path}:{line}: trial must be an integer and rt_ms a number") from None
                rows.append({"participant": (row["participant"] or "").strip(), "trial": trial,
                             "choice": (row["choice"] or "").strip(), "rt_ms": rt,
                             "source": f"{path}:{line}"})
    return rows


def _parse_choice(protocol: str, choice: str, where: str):
    if protocol == "discrimination":
        if choice.lower() not in ("left", "right"):
            raise ValueError(f"{where}: a discrimination choice is left or right, got {choice!r}")
        return choice.lower()
    try:
        value = int(choice)
    except ValueError:
        value = None
    if value is None or not -2 <= value <= 2:
        raise ValueError(f"{where}: a preference choice is an integer from -2 to 2, got {choice!r}")
    return value


def _attention_passed(trial: dict, choice) -> bool:
    if trial["protocol"] == "discrimination":
        return choice == trial["correct"]
    return choice < 0 if trial["correct"] == "left" else choice > 0


def analyze(trials: list[dict], responses: list[dict], max_attention_failures: int = 0) -> dict:
    """The figures of the module docstring from ``read_trials`` and ``read_responses`` rows."""
    by_id = {t["trial"]: t for t in trials}
    main_trials = [t for t in trials if not t["attention"]]
    answers: dict[str, dict[int, object]] = {}
    people: dict[str, dict] = {}
    for r in responses:
        pid = r["participant"]
        if not pid:
            raise ValueError(f"{r['source']}: empty participant")
        trial = by_id.get(r["trial"])
        if trial is None:
            raise ValueError(f"{r['source']}: trial {r['trial']} is not in this package's trials.csv")
        choice = _parse_choice(trial["protocol"], r["choice"], r["source"])
        info = people.setdefault(pid, {"answered": 0, "trials": len(main_trials), "attention_checks": 0,
                                       "attention_failures": 0, "excluded": False, "duplicates": 0})
        mine = answers.setdefault(pid, {})
        if r["trial"] in mine:          # the first answer counts
            info["duplicates"] += 1
            continue
        mine[r["trial"]] = choice
        if trial["attention"]:
            info["attention_checks"] += 1
            info["attention_failures"] += not _attention_passed(trial, choice)
        else:
            info["answered"] += 1
    for info in people.values():
        info["excluded"] = info["attention_failures"] > max_attention_failures

    included = [(by_id[t], c) for pid, mine in answers.items() if not people[pid]["excluded"]
                for t, c in mine.items() if not by_id[t]["attention"]]
    return {"discrimination": _discrimination(main_trials, included),
            "preference": _preference(main_trials, included),
            "participants": people}


def _discrimination(trials: list[dict], answers: list[tuple[dict, object]]) -> dict:
    conditions = sorted({t["condition"] for t in trials if t["protocol"] == "discrimination"})
    out = {}
    for cond in conditions:
        hits = [c == t["correct"] for t, c in answers if t["protocol"] == "discrimination" and t["condition"] == cond]
        n, k = len(hits), sum(hits)
        if n == 0:
            out[cond] = {"n": 0, "accuracy": None, "ci95": [None, None], "p_value": None}
            continue
        lo, hi = wilson(k, n)
        out[cond] = {"n": n, "accuracy": k / n, "ci95": [lo, hi], "p_value": binom_test(k, n, 0.5)}
    return out


def _preference(trials: list[dict], answers: list[tuple[dict, object]]) -> dict:
    shown = {t["left"] for t in trials if t["protocol"] == "preference"} | \
            {t["right"] for t in trials if t["protocol"] == "preference"}
    scores: dict[str, list[int]] = {f"{a}|{b}": [] for a, b in condition_pairs(sorted(shown))
                                    if any({t["left"], t["right"]} == {a, b} for t in trials)}
    for t, choice in answers:
        if t["protocol"] != "preference":
            continue
        a, b = sorted((t["left"], t["right"]))
        # choice > 0: the right one was more reasonable; score > 0: A was preferred
        scores[f"{a}|{b}"].append(choice if t["right"] == a else -choice)
    out = {}
    for key, values in scores.items():
        if not values:
            out[key] = {"n": 0, "mean": None, "ci95": [None, None], "p_value": None}
            continue
        lo, hi = t_interval(values)
        out[key] = {"n": len(values), "mean": sum(values) / len(values), "ci95": [lo, hi],
                    "p_value": sign_test(values)}
    return out


def write_csv(result: dict, path: str | Path) -> Path:
    """One row per condition / pair / participant: ``section,key,n,value,ci_low,ci_high,p_value``
    (value: accuracy or mean preference; for participants the attention failures, n = answers)."""
    path = Path(path)
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["section", "key", "n", "value", "ci_low", "ci_high", "p_value", "excluded"])
        for cond, r in result["discrimination"].items():
            w.writerow(["discrimination", cond, r["n"], _cell(r["accuracy"]), *map(_cell, r["ci95"]),
                        _cell(r["p_value"]), ""])
        for pair, r in result["preference"].items():
            w.writerow(["preference", pair, r["n"], _cell(r["mean"]), *map(_cell, r["ci95"]),
                        _cell(r["p_value"]), ""])
        for pid, r in result["participants"].items():
            w.writerow(["participants", pid, r["answered"], r["attention_failures"], "", "", "",
                        int(r["excluded"])])
    return path


def _cell(value) -> str:
    return "" if value is None else f"{value:.6g}"
