"""The ``saliency-studio`` command and the packaged (frozen) application's entry point.

No arguments or ``gui``: the desktop app; ``--open FILE``: the app on a saved session (or an
image). ``--self-test [--out DIR]`` (or ``gui --self-test``):
the offscreen self-test, exit status 0 when it passed; every step has a time limit, and a step
that overruns it ends the test with one line naming the step and every thread's stack on stderr.
Anything else goes to ``core.cli``.
Windowed builds have no console: stdout/stderr go to console.log in the user's log folder (core.paths).
"""

import multiprocessing
import sys
from pathlib import Path


def _log_without_console() -> None:
    if sys.stdout is None or sys.stderr is None:
        from core.paths import user_dirs

        log = open(user_dirs().logs / "console.log", "a", buffering=1, encoding="utf-8")
        sys.stdout = sys.stdout or log
        sys.stderr = sys.stderr or log


def _enable_faulthandler() -> None:
    import faulthandler

    try:
        faulthandler.enable(all_threads=True)
    except (AttributeError, OSError, ValueError, RuntimeError):
        pass  # no stderr with a file descriptor: the self-test's watchdog uses what there is


def run(argv: list[str] | None = None) -> int:
    multiprocessing.freeze_support()
    _log_without_console()
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["gui"]:
        argv = argv[1:]
    if argv[:1] == ["--self-test"]:
        _enable_faulthandler()  # a hang or a crash leaves every thread's stack on stderr
        from desktop.app import self_test

        return self_test(argv[argv.index("--out") + 1] if "--out" in argv[:-1] else None)
    if not argv or argv[0] == "--open":
        from desktop.app import main

        if argv and (len(argv) != 2 or not Path(argv[1]).is_file()):
            print("usage: saliency-studio --open FILE (a session .json or an image)"
                  + (f"; {argv[1]}: no such file" if len(argv) > 1 else ""), file=sys.stderr)
            return 2
        return main(argv)
    from core.cli import main as cli_main

    return cli_main(argv)


if __name__ == "__main__":
    sys.exit(run())
