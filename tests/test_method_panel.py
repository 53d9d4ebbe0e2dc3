"""The method panel builds itself from the registry schema (issue 13, item 4): plain sentence,
basic parameters first, advanced ones folded, irrelevant ones hidden, a scrolling form."""

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QScrollArea

from core.methods import REGISTRY, MethodOutput, MethodSpec, Param
from desktop.method_panel import MethodPanel


@pytest.fixture
def panel(qtbot):
    p = MethodPanel()
    qtbot.addWidget(p)
    p.show()
    qtbot.waitExposed(p)
    return p


def test_every_registered_method_is_offered(panel):
    names = [panel.method.itemData(i) for i in range(panel.method.count())]
    assert [n for n in names if n] == sorted(REGISTRY, key=names.index)
    assert set(names) - {None} == set(REGISTRY)


def test_description_visible_and_formula_in_tooltip(panel):
    panel.select("gradcam")
    spec = REGISTRY["gradcam"]
    assert panel.description.text() == spec.description
    assert panel.description.isVisible()
    assert spec.citation in panel.description.toolTip() and spec.summary in panel.description.toolTip()
    assert panel.spec() is spec and panel.current() == "gradcam"


def test_advanced_folded_by_default(panel, qtbot):
    panel.select("integrated_gradients")
    assert panel.widgets["steps"].isVisible() and panel.widgets["baseline"].isVisible()
    assert not panel.advanced_box.isVisible()
    assert not panel.widgets["quadrature"].isVisible() and not panel.widgets["batch_size"].isVisible()
    qtbot.mouseClick(panel.advanced_toggle, Qt.LeftButton)
    assert panel.advanced_box.isVisible() and panel.widgets["quadrature"].isVisible()
    assert panel.is_shown("quadrature")


def test_irrelevant_parameter_hidden_and_updated_live(panel):
    panel.select("integrated_gradients")
    assert not panel.widgets["blur_sigma"].isVisible() and not panel.is_shown("blur_sigma")
    panel.widgets["baseline"].setCurrentText("blur")
    assert panel.widgets["blur_sigma"].isVisible() and panel.is_shown("blur_sigma")
    panel.widgets["baseline"].setCurrentText("zeros")
    assert not panel.widgets["blur_sigma"].isVisible()


def test_smoothgrad_options_follow_the_base(panel):
    panel.select("smoothgrad")
    panel.set_advanced_open(True)
    assert panel.widgets["abs"].isVisible() and not panel.widgets["relu_scope"].isVisible()
    panel.set_params({"base": "guided_backprop"})
    assert not panel.widgets["abs"].isVisible() and panel.widgets["relu_scope"].isVisible()


def test_params_include_hidden_and_folded_defaults(panel):
    panel.select("integrated_gradients")
    assert panel.params() == REGISTRY["integrated_gradients"].resolve()
    panel.set_params({"steps": 20})
    assert panel.params() == REGISTRY["integrated_gradients"].resolve({"steps": 20})


def test_tooltips_hold_the_help(panel):
    panel.select("occlusion")
    assert panel.widgets["window"].toolTip() == REGISTRY["occlusion"].param("window").help


def test_long_form_scrolls_and_stays_bounded(panel, qtbot):
    panel.select("activation_maximization")
    panel.set_advanced_open(True)
    qtbot.wait(10)
    assert isinstance(panel.scroll, QScrollArea)
    form = panel.scroll.widget()
    assert all(form.isAncestorOf(w) for w in panel.widgets.values())
    assert panel.sizeHint().height() < 700
    assert panel.scroll.sizeHint().height() <= form.sizeHint().height()


def test_params_changed_after_an_edit(panel, qtbot):
    panel.select("rise")
    with qtbot.waitSignal(panel.params_changed, timeout=2000) as blocker:
        panel.widgets["masks"].setValue(100)
    assert blocker.args == ["rise", REGISTRY["rise"].resolve({"masks": 100})]


def test_run_requested_and_method_changed(panel, qtbot):
    with qtbot.waitSignal(panel.method_changed, timeout=1000) as changed:
        panel.select("layercam")
    assert changed.args == ["layercam"]
    with qtbot.waitSignal(panel.run_requested, timeout=1000) as run:
        qtbot.mouseClick(panel.run_button, Qt.LeftButton)
    assert run.args == ["layercam", REGISTRY["layercam"].resolve()]


def test_status_estimates_slow_methods(panel):
    panel.select("gradcam")
    assert panel.estimate_text() == "" and not panel.status.isVisible()
    panel.select("rise")
    assert panel.status.text() == "not computed — Run (takes minutes)"
    panel.set_timing(0.01)
    assert panel.status.text() == "not computed — Run (≈ 40 s)"
    panel.set_params({"masks": 1000})
    assert panel.status.text() == "not computed — Run (≈ 10 s)"


def test_a_new_family_needs_no_gui_change(qtbot, monkeypatch):
    spec = MethodSpec("toy_new", "Toy new method", "novel", "Nobody 2025", "f(x)",
                      (Param("depth", "int", 3, "how deep", min=1, max=9, label="Depth"),
                       Param("mode", "choice", "a", "which mode", choices=("a", "b"), advanced=True),
                       Param("extra", "float", 1.0, "only for b", advanced=True, relevant_when={"mode": "b"})),
                      lambda ctx, **kw: MethodOutput(map=None), description="A toy method.", cost="instant")
    monkeypatch.setitem(REGISTRY, "toy_new", spec)
    p = MethodPanel()
    qtbot.addWidget(p)
    p.show()
    p.select("toy_new")
    assert p.current() == "toy_new" and p.description.text() == "A toy method."
    assert p.params() == {"depth": 3, "mode": "a", "extra": 1.0}
    assert p.advanced_toggle.text() == "Advanced (2)" and not p.is_shown("extra")


def test_a_very_long_form_does_not_grow_the_panel(qtbot, monkeypatch):
    params = tuple(Param(f"p{i}", "int", i, f"parameter {i}") for i in range(40))
    spec = MethodSpec("toy_long", "Toy long form", "novel", "Nobody 2025", "f(x)", params,
                      lambda ctx, **kw: MethodOutput(map=None), description="A long toy form.")
    monkeypatch.setitem(REGISTRY, "toy_long", spec)
    p = MethodPanel()
    qtbot.addWidget(p)
    p.show()
    p.select("toy_long")
    qtbot.wait(10)
    assert p.scroll.widget().sizeHint().height() > 900  # the form itself is long …
    assert p.sizeHint().height() < 700  # … the panel asks for a bounded height and scrolls


def test_set_params_is_not_a_user_edit(panel, qtbot):
    panel.select("smoothgrad")
    with qtbot.assertNotEmitted(panel.params_changed, wait=500):
        panel.set_params({"samples": 12, "base": "deconvnet"})
    assert panel.params()["samples"] == 12 and panel.is_shown("relu_scope") is False  # folded
    with pytest.raises(ValueError):
        panel.set_params({"no_such": 1})
    with pytest.raises(ValueError):
        panel.select("no_such_method")
