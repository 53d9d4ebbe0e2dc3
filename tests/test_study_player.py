"""The self-contained HTML player of a study package (core.study.player).

Without a browser: the page embeds the blinded trial list and references only files of the
package. With Node.js (no packages needed): the page's own script runs against a minimal DOM
written here, and a participant goes through ID, consent, instructions, practice, answers with
the keyboard, pauses, closes the page mid-study, reopens it, resumes at the next unanswered trial
and downloads the responses CSV — one row per trial. With a headless Chromium (not downloaded
here): the page loads and shows the ID screen.
"""

import csv
import io
import json
import re
import shutil
import subprocess

import pytest
import torch

from core.study.package import StudyDesign, prepare_package
from core.study.player import player_data

NODE = shutil.which("node") or shutil.which("nodejs")
CHROMIUM = next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome",
                                           "google-chrome-stable") if shutil.which(n)), None)

# A minimal DOM for the player's script: elements by id (only ids present in the page; anything
# else is null, so a typo fails), images that "load" when their file exists in the package,
# localStorage kept across reloads, Blob downloads captured, a clock advancing 450 ms per action.
HARNESS = r"""
const fs = require("fs"), path = require("path"), vm = require("vm");
const [pkg, actionsFile] = process.argv.slice(2);
const html = fs.readFileSync(path.join(pkg, "player.html"), "utf8");
const code = html.match(/<script>([\s\S]*?)<\/script>/)[1];
const ids = new Set([...html.matchAll(/id="([^"]+)"/g)].map(m => m[1]));
const storage = {}, downloads = [], errors = [], snaps = [], blobs = {};
let clock = 1000, queue = [], ctx = null, keyHandlers = [];
function El(id) { this.id = id; this.style = {}; this.textContent = ""; this.value = ""; this.listeners = {}; this._src = ""; }
El.prototype.addEventListener = function (t, f) { (this.listeners[t] = this.listeners[t] || []).push(f); };
El.prototype.click = function () {
  (this.listeners.click || []).forEach(f => f({}));
  if (this.download) downloads.push({name: this.download, text: blobs[this.href]});
};
Object.defineProperty(El.prototype, "src", {
  get() { return this._src; },
  set(v) {
    this._src = v; const ok = fs.existsSync(path.join(pkg, v)); const el = this;
    if (!ok) errors.push("missing " + v);
    queue.push(() => ok ? el.onload && el.onload() : el.onerror && el.onerror());
  }});
function boot() {
  const els = {}; keyHandlers = [];
  const document = {
    getElementById: id => ids.has(id) ? (els[id] = els[id] || new El(id)) : null,
    createElement: tag => new El(""), body: {appendChild() {}, removeChild() {}},
    documentElement: {requestFullscreen() {}},
    addEventListener: (t, f) => { if (t === "keydown") keyHandlers.push(f); },
  };
  let n = 0;
  const sandbox = {
    document, console, performance: {now: () => clock},
    Blob: function (parts) { this.text = parts.join(""); },
    URL: {createObjectURL: b => { const u = "blob:" + (++n); blobs[u] = b.text; return u; }},
    window: {localStorage: {getItem: k => k in storage ? storage[k] : null, setItem: (k, v) => { storage[k] = String(v); }}},
  };
  sandbox.window.document = document;
  ctx = vm.createContext(sandbox);
  vm.runInContext(code, ctx);
  return els;
}
let els = boot();
function flush() { while (queue.length) queue.shift()(); }
for (const [what, a, b] of JSON.parse(fs.readFileSync(actionsFile, "utf8"))) {
  clock += 450;
  if (what === "reload") { els = boot(); }
  else if (what === "type") { document_el(a).value = b; }
  else if (what === "click") { document_el(a).click(); }
  else if (what === "key") { keyHandlers.forEach(f => f({key: a, repeat: false, preventDefault() {}})); }
  flush();
  const S = ctx.window.studyPlayer.state();
  const get = id => (els[id] || {}).textContent || "";
  snaps.push({action: [what, a || ""], screen: S.screen, progress: get("progress"), feedback: get("feedback"),
              info: get("info-text"), left: get("ans-left"), right: get("ans-right"), ready: S.ready});
}
function document_el(id) { const el = ctx.document.getElementById(id); if (!el) throw new Error("no element " + id); return el; }
process.stdout.write(JSON.stringify({snaps, downloads, errors, storage}));
"""


@pytest.fixture(scope="module")
def package(tmp_path_factory):
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        out = tmp_path_factory.mktemp("player") / "pkg"
        prepare_package(StudyDesign("discrimination", ["demo"], ["gradcam"], ["demo-pairs"], trials=4, seed=9,
                                    attention=1, practice=2), out)
    finally:
        torch.set_num_threads(before)
    return out


def _trials(pkg):
    with (pkg / "trials.csv").open(newline="") as f:
        return list(csv.DictReader(f))


def test_player_embeds_blinded_trials(package):
    html = (package / "player.html").read_text()
    data = player_data(package)
    assert len(data["trials"]) == 5 and len(data["practice"]) == 2
    m = re.search(r"var STUDY = (\{.*?\});\n", html)
    embedded = json.loads(m.group(1))
    assert embedded == json.loads(json.dumps(data))
    trials = _trials(package)
    for entry, row in zip(embedded["trials"], trials):
        assert entry["trial"] == int(row["trial"]) and entry["left"] == row["left"]
        assert set(entry) == {"trial", "image", "stimuli", "left", "right"}   # no condition, no answer
    assert "gradcam" not in html and "correct" not in json.dumps(embedded["trials"])
    assert not re.search(r"(?i)https?:|//cdn|<link|src=\"[^\"]", html)   # nothing fetched but package files
    for f in re.findall(r"(?:images|stimuli)/[0-9a-f]{12}\.png", html):
        assert (package / f).is_file()


def _drive(pkg, actions, tmp_path) -> dict:
    """Run the page's script under Node with ``actions``; its snapshots and downloads."""
    (tmp_path / "actions.json").write_text(json.dumps(actions))
    (tmp_path / "harness.js").write_text(HARNESS)
    run = subprocess.run([NODE, str(tmp_path / "harness.js"), str(pkg), str(tmp_path / "actions.json")],
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    out = json.loads(run.stdout)
    assert out["errors"] == []
    return out


def _choice(row, policy_correct: bool) -> str:
    return row["correct"] if policy_correct else ("right" if row["correct"] == "left" else "left")


@pytest.mark.skipif(NODE is None, reason="Node.js is not installed: the player's script cannot be run without a browser")
def test_player_session_resume_and_download(package, tmp_path):
    trials = _trials(package)
    practice = json.loads((package / "study.json").read_text())["practice"]
    arrow = {"left": "ArrowLeft", "right": "ArrowRight"}
    actions = [["type", "pid", "P1, \"x\""], ["click", "start-btn"], ["click", "agree-btn"],
               ["key", "Enter"],                                  # instructions -> practice text
               ["key", "Enter"],                                  # practice text -> practice 1
               ["key", arrow[practice[0]["correct"]]], ["key", "Enter"],
               ["key", arrow["right" if practice[1]["correct"] == "left" else "left"]], ["click", "next-btn"],
               ["key", "Enter"]]                                  # start text -> trial 1
    expected = []
    for row in trials[:2]:
        choice = _choice(row, int(row["trial"]) % 2 == 1)
        actions.append(["key", arrow[choice]])
        expected.append(choice)
    actions += [["key", "p"], ["key", "ArrowLeft"], ["key", " "]]   # paused: the arrow is ignored
    row = trials[2]
    actions.append(["key", arrow[_choice(row, True)]])
    expected.append(_choice(row, True))
    actions += [["reload"], ["type", "pid", "P1, \"x\""], ["click", "start-btn"], ["key", "Enter"]]
    for row in trials[3:]:
        actions.append(["key", arrow[row["correct"]]])
        expected.append(row["correct"])
    out = _drive(package, actions, tmp_path)
    snaps = out["snaps"]
    screens = [s["screen"] for s in snaps]
    assert screens[1] == "screen-consent" and screens[2] == "screen-text"
    assert snaps[4]["screen"] == "screen-trial" and snaps[4]["progress"] == "Practice 1 / 2"
    assert snaps[5]["feedback"] == "Right." and snaps[7]["feedback"].startswith("Not quite")
    assert snaps[9]["progress"] == "1 / 5" and snaps[9]["left"].startswith("\u2190 " + trials[0]["left"])
    assert snaps[11]["progress"] == "3 / 5"
    assert snaps[12]["screen"] == "screen-pause" and snaps[13]["screen"] == "screen-pause"
    assert snaps[14]["screen"] == "screen-trial" and snaps[14]["progress"] == "3 / 5"
    resumed = next(i for i, s in enumerate(snaps) if s["action"][0] == "reload")
    assert "continue at question 4 / 5" in snaps[resumed + 2]["info"]
    assert snaps[resumed + 3]["progress"] == "4 / 5"
    assert screens[-1] == "screen-end"
    assert out["downloads"], "finishing offers the responses file"
    download = out["downloads"][-1]
    assert download["name"] == "responses_P1___x_.csv"
    rows = list(csv.DictReader(io.StringIO(download["text"])))
    assert download["text"].splitlines()[0] == "participant,trial,choice,rt_ms"
    assert [int(r["trial"]) for r in rows] == [int(t["trial"]) for t in trials]   # one row per trial
    assert [r["choice"] for r in rows] == expected
    assert all(r["participant"] == "P1, \"x\"" and float(r["rt_ms"]) > 0 for r in rows)


@pytest.mark.skipif(NODE is None, reason="Node.js is not installed: the player's script cannot be run without a browser")
def test_player_preference_keys(tmp_path):
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        pkg = tmp_path / "pref"
        prepare_package(StudyDesign("preference", ["demo"], ["gradcam", "saliency"], ["demo-shapes"], trials=3,
                                    seed=1, practice=1), pkg)
    finally:
        torch.set_num_threads(before)
    keys = ["1", "5", "3"]
    actions = [["type", "pid", "p2"], ["click", "start-btn"], ["click", "agree-btn"], ["key", "Enter"],
               ["key", "Enter"], ["key", "4"],                  # practice: no feedback, straight on
               ["key", "Enter"], ["key", "ArrowLeft"]]          # an arrow answers nothing here
    actions += [["key", k] for k in keys]
    out = _drive(pkg, actions, tmp_path)
    snaps = out["snaps"]
    assert snaps[4]["progress"] == "Practice 1 / 1" and snaps[5]["screen"] == "screen-text"
    assert snaps[7]["progress"] == "1 / 3" and snaps[8]["progress"] == "2 / 3"
    assert snaps[-1]["screen"] == "screen-end"
    rows = list(csv.DictReader(io.StringIO(out["downloads"][-1]["text"])))
    assert [r["choice"] for r in rows] == ["-2", "2", "0"] and [r["trial"] for r in rows] == ["1", "2", "3"]


@pytest.mark.skipif(CHROMIUM is None, reason="no headless Chromium on this machine (chromium, chromium-browser, "
                                             "google-chrome); the Node.js test drives the player's script instead")
def test_player_in_headless_chromium(package):
    run = subprocess.run([CHROMIUM, "--headless", "--disable-gpu", "--no-sandbox", "--allow-file-access-from-files",
                          "--dump-dom", (package / "player.html").as_uri()], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    assert re.search(r'id="screen-id"[^>]*style="display: flex;?"', run.stdout), run.stdout[:2000]
