"""The self-test the packaged app runs, here in-process; its time limits (a step that never ends
fails naming it, and a blocked GUI thread is ended by the watchdog with every thread's stack); and
(opt-in) the real bundle."""

import os
import shutil
import subprocess
import sys
import textwrap
import time

import pytest

from conftest import ROOT

ENV = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}


def test_self_test_in_process(qapp, tmp_path):
    from desktop.app import self_test, self_test_methods

    methods = self_test_methods()
    assert len(methods) >= 3 and methods[0] == "gradcam"  # the default, then one per other family
    assert self_test(tmp_path, exit_on_hang=False) == 0
    for method in methods:
        assert (tmp_path / f"selftest_{method}.png").stat().st_size > 1000


def test_cli_spelling_of_self_test(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "desktop.launcher", "--self-test", "--out", str(tmp_path)], cwd=ROOT,
                          capture_output=True, text=True, env=ENV, timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert "self-test passed" in proc.stdout
    assert "self-test: let the remaining jobs finish" in proc.stderr  # each step is announced


def test_a_job_that_never_finishes_fails_its_step_by_name(qapp, tmp_path, monkeypatch, capfd):
    """The model load never ends (until cancelled): the step fails with one line naming it, and
    closing the window cancels the stuck job, which leaves its lane."""
    from core.jobs import Cancelled
    from desktop import adapters
    from desktop.app import self_test

    seen = {"started": 0, "cancelled": 0}

    def never_loads(*args):
        progress = args[-1]
        seen["started"] += 1
        try:
            while True:
                progress.check()
                time.sleep(0.01)
        except Cancelled:
            seen["cancelled"] += 1
            raise

    monkeypatch.setattr(adapters, "load_model_and_image", never_loads)
    assert self_test(tmp_path, step_seconds=0.5, grace_seconds=120, exit_on_hang=False) == 1
    err = capfd.readouterr().err
    failed = [line for line in err.splitlines() if line.startswith("self-test FAILED")]
    assert failed == ["self-test FAILED: step 'load the demo model and show gradcam' timed out after 0.5 s"]
    assert seen == {"started": 1, "cancelled": 1}
    assert not list(tmp_path.glob("selftest_*.png"))


def test_an_error_the_window_shows_ends_the_step_at_once(qapp, tmp_path, monkeypatch, capfd):
    """The start image is missing: the model loads, the window says so, and the step fails with
    that sentence instead of waiting out its limit."""
    from desktop import app

    monkeypatch.setattr(app.start, "__defaults__", ("demo", tmp_path / "missing.png"))
    assert app.self_test(tmp_path, step_seconds=120, exit_on_hang=False) == 1
    failed = [line for line in capfd.readouterr().err.splitlines() if line.startswith("self-test FAILED")]
    assert len(failed) == 1
    assert failed[0].startswith("self-test FAILED: step 'load the demo model and show gradcam': missing.png could not")


# A GUI thread blocked in ``build_window``: by a sleep (the watchdog thread reports it), or by a
# regular expression that holds the GIL (only faulthandler's own timer can: it needs no GIL).
BLOCKED = textwrap.dedent("""
    import re, sys, time
    import desktop.app as app
    def sleep(*a, **k): time.sleep(3600)
    def hold_gil(*a, **k): re.match(r"(a+)+$", "a" * 64 + "b")
    app.build_window = {how}
    from desktop.selftest import run
    sys.exit(run(sys.argv[1], step_seconds=0.3, grace_seconds=0.5))
""")


@pytest.mark.parametrize("how", ["sleep", "hold_gil"])
def test_a_blocked_gui_thread_is_ended_with_every_stack(tmp_path, how):
    proc = subprocess.run([sys.executable, "-c", BLOCKED.format(how=how), str(tmp_path)], cwd=ROOT,
                          capture_output=True, text=True, env=ENV, timeout=300)
    assert proc.returncode == 1, proc.stderr
    assert "self-test: open the window (at most 0.3 s)" in proc.stderr  # the step, named before it hangs
    if how == "sleep":
        assert "self-test FAILED: step 'open the window' hung" in proc.stderr
    else:
        assert "Timeout (" in proc.stderr  # faulthandler's dump_traceback_later
    assert f" in {how}\n" in proc.stderr and " in _open_window\n" in proc.stderr  # the GUI thread's stack
    assert "self-test passed" not in proc.stdout


@pytest.mark.skipif(os.environ.get("SALIENCY_BUILD_TEST") != "1",
                    reason="building the bundle takes minutes and GBs: set SALIENCY_BUILD_TEST=1")
def test_packaged_bundle_self_test(tmp_path):
    subprocess.run(["make", "package"], cwd=ROOT, check=True, timeout=3600)
    exe = ROOT / "dist" / "saliency-studio" / "saliency-studio"
    proc = subprocess.run([str(exe), "--self-test", "--out", str(tmp_path)], capture_output=True, text=True,
                          env={**os.environ, "QT_QPA_PLATFORM": "offscreen"}, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert shutil.which(str(exe)) or exe.exists()
