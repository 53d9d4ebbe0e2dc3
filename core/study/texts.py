"""Default participant-facing texts of a study package (``PKG/texts/*.txt``; edit them and run
``saliency-studio study player PKG`` to rebuild the player). They name no method and no model,
so participants stay blind to the conditions."""

from __future__ import annotations

from pathlib import Path

TEXT_NAMES = ("consent", "instructions", "practice", "start", "pause", "end")

_COMMON = {
    "consent": (
        "You are invited to take part in a short study about how people read highlighted images.\n\n"
        "Taking part is voluntary: you may stop at any time, and you may close this page and come back "
        "later to continue where you stopped. We record only your answers, the time each answer took, "
        "and the participant ID you enter; nothing else about you or your computer.\n\n"
        "Press \"I agree\" to continue, or close this page if you do not wish to take part."),
    "start": "The practice is over. The study starts now; there is no feedback from here on.",
    "pause": "Paused. Take your time. Press Continue (or the space bar) when you are ready.",
    "end": ("Thank you, you have answered every question.\n\n"
            "Press \"Download answers\" and send the file to the person running the study."),
}

_PROTOCOL = {
    "discrimination": {
        "instructions": (
            "Each screen shows a picture and, next to it, the same picture with some parts highlighted "
            "in colour (brighter colours: more highlighted). The highlighting points at the evidence for "
            "ONE of two things in the picture.\n\n"
            "Decide which of the two it highlights: press the LEFT arrow key (←) for the name on the "
            "left, the RIGHT arrow key (→) for the name on the right, or click the name.\n\n"
            "Answer as well as you can, without spending too long on any one picture. Press P or the "
            "Pause button to take a break."),
        "practice": "First, a few practice pictures. After each one you will see whether you were right.",
    },
    "preference": {
        "instructions": (
            "Each screen shows a picture at the top and, below it, two versions of that picture with "
            "some parts highlighted in colour. Each highlighting is meant to show which parts of the "
            "picture a computer relied on to recognise the object named above the pictures.\n\n"
            "Which highlighting seems more reasonable to you? Answer with the keys 1 to 5 or click:\n"
            "1 = left much more reasonable, 2 = left somewhat more, 3 = about the same, "
            "4 = right somewhat more, 5 = right much more reasonable.\n\n"
            "There are no right or wrong answers. Press P or the Pause button to take a break."),
        "practice": "First, a few practice pictures to get used to the keys.",
    },
}


def default_texts(protocol: str) -> dict[str, str]:
    return {**_COMMON, **_PROTOCOL[protocol]}


def write_texts(folder: Path, protocol: str) -> dict[str, str]:
    """Write ``texts/<name>.txt``; returns ``{name: relative path}``."""
    (folder / "texts").mkdir(parents=True, exist_ok=True)
    out = {}
    for name, text in default_texts(protocol).items():
        (folder / "texts" / f"{name}.txt").write_text(text + "\n", encoding="utf-8")
        out[name] = f"texts/{name}.txt"
    return out


def read_texts(folder: Path, protocol: str) -> dict[str, str]:
    """The package's texts; a missing file falls back to the default."""
    texts = default_texts(protocol)
    for name in TEXT_NAMES:
        path = folder / "texts" / f"{name}.txt"
        if path.is_file():
            texts[name] = path.read_text(encoding="utf-8").strip()
    return texts
