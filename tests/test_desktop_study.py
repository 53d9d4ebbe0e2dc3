"""The Study workspace and participant mode driven like a person would (pytest-qt, offscreen):
prepare a package in the designer, answer it as a simulated participant with a fixed policy using
the keyboard, close mid-study and reopen (exactly one row per trial), and read the analysis the
policy implies in the GUI, equal to core.study's. Preference answers with the keys 1-5."""

import csv

import pytest
import torch
from PySide6.QtCore import Qt

from desktop_helpers import WAIT, collect_between_tests, window  # noqa: F401  (fixtures)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _trials(pkg):
    with (pkg / "trials.csv").open(newline="") as f:
        return {int(r["trial"]): r for r in csv.DictReader(f)}


def _rows(path):
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def _discrimination_policy(row):
    """Grad-CAM trials and attention checks answered right; saliency trials always 'left'."""
    if row["condition"] == "saliency":
        return "left"
    return row["correct"]


def _enter_id(qtbot, pw, pid):
    qtbot.keyClicks(pw.pid, pid)
    qtbot.keyClick(pw.pid, Qt.Key_Return)


def _answer(qtbot, pw, trials, count):
    """Answer ``count`` trials with the policy, pressing ← / →; returns the trial numbers answered."""
    done = []
    for _ in range(count):
        t = pw._current()
        assert pw.pages.currentWidget() is pw.trial_page and pw.mode == "trials"
        shown = pw.question.text() + pw.progress.text() + pw.choices["left"].text() + pw.choices["right"].text()
        assert "saliency" not in shown.lower() and "grad" not in shown.lower() and "demo" not in shown
        choice = _discrimination_policy(trials[t["trial"]])
        qtbot.keyClick(pw, Qt.Key_Left if choice == "left" else Qt.Key_Right)
        done.append(t["trial"])
    return done


def test_design_answer_resume_and_analyze(qtbot, window, tmp_path):
    from core.study import analyze, read_responses, read_trials

    ws = window.study
    window.mode_actions["study"].trigger()
    assert window.stack.currentWidget() is ws
    d = ws.designer
    d.images.setCurrentIndex(d.images.findData("demo-pairs"))
    d.protocol.setCurrentIndex(d.protocol.findData("discrimination"))
    assert "two things" in d.protocol_note.text()
    d.select(methods=["gradcam", "saliency"], models=["demo"])
    d.trials.setValue(4)
    d.seed.setValue(1)
    d.attention.setValue(1)
    d.practice.setValue(1)
    pkg = tmp_path / "pkg"
    d.out.setText(str(pkg))
    with qtbot.waitSignal(ws.prepared, timeout=WAIT) as prepared:
        qtbot.mouseClick(ws.prepare_button, Qt.LeftButton)
    assert prepared.args[0]["trials"] == 9 and ws.analysis.package.text() == str(pkg)
    trials = _trials(pkg)

    # a participant: ID, consent, instructions, one practice trial, then 4 trials; closed mid-study
    pw = ws.open_participant_mode(str(pkg), full_screen=False)
    _enter_id(qtbot, pw, "p1")
    assert "voluntary" in pw.info.text()
    qtbot.keyClick(pw, Qt.Key_Return)                       # consent needs a click, not a key
    assert "voluntary" in pw.info.text()
    qtbot.mouseClick(pw.primary, Qt.LeftButton)             # I agree
    qtbot.keyClick(pw, Qt.Key_Return)                       # instructions
    qtbot.keyClick(pw, Qt.Key_Return)                       # "first, a few practice pictures"
    assert pw.mode == "practice" and pw.progress.text() == "Practice 1 / 1"
    practice = pw._current()
    qtbot.keyClick(pw, Qt.Key_Left if practice["correct"] == "right" else Qt.Key_Right)   # wrong on purpose
    assert pw.feedback.text().startswith("Not quite")
    qtbot.keyClick(pw, Qt.Key_Return)                       # next
    qtbot.keyClick(pw, Qt.Key_Return)                       # "the study starts now"
    assert pw.progress.text() == "1 / 9"
    first = _answer(qtbot, pw, trials, 2)
    qtbot.keyClick(pw, Qt.Key_P)                            # a pause shows the pause text; space resumes
    assert pw.pages.currentWidget() is pw.text_page and "Paused" in pw.info.text()
    qtbot.keyClick(pw, Qt.Key_Space)
    assert pw.progress.text() == "3 / 9"
    first += _answer(qtbot, pw, trials, 2)
    responses = pkg / "responses" / "p1.csv"
    assert [int(r["trial"]) for r in _rows(responses)] == first          # on disk at once
    pw.close()

    pw = ws.open_participant_mode(str(pkg), full_screen=False)              # reopened: resumes
    _enter_id(qtbot, pw, "p1")
    assert "Welcome back" in pw.info.text() and "5 / 9" in pw.info.text()
    qtbot.keyClick(pw, Qt.Key_Return)
    with qtbot.waitSignal(pw.finished, timeout=WAIT):
        rest = _answer(qtbot, pw, trials, 5)
    rows = _rows(responses)
    assert sorted(int(r["trial"]) for r in rows) == list(range(1, 10)) == sorted(first + rest)
    assert all(r["participant"] == "p1" and float(r["rt_ms"]) >= 0 for r in rows)
    pw.close()

    ws.analysis.set_package(str(pkg))
    assert ws.analysis.files() == [str(responses)]
    with qtbot.waitSignal(ws.analyzed, timeout=WAIT) as analyzed:
        qtbot.mouseClick(ws.analysis.analyze_button, Qt.LeftButton)
    shown = analyzed.args[0]
    expected = analyze(read_trials(pkg / "trials.csv"), read_responses([responses]))
    assert shown == expected
    saliency_right = sum(1 for t in trials.values() if t["condition"] == "saliency" and t["correct"] == "left")
    table = ws.analysis.discrimination
    cells = {table.item(r, 0).text(): [table.item(r, c).text() for c in range(table.columnCount())]
             for r in range(table.rowCount())}
    assert cells["gradcam"][1:3] == ["4", "100.0%"]                          # the policy: always right
    assert cells["saliency"][1:3] == ["4", f"{saliency_right / 4:.1%}"]      # the policy: always 'left'
    assert shown["discrimination"]["gradcam"]["ci95"][0] == pytest.approx(0.5101, abs=1e-4)  # Wilson 4/4
    people = ws.analysis.participants
    assert [people.item(0, c).text() for c in range(4)] == ["p1", "8 / 8", "0", "yes"]


def test_preference_keys_and_blinding(qtbot, window, tmp_path):
    from core.study import analyze, read_responses, read_trials
    from core.study.package import StudyDesign, prepare_package

    pkg = tmp_path / "pref"
    prepare_package(StudyDesign("preference", ["demo"], ["gradcam", "saliency"], ["demo-shapes"], trials=4, seed=2,
                                practice=0), pkg)
    trials = _trials(pkg)
    pw = window.study.open_participant_mode(str(pkg), full_screen=False)
    assert pw.choices["left"].isHidden() and not pw.choices[1].isHidden()
    _enter_id(qtbot, pw, "q")
    qtbot.mouseClick(pw.primary, Qt.LeftButton)               # consent
    qtbot.keyClick(pw, Qt.Key_Return)                         # instructions; no practice
    with qtbot.waitSignal(pw.finished, timeout=WAIT):
        for _ in range(len(trials)):
            t = trials[pw._current()["trial"]]
            assert "Which highlighting of the" in pw.question.text() and "grad" not in pw.question.text().lower()
            # policy: Grad-CAM somewhat more reasonable (key 2 when it is on the left, 4 on the right)
            qtbot.keyClick(pw, Qt.Key_2 if t["left"] == "gradcam" else Qt.Key_4)
    rows = _rows(pkg / "responses" / "q.csv")
    assert sorted(int(r["trial"]) for r in rows) == sorted(trials)
    assert {r["choice"] for r in rows} <= {"-1", "1"}
    result = analyze(read_trials(pkg / "trials.csv"), read_responses([pkg / "responses" / "q.csv"]))
    assert result["preference"]["gradcam|saliency"]["mean"] == 1.0
    pw.close()


def test_response_log_is_append_only_and_survives_a_cut_line(tmp_path):
    from core.study.responses import ResponseLog

    path = tmp_path / "r.csv"
    log = ResponseLog(path, "p")
    log.append(1, "left", 812.4)
    log.append(3, "right", 90)
    with pytest.raises(ValueError, match="already answered"):
        log.append(3, "left", 5)
    with path.open("a") as f:
        f.write("p,4,le")                                  # a crash mid-write
    again = ResponseLog(path, "p")
    assert again.answered == {1: "left", 3: "right"} and again.next_unanswered([1, 2, 3, 4]) == 1
    assert path.read_text() == "participant,trial,choice,rt_ms\np,1,left,812\np,3,right,90\n"
    other = ResponseLog(path, "someone else")               # same file, another participant
    assert other.answered == {} and other.next_unanswered([1, 2]) == 0


def test_cancel_prepare_removes_the_partial_package(qtbot, window, tmp_path):
    ws = window.study
    d = ws.designer
    d.images.setCurrentIndex(d.images.findData("demo-pairs"))
    d.select(methods=["gradcam", "saliency", "gradcam_pp"], models=["demo"])
    d.trials.setValue(40)
    pkg = tmp_path / "big"
    d.out.setText(str(pkg))
    with qtbot.waitSignal(window.jobs.progressed, timeout=WAIT,
                          check_params_cb=lambda *args: args[1] == "study package"):
        qtbot.mouseClick(ws.prepare_button, Qt.LeftButton)
    assert not ws.prepare_button.isEnabled()
    with qtbot.waitSignal(window.jobs.cancelled, timeout=WAIT):
        qtbot.mouseClick(ws.cancel_button, Qt.LeftButton)
    assert not pkg.exists() and "removed" in ws.state.text() and ws.prepare_button.isEnabled()
