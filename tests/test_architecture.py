"""Architecture contracts (import-linter, configured in pyproject.toml), run through `lint-imports`:
core never imports desktop/Qt/pyqtgraph; desktop workspaces never import each other."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: import-linter brings tomli
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
WORKSPACES = ROOT / "desktop" / "workspaces"


def _lint_imports() -> str:
    exe = Path(sys.executable).with_name("lint-imports")
    found = str(exe) if exe.exists() else shutil.which("lint-imports")
    if found is None:
        pytest.fail("lint-imports not found: install the test extra (pip install -e '.[test]')")
    return found


def _run(cwd: Path, *contracts: str, pythonpath: Path | None = None) -> subprocess.CompletedProcess:
    args = [_lint_imports(), "--no-cache", "--no-logo"]
    for contract in contracts:
        args += ["--contract", contract]
    env = dict(os.environ)
    if pythonpath is not None:
        env["PYTHONPATH"] = str(pythonpath)
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def _contracts() -> dict[str, dict]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["importlinter"]
    return {c["id"]: c for c in config["contracts"]}


def test_contracts_are_configured():
    contracts = _contracts()
    headless = contracts["core-headless"]
    assert headless["type"] == "forbidden" and headless["source_modules"] == ["core"]
    assert {"desktop", "PySide6", "pyqtgraph"} <= set(headless["forbidden_modules"])
    assert contracts["workspaces-independent"]["type"] == "independence"


def test_core_never_imports_the_desktop_layer():
    result = _run(ROOT, "core-headless")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "KEPT" in result.stdout and "BROKEN" not in result.stdout


def test_workspaces_do_not_import_each_other():
    if not (WORKSPACES / "__init__.py").exists():
        pytest.skip("desktop.workspaces is not a package yet; its independence contract is not checked")
    import grimp

    graph = grimp.build_graph("desktop", cache_dir=None)
    workspaces = graph.find_children("desktop.workspaces")
    assert len(workspaces) >= 2, f"the independence contract needs two workspaces to mean anything: {workspaces}"
    result = _run(ROOT, "workspaces-independent")
    assert result.returncode == 0, result.stdout + result.stderr


def test_contracts_catch_violations(tmp_path):
    """The same contracts on a small project that breaks both: lint-imports must fail on each."""
    section = (ROOT / "pyproject.toml").read_text(encoding="utf-8").split("[tool.importlinter]", 1)[1]
    section = section.split("\n[tool.", 1)[0]
    (tmp_path / "pyproject.toml").write_text("[tool.importlinter]" + section, encoding="utf-8")
    files = {"core/__init__.py": "", "core/engine.py": "from core import helper\n",
             "core/helper.py": "import PySide6\n",  # indirect: engine → helper → PySide6
             "desktop/__init__.py": "", "desktop/workspaces/__init__.py": "",
             "desktop/workspaces/explain.py": "from . import compare\n", "desktop/workspaces/compare.py": ""}
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text, encoding="utf-8")
    for contract in ("core-headless", "workspaces-independent"):
        result = _run(tmp_path, contract, pythonpath=tmp_path)
        assert result.returncode != 0 and "BROKEN" in result.stdout, (contract, result.stdout + result.stderr)
