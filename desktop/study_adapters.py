"""The Study workspace's and participant mode's calls into ``core.study`` (one place to follow
when that API changes). Core modules are imported on first use; every function forwards to core."""

from __future__ import annotations

from pathlib import Path


def protocols() -> tuple[str, ...]:
    from core.study.design import PROTOCOLS

    return PROTOCOLS


def demo_sources() -> tuple[str, ...]:
    from core.study.stimuli import DEMO_SOURCES

    return DEMO_SOURCES


def default_folder() -> Path:
    """Where packages go unless the user says otherwise: the app's data folder."""
    from core.paths import user_dirs

    return user_dirs().data / "studies"


def design(**values):
    """A checked ``StudyDesign`` (``ValueError`` with a sentence when something does not fit)."""
    from core.study.package import StudyDesign

    d = StudyDesign(**values)
    d.validate()
    return d


def prepare(design, out: str | Path, session_bundle, session_spec: str | None, device: str, progress) -> dict:
    """``core.study.prepare_package``; the session's model is used (a private copy) when the design
    names it, other models are loaded by name."""

    def loader(name: str):
        if session_bundle is not None and name == session_spec:
            from .adapters import private_copy

            return private_copy(session_bundle)
        from core.models import load_model

        return load_model(name, device=device)

    import shutil

    from core.jobs import Cancelled
    from core.study.package import prepare_package

    out = Path(out)
    existed = out.exists()
    try:
        return prepare_package(design, out, loader=loader, progress=progress)
    except Cancelled:  # prepare_package only writes into a new or empty folder: remove what it wrote
        if out.is_dir():
            for child in out.iterdir():
                shutil.rmtree(child) if child.is_dir() else child.unlink()
            if not existed:
                out.rmdir()
        raise


def is_package(folder: str | Path) -> bool:
    folder = Path(folder)
    return (folder / "trials.csv").is_file() and (folder / "study.json").is_file()


def responses_in(pkg: str | Path) -> list[Path]:
    """The responses files participant mode wrote into the package (``PKG/responses/*.csv``)."""
    folder = Path(pkg) / "responses"
    return sorted(folder.glob("*.csv")) if folder.is_dir() else []


def analyze(pkg: str | Path, responses: list[str | Path], max_attention_failures: int = 0) -> dict:
    """``core.study.analyze`` of the package's trials and the responses files."""
    from core.study import analyze as core_analyze
    from core.study import read_responses, read_trials

    trials = read_trials(Path(pkg) / "trials.csv")
    return core_analyze(trials, read_responses(list(responses)), max_attention_failures)


def player_data(pkg: str | Path) -> dict:
    """The blinded trial list, practice and texts (``core.study.player.player_data``): no condition,
    method, model or correct answer of a real trial is in it."""
    from core.study.player import player_data as data

    return data(pkg)


def response_log(path: str | Path, participant: str):
    from core.study.responses import ResponseLog

    return ResponseLog(path, participant)


def participant_file(pkg: str | Path, participant: str) -> Path:
    from core.study.responses import participant_file as where

    return where(pkg, participant)
