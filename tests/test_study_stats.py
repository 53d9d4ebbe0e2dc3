"""Study statistics (core.study.stats) against hand-computed values and scipy as a reference,
and the analysis (core.study.analysis) on synthetic trial plans with simulated participants."""

import math
import random

import pytest

from core.study import analysis, design, stats


# --- statistics -----------------------------------------------------------------------------

def test_wilson_hand_computed():
    lo, hi = stats.wilson(8, 10)
    assert (round(lo, 3), round(hi, 3)) == (0.490, 0.943)
    # k = 0: centre z²/2n / (1 + z²/n), lower bound exactly 0
    lo, hi = stats.wilson(0, 10)
    z2 = stats.Z95 ** 2
    assert lo == 0.0 and hi == pytest.approx(z2 / 10 / (1 + z2 / 10))
    lo, hi = stats.wilson(5, 10)
    assert lo == pytest.approx(1 - hi) and (lo + hi) / 2 == pytest.approx(0.5)


def test_binomial_hand_computed():
    # 8 of 10 against 0.5: P(X >= 8) + P(X <= 2) = 2 * (45 + 10 + 1) / 1024
    assert stats.binom_test(8, 10) == pytest.approx(112 / 1024)
    assert stats.binom_test(5, 10) == 1.0
    assert stats.binom_test(0, 0) == 1.0
    assert stats.binom_test(10, 10) == pytest.approx(2 / 1024)
    # sign test drops ties: +,+,+,0,0 -> 3 of 3 positive
    assert stats.sign_test([1, 2, 1, 0, 0]) == pytest.approx(2 / 8)
    assert stats.sign_test([0, 0]) == 1.0


def test_against_scipy():
    sp = pytest.importorskip("scipy.stats")
    for k, n in [(8, 10), (0, 7), (13, 40), (37, 40), (51, 100), (3, 3), (120, 200)]:
        ref = sp.binomtest(k, n, 0.5)
        assert stats.binom_test(k, n) == pytest.approx(ref.pvalue, rel=1e-9), (k, n)
        ci = ref.proportion_ci(confidence_level=0.95, method="wilson")
        assert stats.wilson(k, n) == pytest.approx((ci.low, ci.high), abs=1e-9), (k, n)
    for k, n, p in [(3, 20, 0.3), (9, 12, 0.25), (40, 60, 0.7)]:   # asymmetric null
        assert stats.binom_test(k, n, p) == pytest.approx(sp.binomtest(k, n, p).pvalue, rel=1e-9)
    for df in (1, 2, 3, 5, 9, 30, 120):
        assert stats.t_ppf(0.975, df) == pytest.approx(sp.t.ppf(0.975, df), rel=1e-9), df
        assert stats.t_cdf(-1.3, df) == pytest.approx(sp.t.cdf(-1.3, df), rel=1e-9)
    values = [2, 1, 0, 1, -1, 2, 1, 1]
    m = sum(values) / len(values)
    ref = sp.t.interval(0.95, len(values) - 1, loc=m, scale=sp.sem(values))
    assert stats.t_interval(values) == pytest.approx(ref, rel=1e-9)


def test_t_interval_edges():
    assert stats.t_interval([1]) == (None, None)
    assert stats.t_interval([1, 1, 1]) == (1.0, 1.0)
    # two values: mean ± 12.706 * sd / sqrt(2)
    lo, hi = stats.t_interval([0, 2])
    assert (lo + hi) / 2 == pytest.approx(1) and hi - 1 == pytest.approx(12.7062047, rel=1e-7)


# --- analysis on synthetic plans ------------------------------------------------------------

def _rows(planned, classes=("circle", "star")):
    rows = []
    for i, p in enumerate(planned, start=1):
        if p.protocol == "discrimination":
            shown = classes[p.target]
            other = classes[1 - p.target]
            left, right = (shown, other) if p.correct == "left" else (other, shown)
            cond = "" if p.attention else p.conditions[0]
            rows.append({"trial": i, "protocol": p.protocol, "condition": cond, "image": f"images/{p.item}.png",
                         "left": left, "right": right, "correct": p.correct, "attention": int(p.attention)})
        else:
            left, right = p.conditions if not p.attention else (("check:object", "check:background")
                                                               if p.correct == "left" else
                                                               ("check:background", "check:object"))
            rows.append({"trial": i, "protocol": p.protocol, "condition": "", "image": f"images/{p.item}.png",
                         "left": left, "right": right, "correct": p.correct if p.attention else "",
                         "attention": int(p.attention)})
    return rows


def _discrimination_answers(trials, pid, accuracy, rng, fail_attention=False):
    out = []
    for t in trials:
        other = "right" if t["correct"] == "left" else "left"
        if t["attention"]:
            choice = other if fail_attention else t["correct"]
        else:
            choice = t["correct"] if rng.random() < accuracy[t["condition"]] else other
        out.append({"participant": pid, "trial": t["trial"], "choice": choice, "rt_ms": 900.0,
                    "source": "sim"})
    return out


def test_simulated_discrimination_policy_recovered():
    planned = design.plan("discrimination", ["gradcam", "saliency"], n_items=30, per_condition=40, seed=3,
                          attention=4, n_attention_items=2)
    trials = _rows(planned)
    policy = {"gradcam": 0.8, "saliency": 0.55}
    rng = random.Random(0)
    responses = []
    for p in range(6):
        responses += _discrimination_answers(trials, f"p{p}", policy, rng)
    responses += _discrimination_answers(trials, "careless", {"gradcam": 0.0, "saliency": 0.0}, rng,
                                         fail_attention=True)
    result = analysis.analyze(trials, responses)
    assert set(result) == {"discrimination", "preference", "participants"}
    assert result["participants"]["careless"]["excluded"] is True
    assert result["participants"]["careless"]["attention_failures"] == 4
    assert result["participants"]["p0"] == {"answered": 80, "trials": 80, "attention_checks": 4,
                                            "attention_failures": 0, "excluded": False, "duplicates": 0}
    for cond, acc in policy.items():
        r = result["discrimination"][cond]
        assert set(r) == {"n", "accuracy", "ci95", "p_value"}
        assert r["n"] == 240   # 6 included participants × 40 trials; the careless one left out
        assert r["ci95"][0] <= acc <= r["ci95"][1]
    assert result["discrimination"]["gradcam"]["p_value"] < 1e-6
    assert result["preference"] == {}


def test_simulated_preference_sides_mapped_to_pairs():
    planned = design.plan("preference", ["gradcam", "saliency"], n_items=10, per_condition=20, seed=1,
                          attention=2, n_attention_items=1)
    trials = _rows(planned)
    responses = []
    for pid in ("a", "b", "c"):
        for t in trials:
            if t["attention"]:
                choice = -1 if t["correct"] == "left" else 1
            else:  # always prefers gradcam by +1, whichever side it is on
                choice = -1 if t["left"] == "gradcam" else 1
            responses.append({"participant": pid, "trial": t["trial"], "choice": str(choice), "rt_ms": None,
                              "source": "sim"})
    result = analysis.analyze(trials, responses)
    r = result["preference"]["gradcam|saliency"]
    assert r["n"] == 60 and r["mean"] == 1.0 and r["ci95"] == [1.0, 1.0]
    assert r["p_value"] == pytest.approx(2 * 0.5 ** 60)
    assert result["discrimination"] == {}
    # ties count in n and mean, not in the sign test
    tied = [dict(x, choice="0") if i % 2 else x for i, x in enumerate(responses)]
    r = analysis.analyze(trials, tied)["preference"]["gradcam|saliency"]
    assert r["n"] == 60 and 0 < r["mean"] < 1


def test_analysis_rejects_bad_rows():
    trials = _rows(design.plan("discrimination", ["a"], 2, 2, 0))
    bad = [{"participant": "p", "trial": 99, "choice": "left", "rt_ms": 1.0, "source": "r.csv:2"}]
    with pytest.raises(ValueError, match="trial 99"):
        analysis.analyze(trials, bad)
    bad = [{"participant": "p", "trial": 1, "choice": "up", "rt_ms": 1.0, "source": "r.csv:2"}]
    with pytest.raises(ValueError, match="left or right"):
        analysis.analyze(trials, bad)


def test_plan_counterbalanced():
    for conds in (["a", "b"], ["a", "b", "c"]):
        for n in (7, 10):
            planned = design.plan("discrimination", conds, n_items=5, per_condition=n, seed=n)
            for c in conds:
                sides = [p.correct for p in planned if p.conditions == (c,)]
                assert len(sides) == n and abs(sides.count("left") - sides.count("right")) <= 1
    planned = design.plan("preference", ["x", "y"], n_items=4, per_condition=9, seed=2, attention=3,
                          n_attention_items=2)
    main = [p for p in planned if not p.attention]
    assert len(main) == 9 and sum(p.attention for p in planned) == 3
    for c in ("x", "y"):
        left = sum(p.conditions[0] == c for p in main)
        assert abs(left - (9 - left)) <= 1
    assert not planned[0].attention or not planned[-1].attention
    assert math.isclose(len(planned), 12)
