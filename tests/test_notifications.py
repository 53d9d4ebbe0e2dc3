"""Messages that stay until dismissed, the log panel, and the log file (pytest-qt, offscreen)."""

import logging
import sys

import pytest

from core.paths import user_dirs
from desktop import log_setup
from desktop.notifications import LogPanel, NotificationArea


@pytest.fixture
def area(qtbot):
    a = NotificationArea(info_timeout_ms=50)
    qtbot.addWidget(a)
    a.resize(600, 300)
    a.show()
    return a


@pytest.fixture
def home(tmp_path, monkeypatch):
    """A fresh user folder; the log handler is put back as it was afterwards."""
    monkeypatch.setenv("SALIENCY_STUDIO_HOME", str(tmp_path))
    before = log_setup._our_handler()
    yield tmp_path
    after = log_setup._our_handler()
    if after is not None and after is not before:
        logging.getLogger().removeHandler(after)
        after.close()
        if before is not None:
            logging.getLogger().addHandler(before)


def test_errors_and_warnings_stay_until_dismissed(qtbot, area):
    error = area.notify("error", "Could not load the model: file is empty. " * 4, details="Traceback ...\nOSError")
    warning = area.warning("These weights are random.", key="random-weights")
    info = area.info("Model loaded")
    assert [n.id for n in area.items()] == [info, warning, error]  # newest first
    qtbot.waitUntil(lambda: info not in [n.id for n in area.items()], timeout=2000)  # info expired
    qtbot.wait(150)
    assert [n.level for n in area.items()] == ["warning", "error"]  # the others stay
    card = area.card(error)
    assert card.text.wordWrap() and card.isVisible()
    assert card.details_button.isVisible() and not card.details.isVisible()
    card.details_button.click()
    assert card.details.isVisible() and "OSError" in card.details.toPlainText()
    assert not area.card(warning).details_button.isVisible()  # no details, no button
    with qtbot.waitSignal(area.changed):
        card.close_button.click()
    assert [n.id for n in area.items()] == [warning]
    assert area.dismiss(error) is False
    assert area.dismiss_key("random-weights") and area.items() == []


def test_persistent_info_repeats_and_keys(qtbot, area):
    kept = area.info("Random weights: results are not meaningful", persistent=True)
    qtbot.wait(150)
    assert [n.id for n in area.items()] == [kept]
    first = area.error("Out of memory")
    assert area.error("Out of memory") == first and area.items()[0].count == 2
    assert "×2" in area.card(first).text.text()
    a = area.warning("Model A has random weights", key="weights")
    b = area.warning("Model B has random weights", key="weights")
    assert a == b and area.items()[0].text == "Model B has random weights" and area.items()[0].count == 1
    with pytest.raises(ValueError):
        area.notify("fatal", "?")
    area.clear()
    assert area.items() == []


def test_log_panel_records_every_message(qtbot, area):
    panel = LogPanel()
    qtbot.addWidget(panel)
    panel.attach(area)
    area.error("Boom", details="Traceback (most recent call last):\nValueError: boom")
    area.info("Saved overlay.png")
    panel.record("warning", "Slow model")
    entries = panel.entries()
    assert [(e.level, e.text) for e in entries] == [("error", "Boom"), ("info", "Saved overlay.png"),
                                                   ("warning", "Slow model")]
    assert panel.tree.topLevelItemCount() == 3
    assert panel.tree.topLevelItem(0).text(1) == "error" and panel.tree.topLevelItem(0).text(0).count(":") == 2
    panel.tree.setCurrentItem(panel.tree.topLevelItem(0))
    assert "ValueError: boom" in panel.details.toPlainText()
    assert "ValueError: boom" in panel.text()
    qtbot.waitUntil(lambda: len(area.items()) == 1, timeout=2000)  # info expired from the area ...
    assert len(panel.entries()) == 3  # ... but not from the log
    panel.clear()
    assert panel.entries() == [] and panel.tree.topLevelItemCount() == 0


def test_setup_logging_writes_tracebacks_to_the_user_log(home):
    path = log_setup.setup_logging()
    assert path == user_dirs().logs / "saliency-studio.log" and path.parent.parent == home
    assert log_setup.setup_logging() == path  # idempotent: one handler
    assert sum(getattr(h, "_saliency_studio", False) for h in logging.getLogger().handlers) == 1
    try:
        raise RuntimeError("the model exploded")
    except RuntimeError:
        log_setup.log_failure("explaining failed", log_setup.format_exception(*sys.exc_info()))
    text = path.read_text(encoding="utf-8")
    assert "explaining failed" in text and "Traceback (most recent call last):" in text
    assert 'raise RuntimeError("the model exploded")' in text and "ERROR" in text
    handler = log_setup._our_handler()
    assert handler.maxBytes == 1_000_000 and handler.backupCount == 3


def test_notifications_are_logged(qtbot, area, home):
    path = log_setup.setup_logging()
    area.warning("Random weights in use")
    log_setup.flush_log()
    assert "WARNING" in path.read_text(encoding="utf-8") and "Random weights in use" in path.read_text()


def test_excepthook_logs_and_notifies_instead_of_crashing(qtbot, area, home):
    path = log_setup.setup_logging()
    passed = []
    hook = log_setup.make_excepthook(area.notify, fallback=lambda *a: passed.append(a))
    try:
        {}["missing"]
    except KeyError:
        hook(*sys.exc_info())
    (note,) = area.items()
    assert note.level == "error" and "KeyError" in note.text and "Traceback" in note.details
    assert "KeyError: 'missing'" in path.read_text(encoding="utf-8")
    hook(KeyboardInterrupt, KeyboardInterrupt(), None)
    assert len(passed) == 1  # Ctrl+C is not swallowed

    def broken_notify(*args):
        raise RuntimeError("notification area gone")

    try:
        raise ValueError("second")
    except ValueError:
        log_setup.make_excepthook(broken_notify)(*sys.exc_info())  # must not raise
    restore = log_setup.install_excepthook(area.notify)
    try:
        assert sys.excepthook is not sys.__excepthook__
    finally:
        restore()
