"""Study packages (core.study.package, ``saliency-studio study prepare | analyze | player``) on the
demo model: trials.csv exact, counterbalanced and blinded; simulated participants answering a
prepared package are recovered by the analysis; attention failures exclude; one-line errors."""

import csv
import json
import random
import re

import pytest
import torch

from core.cli import main
from core.study.design import TRIAL_COLUMNS, read_trials
from core.study.package import StudyDesign, prepare_package

METHODS = ("gradcam", "saliency")


@pytest.fixture(scope="module")
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)   # a small CNN on a shared machine: threads only contend
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def disc(tmp_path_factory, one_thread):
    out = tmp_path_factory.mktemp("study") / "disc"
    design = StudyDesign("discrimination", ["demo"], list(METHODS), ["demo-pairs"], trials=6, seed=4,
                         attention=2, practice=2)
    return out, prepare_package(design, out)


@pytest.fixture(scope="module")
def pref(tmp_path_factory, one_thread):
    out = tmp_path_factory.mktemp("study") / "pref"
    assert main(["study", "prepare", "--model", "demo", "--images", "demo-shapes", "--methods", ",".join(METHODS),
                 "--protocol", "preference", "--trials", "5", "--seed", "2", "--attention", "2",
                 "--practice", "1", "--out", str(out)]) == 0
    return out


def _rows(pkg):
    with (pkg / "trials.csv").open(newline="") as f:
        return list(csv.DictReader(f))


def test_trials_csv_exact_and_counterbalanced(disc):
    pkg, manifest = disc
    assert (pkg / "trials.csv").read_text().splitlines()[0] == ",".join(TRIAL_COLUMNS)
    rows = _rows(pkg)
    assert len(rows) == 2 * 6 + 2 and [int(r["trial"]) for r in rows] == list(range(1, 15))
    main_rows = [r for r in rows if r["attention"] == "0"]
    checks = [r for r in rows if r["attention"] == "1"]
    assert len(checks) == 2 and all(r["condition"] == "" and r["correct"] in ("left", "right") for r in checks)
    for method in METHODS:
        mine = [r for r in main_rows if r["condition"] == method]
        assert len(mine) == 6
        sides = [r["correct"] for r in mine]
        assert abs(sides.count("left") - sides.count("right")) <= 1
        assert len({r["image"] for r in mine}) == 6          # each image once per condition
    for r in rows:
        assert r["protocol"] == "discrimination" and r["left"] != r["right"] and r["stimulus_right"] == ""
        assert {r["left"], r["right"]} <= set(manifest["images"][0]["ranking"]["demo"]) | {"circle", "square",
                                                                                           "triangle", "star",
                                                                                           "cross", "ring"}
    # the offered classes are the two objects of the image, both in the model's top 2
    by_file = {i["file"]: i for i in manifest["images"]}
    for r in main_rows:
        entry = by_file[r["image"]]
        assert {r["left"], r["right"]} == set(entry["classes"]) == set(entry["ranking"]["demo"][:2])
    assert manifest["protocol"] == "discrimination" and manifest["seed"] == 4
    assert manifest["methods"] == list(METHODS) and manifest["models"] == ["demo"]
    assert set(manifest["conditions"]) == set(METHODS) and manifest["version"] == 1
    assert [t["trial"] for t in read_trials(pkg / "trials.csv")] == list(range(1, 15))


def test_package_blinded_and_complete(disc, pref):
    for pkg in (disc[0], pref):
        rows = _rows(pkg)
        files = {r[c] for r in rows for c in ("image", "stimulus_left", "stimulus_right") if r[c]}
        for f in files:
            assert (pkg / f).is_file(), f
            assert re.fullmatch(r"(images|stimuli)/[0-9a-f]{12}\.png", f), f
        html = (pkg / "player.html").read_text()
        assert not re.search(r"https?:", html)
        for name in (*METHODS, "demo", "check:object"):
            assert name not in html.lower(), name
        referenced = set(re.findall(r"(?:images|stimuli)/[0-9a-f]{12}\.png", html))
        assert files <= referenced and all((pkg / f).is_file() for f in referenced)
        texts = json.loads((pkg / "study.json").read_text())["texts"]
        assert set(texts) >= {"consent", "instructions", "practice"} and all((pkg / p).is_file() for p in texts.values())


def test_preference_package(pref):
    rows = _rows(pref)
    main_rows = [r for r in rows if r["attention"] == "0"]
    assert len(main_rows) == 5 and len(rows) == 7
    for r in main_rows:
        assert r["condition"] == "" and r["correct"] == "" and {r["left"], r["right"]} == set(METHODS)
        assert r["stimulus_left"] and r["stimulus_right"] and r["stimulus_left"] != r["stimulus_right"]
    for method in METHODS:
        left = sum(r["left"] == method for r in main_rows)
        assert abs(left - (5 - left)) <= 1
    manifest = json.loads((pref / "study.json").read_text())
    assert manifest["pairs"] == ["gradcam|saliency"]
    assert all(r["image"] in manifest["explains"] for r in rows)


def _simulate(pkg, path, participants, policy, rng, fail_attention=()):
    """Responses CSV: discrimination answers correct with probability ``policy[condition]``;
    preference always prefers the first method of ``METHODS`` by 1 point."""
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["participant", "trial", "choice", "rt_ms"])
        for pid in participants:
            for r in _rows(pkg):
                wrong = "right" if r["correct"] == "left" else "left"
                if r["protocol"] == "discrimination":
                    if r["attention"] == "1":
                        choice = wrong if pid in fail_attention else r["correct"]
                    else:
                        choice = r["correct"] if rng.random() < policy[r["condition"]] else wrong
                elif r["attention"] == "1":
                    choice = (1 if r["correct"] == "left" else -1) * (1 if pid in fail_attention else -2)
                else:
                    choice = -1 if r["left"] == METHODS[0] else 1
                w.writerow([pid, r["trial"], choice, rng.randint(400, 3000)])
    return path


def test_simulated_participants_recovered(disc, pref, tmp_path, capsys):
    pkg, _ = disc
    policy = {"gradcam": 0.8, "saliency": 0.55}
    rng = random.Random(7)
    a = _simulate(pkg, tmp_path / "a.csv", [f"p{i}" for i in range(8)], policy, rng)
    b = _simulate(pkg, tmp_path / "b.csv", [f"q{i}" for i in range(8)] + ["careless"], policy, rng,
                  fail_attention={"careless"})
    out = tmp_path / "result.json"
    assert main(["study", "analyze", str(pkg), str(a), str(b), "--json", str(out), "--csv",
                 str(tmp_path / "r.csv"), "--plot", str(tmp_path / "r.png")]) == 0
    assert "excluded for failed attention checks: careless" in capsys.readouterr().out
    result = json.loads(out.read_text())
    assert set(result) == {"discrimination", "preference", "participants"}
    assert result["participants"]["careless"]["excluded"] and result["participants"]["careless"]["attention_failures"] == 2
    assert not result["participants"]["p0"]["excluded"] and result["participants"]["p0"]["answered"] == 12
    for method, acc in policy.items():
        r = result["discrimination"][method]
        assert set(r) == {"n", "accuracy", "ci95", "p_value"} and r["n"] == 16 * 6
        assert r["ci95"][0] <= acc <= r["ci95"][1], (method, r)
    assert result["discrimination"]["gradcam"]["p_value"] < 0.001
    assert (tmp_path / "r.png").stat().st_size > 1000
    assert (tmp_path / "r.csv").read_text().startswith("section,key,n,value,ci_low,ci_high,p_value")

    c = _simulate(pref, tmp_path / "c.csv", ["x", "y"], {}, rng)
    assert main(["study", "analyze", str(pref), str(c), "--json", str(out)]) == 0
    r = json.loads(out.read_text())["preference"]["gradcam|saliency"]
    assert set(r) == {"n", "mean", "ci95", "p_value"}
    assert r["n"] == 10 and r["mean"] == 1.0 and r["ci95"] == [1.0, 1.0] and r["p_value"] == pytest.approx(2 / 1024)


def test_player_command_rebuilds(disc, capsys):
    pkg, _ = disc
    (pkg / "texts" / "consent.txt").write_text("Edited consent text.\n")
    assert main(["study", "player", str(pkg)]) == 0
    assert "Edited consent text." in (pkg / "player.html").read_text()


@pytest.mark.parametrize("args, needle", [
    (["study"], "choose a study step"),
    (["study", "prepare", "--model", "demo", "--models", "demo,demo-biased", "--methods", "gradcam", "--images",
      "demo-pairs", "--protocol", "preference", "--trials", "2", "--out", "X"], "either --model"),
    (["study", "prepare", "--model", "demo", "--methods", "nosuch", "--images", "demo-pairs", "--protocol",
      "discrimination", "--trials", "2", "--out", "X"], "unknown method"),
    (["study", "prepare", "--model", "demo", "--methods", "gradcam", "--images", "demo-pairs", "--protocol",
      "preference", "--trials", "2", "--out", "X"], "two or more"),
    (["study", "prepare", "--model", "demo", "--methods", "gradcam", "--images", "demo-pairs", "--protocol",
      "vote", "--trials", "2", "--out", "X"], "invalid choice"),
    (["study", "prepare", "--model", "demo", "--methods", "gradcam", "--images", "demo-pairs", "--protocol",
      "discrimination", "--trials", "0", "--out", "X"], "at least 1"),
    (["study", "analyze", "nowhere", "r.csv", "--json", "o.json"], "not a study package"),
])
def test_cli_errors_one_line_exit_2(args, needle, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and needle in err, err


def test_cli_errors_on_package(disc, tmp_path, capsys):
    pkg, _ = disc
    bad = tmp_path / "bad.csv"
    bad.write_text("participant,trial,choice,rt_ms\np,999,left,100\n")
    assert main(["study", "analyze", str(pkg), str(bad), "--json", str(tmp_path / "o.json")]) == 2
    assert "trial 999" in capsys.readouterr().err
    bad.write_text("who,what\n1,2\n")
    assert main(["study", "analyze", str(pkg), str(bad), "--json", str(tmp_path / "o.json")]) == 2
    assert "not a responses file" in capsys.readouterr().err
    assert main(["study", "prepare", "--model", "demo", "--methods", "gradcam", "--images", "demo-pairs",
                 "--protocol", "discrimination", "--trials", "2", "--out", str(pkg)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "not an empty folder" in err


def test_prepare_deterministic(tmp_path, one_thread):
    design = dict(protocol="discrimination", models=["demo"], methods=["gradcam"], images=["demo-pairs"],
                  trials=2, seed=13, practice=1, attention=1)
    a = prepare_package(StudyDesign(**design), tmp_path / "a")
    b = prepare_package(StudyDesign(**design), tmp_path / "b")
    assert a == b
    text = (tmp_path / "a" / "trials.csv").read_text()
    assert text == (tmp_path / "b" / "trials.csv").read_text()
    for row in _rows(tmp_path / "a"):
        for col in ("image", "stimulus_left"):
            assert (tmp_path / "a" / row[col]).read_bytes() == (tmp_path / "b" / row[col]).read_bytes()
    assert (tmp_path / "a" / "player.html").read_text() == (tmp_path / "b" / "player.html").read_text()
