"""Crash safety of the run store: a ``dataset run`` killed with SIGKILL mid-run keeps every
committed batch, and ``--resume`` finishes the run with every image exactly once."""

import os
import signal
import sqlite3
import subprocess
import sys
import time

from core.cli import main
from core.datasets.shapes import generate
from core.workbench.run import TEST_DELAY_ENV
from core.workbench.store import RunStore

from conftest import ROOT, write_labelled_folder

N = 40
BATCH = 4


def _count(store, table):
    try:
        db = sqlite3.connect(f"file:{store}?mode=ro", uri=True, timeout=5)
        try:
            return db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
        finally:
            db.close()
    except sqlite3.Error:
        return 0


def test_kill_mid_run_then_resume(tmp_path):
    data = write_labelled_folder(tmp_path / "set", generate(N, seed=11))
    store = tmp_path / "run.db"
    args = ["dataset", "run", "--model", "demo", "--data", str(data), "--store", str(store), "--methods",
            "gradcam", "--metrics", "sparseness", "--batch-size", str(BATCH)]
    env = {**os.environ, TEST_DELAY_ENV: "0.4"}
    proc = subprocess.Popen([sys.executable, "-m", "core", *args], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 120
        while _count(store, "images") < 2 * BATCH and time.time() < deadline and proc.poll() is None:
            time.sleep(0.05)
        assert proc.poll() is None, "the run finished before it could be killed"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL
    done = _count(store, "images")
    assert 2 * BATCH <= done < N and done % BATCH == 0  # whole batches only: the one in flight is lost
    assert _count(store, "maps") == done and _count(store, "metric_values") == done

    with RunStore(store) as s:
        assert [r["finished"] for r in s.runs()] == [None]
    assert main(args + ["--resume"]) == 0
    with RunStore(store) as s:
        files = [r["file"] for r in s.images()]
        assert len(files) == N and len(set(files)) == N
        assert s.count("maps") == N and s.count("metric_values") == N
        runs = s.runs()
        assert len(runs) == 2 and runs[1]["finished"] is not None
    # A second resume finds nothing to do and writes nothing twice.
    assert main(args + ["--resume"]) == 0
    with RunStore(store) as s:
        assert s.count("images") == N and s.count("maps") == N
