"""The model list at start-up: the zoo's names come from a saved list (torchvision unchanged) or are
listed when the list is first opened, searched or used, so opening the app never waits for torchvision."""

import json

import pytest

from core.models import zoo
from core.models.zoo import cached_zoo_names, zoo_names


def test_zoo_names_are_saved_for_the_next_start(monkeypatch, tmp_path):
    monkeypatch.setattr(zoo, "_zoo_list_file", lambda: tmp_path / "zoo_names.json")
    assert cached_zoo_names() is None  # nothing saved yet
    names = zoo_names.__wrapped__()  # the listing itself, past the in-process cache
    assert cached_zoo_names() == names and "resnet18" in names
    saved = json.loads((tmp_path / "zoo_names.json").read_text())
    saved["torchvision"] = "0.0.0-another"
    (tmp_path / "zoo_names.json").write_text(json.dumps(saved))
    assert cached_zoo_names() is None  # another torchvision: list again
    (tmp_path / "zoo_names.json").write_text("{not json")
    assert cached_zoo_names() is None


@pytest.fixture
def browser(qtbot, monkeypatch):
    from desktop.model_browser import ModelBrowser

    calls = []

    def slow_listing():
        calls.append(1)
        return ("resnet18", "vgg11")

    monkeypatch.setattr("core.models.cached_zoo_names", lambda: None)
    monkeypatch.setattr("core.models.zoo_names", slow_listing)
    widget = ModelBrowser()
    qtbot.addWidget(widget)
    widget.calls = calls
    return widget


def names(browser):
    return [browser.model.itemText(i) for i in range(browser.model.count())]


def test_loaded_model_is_named_without_listing_the_zoo(browser):
    browser.show_loaded("demo", "bundled", False)
    assert browser.calls == [] and not browser.zoo_listed
    assert "demo" in names(browser) and "resnet18" not in names(browser)
    assert browser.model.currentText() == "demo"
    browser.show_loaded("alexnet", "torchvision", True)  # a zoo model named before the zoo is listed
    assert browser.model.currentText() == "alexnet"


def test_opening_the_list_completes_it(browser):
    browser.show_loaded("demo", "bundled", False)
    browser.model.showPopup()
    assert browser.zoo_listed and "vgg11" in names(browser) and browser.model.currentText() == "demo"
    browser.model.hidePopup()
    browser.model.showPopup()  # listed once
    assert browser.calls == [1]
    browser.model.hidePopup()


def test_searching_lists_the_zoo(browser):
    browser.show_loaded("demo", "bundled", False)
    browser.search_models("vgg")
    assert browser.calls == [1] and "vgg11" in names(browser)
