"""The self-contained HTML player of a study package (``PKG/player.html``).

Plain HTML + JavaScript, no server and no network: it embeds the blinded trial list (image and
stimulus files relative to the package, the two class names offered for discrimination, the
class explained for preference; never the condition, the method, the model or the correct
answer of a real trial) and the package's texts. The participant enters an ID, agrees to the
consent text, reads the instructions, does the practice trials (with feedback for
discrimination), then answers with the keyboard (← / → for discrimination; 1-5 for preference,
stored as −2..2) or by clicking. Progress shows "12 / 40"; P pauses. Every answer is saved in
the browser's localStorage at once; reopening the page with the same ID resumes at the next
unanswered trial. The answers download as the responses CSV ``participant,trial,choice,rt_ms``
(``rt_ms``: from the moment every image of the trial was shown to the answer; a pause restarts
the clock).

The procedure follows the human studies of Selvaraju et al. 2017 (Grad-CAM §5.1-5.2) and
Chattopadhay et al. 2018 (Grad-CAM++ §6).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from .design import read_trials
from .texts import read_texts

SCALE = ("left much more reasonable", "left somewhat more", "about the same",
         "right somewhat more", "right much more reasonable")


def player_data(pkg: str | Path) -> dict:
    """What the player embeds, from the package's trials.csv, study.json and texts."""
    pkg = Path(pkg)
    manifest = json.loads((pkg / "study.json").read_text(encoding="utf-8"))
    protocol = manifest["protocol"]
    explains = manifest.get("explains", {})
    trials = []
    for t in read_trials(pkg / "trials.csv"):
        entry = {"trial": t["trial"], "image": t["image"], "stimuli": [t["stimulus_left"], t["stimulus_right"]]}
        if protocol == "discrimination":
            entry.update(left=t["left"], right=t["right"])
        else:
            entry["explains"] = explains.get(t["image"], "")
        trials.append(entry)
    practice = []
    for p in manifest.get("practice", []):
        entry = {"image": p["image"], "stimuli": [p["stimulus_left"], p["stimulus_right"]]}
        if protocol == "discrimination":
            entry.update(left=p["left"], right=p["right"], correct=p["correct"])
        else:
            entry["explains"] = p.get("explains", "")
        practice.append(entry)
    digest = hashlib.sha256((pkg / "trials.csv").read_bytes()).hexdigest()[:16]
    return {"id": digest, "protocol": protocol, "trials": trials, "practice": practice,
            "texts": read_texts(pkg, protocol), "scale": list(SCALE)}


def _embed(data: dict) -> str:
    text = json.dumps(data, ensure_ascii=True, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def write_player(pkg: str | Path) -> Path:
    """(Re)write ``PKG/player.html`` from the package's files."""
    pkg = Path(pkg)
    html = _TEMPLATE.replace("/*STUDY*/null", _embed(player_data(pkg)))
    path = pkg / "player.html"
    path.write_text(html, encoding="utf-8")
    return path


_TEMPLATE = r"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Study</title>
<style>
  html, body { margin: 0; height: 100%; background: #202124; color: #eee; font: 18px/1.45 system-ui, sans-serif; }
  .screen { display: none; box-sizing: border-box; min-height: 100%; padding: 24px; flex-direction: column;
            align-items: center; justify-content: center; gap: 16px; }
  .text { max-width: 46em; white-space: pre-wrap; }
  button { font: inherit; padding: 8px 18px; border-radius: 6px; border: 1px solid #888; background: #3c4043; color: #eee; cursor: pointer; }
  button:hover { background: #5f6368; }
  input { font: inherit; padding: 6px 10px; }
  #bar { position: fixed; top: 0; left: 0; right: 0; display: flex; justify-content: space-between; padding: 8px 16px; }
  #pictures { display: flex; flex-wrap: wrap; gap: 20px; justify-content: center; align-items: flex-start; }
  #pictures img { width: min(36vw, 420px); image-rendering: pixelated; border-radius: 4px; }
  #answers { display: flex; gap: 12px; flex-wrap: wrap; justify-content: center; }
  #feedback { min-height: 1.5em; font-weight: bold; }
  .note { color: #aaa; font-size: 15px; }
</style>
</head>
<body>
<div id="screen-id" class="screen">
  <div class="text">Please enter your participant ID.</div>
  <input id="pid" autocomplete="off" maxlength="64">
  <button id="start-btn">Start</button>
  <div id="id-note" class="note"></div>
</div>
<div id="screen-consent" class="screen">
  <div id="consent-text" class="text"></div>
  <div><button id="agree-btn">I agree</button> <button id="decline-btn">I do not agree</button></div>
</div>
<div id="screen-text" class="screen">
  <div id="info-text" class="text"></div>
  <button id="continue-btn">Continue</button>
</div>
<div id="screen-trial" class="screen">
  <div id="bar"><span id="progress"></span><span><button id="fullscreen-btn">Full screen</button> <button id="pause-btn">Pause (P)</button></span></div>
  <div id="question" class="text"></div>
  <div id="pictures"><img id="img-main" alt=""><img id="img-left" alt=""><img id="img-right" alt=""></div>
  <div id="answers">
    <button id="ans-left"></button><button id="ans-right"></button>
    <button id="ans-1"></button><button id="ans-2"></button><button id="ans-3"></button><button id="ans-4"></button><button id="ans-5"></button>
  </div>
  <div id="feedback"></div>
  <button id="next-btn">Next</button>
  <div id="trial-note" class="note"></div>
</div>
<div id="screen-pause" class="screen">
  <div id="pause-text" class="text"></div>
  <div><button id="resume-btn">Continue</button> <button id="download-pause-btn">Download answers so far</button></div>
</div>
<div id="screen-end" class="screen">
  <div id="end-text" class="text"></div>
  <button id="download-btn">Download answers</button>
</div>
<script>
"use strict";
var STUDY = /*STUDY*/null;
var SCREENS = ["screen-id", "screen-consent", "screen-text", "screen-trial", "screen-pause", "screen-end"];
var S = {pid: "", state: null, mode: "", index: 0, ready: false, shownAt: 0, answered: false, after: null};
function $(id) { return document.getElementById(id); }
function show(id) { SCREENS.forEach(function (s) { $(s).style.display = s === id ? "flex" : "none"; }); S.screen = id; }
function key(pid) { return "study-player:" + STUDY.id + ":" + pid; }
var memory = {};
function store(k, v) { try { window.localStorage.setItem(k, v); } catch (e) { memory[k] = v; $("trial-note").textContent = "Your browser does not keep answers: download them before closing this page."; } }
function fetchStored(k) { try { var v = window.localStorage.getItem(k); return v === null ? (memory[k] || null) : v; } catch (e) { return memory[k] || null; } }
function save() { store(key(S.pid), JSON.stringify(S.state)); }
function answeredSet() { var d = {}; S.state.answers.forEach(function (a) { d[a.trial] = true; }); return d; }
function nextUnanswered() { var d = answeredSet(); for (var i = 0; i < STUDY.trials.length; i++) { if (!d[STUDY.trials[i].trial]) return i; } return -1; }
function info(text, after) { $("info-text").textContent = text; S.after = after; show("screen-text"); }

function start() {
  var pid = $("pid").value.trim();
  if (!pid) { $("id-note").textContent = "Please enter an ID."; return; }
  S.pid = pid;
  var stored = fetchStored(key(pid));
  S.state = stored ? JSON.parse(stored) : {participant: pid, consent: false, practiced: false, answers: []};
  if (!S.state.consent) { $("consent-text").textContent = STUDY.texts.consent; show("screen-consent"); return; }
  if (!S.state.practiced) { instructions(); return; }
  var next = nextUnanswered();
  if (next < 0) { finish(); return; }
  info("Welcome back. You continue at question " + (next + 1) + " / " + STUDY.trials.length + ".\n\n" + STUDY.texts.instructions, runTrials);
}
function instructions() { info(STUDY.texts.instructions, practice); }
function practice() {
  if (!STUDY.practice.length) { S.state.practiced = true; save(); runTrials(); return; }
  info(STUDY.texts.practice, function () { S.mode = "practice"; S.index = 0; showTrial(); });
}
function runTrials() {
  S.mode = "trials"; S.index = nextUnanswered();
  if (S.index < 0) { finish(); return; }
  showTrial();
}
function current() { return S.mode === "practice" ? STUDY.practice[S.index] : STUDY.trials[S.index]; }

function showTrial() {
  var t = current(), disc = STUDY.protocol === "discrimination";
  S.ready = false; S.answered = false;
  $("feedback").textContent = ""; $("next-btn").style.display = "none";
  $("progress").textContent = S.mode === "practice" ? "Practice " + (S.index + 1) + " / " + STUDY.practice.length
                                                  : (S.index + 1) + " / " + STUDY.trials.length;
  $("question").textContent = disc ? "Which of the two does the highlighting point at?"
                                   : "Which highlighting of the " + t.explains + " seems more reasonable?";
  ["left", "right"].forEach(function (side) { $("ans-" + side).style.display = disc ? "inline-block" : "none"; });
  $("ans-left").textContent = disc ? "\u2190 " + t.left : "";
  $("ans-right").textContent = disc ? t.right + " \u2192" : "";
  for (var k = 1; k <= 5; k++) { $("ans-" + k).style.display = disc ? "none" : "inline-block"; $("ans-" + k).textContent = k + ": " + STUDY.scale[k - 1]; }
  var files = [t.image, t.stimuli[0]].concat(disc ? [] : [t.stimuli[1]]);
  var ids = ["img-main", "img-left"].concat(disc ? [] : ["img-right"]);
  $("img-right").style.display = disc ? "none" : "inline-block";
  var pending = files.length;
  show("screen-trial");
  ids.forEach(function (id, i) {
    var img = $(id), done = false;
    function loaded() { if (done) return; done = true; pending -= 1; if (pending === 0) { S.ready = true; S.shownAt = performance.now(); } }
    img.onload = loaded;
    img.onerror = function () { $("trial-note").textContent = "Missing picture: " + files[i] + " (keep player.html inside the study folder)."; };
    img.src = files[i];
    if (img.complete && img.naturalWidth > 0) loaded();   // already shown (same file as before): no new load event
  });
}

function answer(choice) {
  if (!S.ready || S.answered || S.screen !== "screen-trial") return;
  var rt = Math.round(performance.now() - S.shownAt), t = current();
  S.answered = true;
  if (S.mode === "practice") {
    if (STUDY.protocol === "discrimination") {
      var right = choice === t.correct, named = t.correct === "left" ? t.left : t.right;
      $("feedback").textContent = right ? "Right." : "Not quite: it highlighted the " + named + ".";
      $("next-btn").style.display = "inline-block";
      return;
    }
    nextPractice(); return;
  }
  S.state.answers.push({trial: t.trial, choice: choice, rt_ms: rt});
  save();
  runTrials();
}
function nextPractice() {
  S.index += 1;
  if (S.index < STUDY.practice.length) { showTrial(); return; }
  S.state.practiced = true; save();
  info(STUDY.texts.start, runTrials);
}
function pause() { if (S.screen !== "screen-trial") return; $("pause-text").textContent = STUDY.texts.pause; show("screen-pause"); }
function resume() { if (S.screen === "screen-pause") showTrial(); }
function finish() { $("end-text").textContent = STUDY.texts.end; show("screen-end"); download(); }

function cell(v) { v = String(v); return /[",\r\n]/.test(v) ? '"' + v.replace(/"/g, '""') + '"' : v; }
function csv() {
  var lines = ["participant,trial,choice,rt_ms"];
  S.state.answers.forEach(function (a) { lines.push([cell(S.pid), a.trial, a.choice, a.rt_ms].join(",")); });
  return lines.join("\n") + "\n";
}
function download() {
  if (!S.state) return;
  var a = document.createElement("a");
  a.href = URL.createObjectURL(new Blob([csv()], {type: "text/csv"}));
  a.download = "responses_" + S.pid.replace(/[^A-Za-z0-9_.-]/g, "_") + ".csv";
  document.body.appendChild(a); a.click(); document.body.removeChild(a);
}

function onKey(e) {
  if (e.repeat) return;
  var handled = true;
  if (S.screen === "screen-id" && e.key === "Enter") start();
  else if (S.screen === "screen-text" && e.key === "Enter") S.after();
  else if (S.screen === "screen-pause" && (e.key === " " || e.key === "Enter")) resume();
  else if (S.screen !== "screen-trial") handled = false;
  else if (e.key === "p" || e.key === "P") pause();
  else if (S.answered && S.mode === "practice" && (e.key === "Enter" || e.key === " ")) nextPractice();
  else if (STUDY.protocol === "discrimination" && (e.key === "ArrowLeft" || e.key === "ArrowRight")) answer(e.key === "ArrowLeft" ? "left" : "right");
  else if (STUDY.protocol === "preference" && ["1", "2", "3", "4", "5"].indexOf(e.key) >= 0) answer(Number(e.key) - 3);
  else handled = e.key === "Enter" || e.key === " ";   // never let a focused button answer twice
  if (handled && e.preventDefault) e.preventDefault();
}

function init() {
  $("start-btn").addEventListener("click", start);
  $("agree-btn").addEventListener("click", function () { S.state.consent = true; save(); instructions(); });
  $("decline-btn").addEventListener("click", function () { S.state = null; info("Thank you. You may close this page.", function () {}); $("continue-btn").style.display = "none"; });
  $("continue-btn").addEventListener("click", function () { S.after(); });
  $("ans-left").addEventListener("click", function () { answer("left"); });
  $("ans-right").addEventListener("click", function () { answer("right"); });
  [1, 2, 3, 4, 5].forEach(function (k) { $("ans-" + k).addEventListener("click", function () { answer(k - 3); }); });
  $("next-btn").addEventListener("click", nextPractice);
  $("pause-btn").addEventListener("click", pause);
  $("resume-btn").addEventListener("click", resume);
  $("download-btn").addEventListener("click", download);
  $("download-pause-btn").addEventListener("click", download);
  $("fullscreen-btn").addEventListener("click", function () { var el = document.documentElement; if (el.requestFullscreen) el.requestFullscreen(); });
  document.addEventListener("keydown", onKey);
  show("screen-id");
}
window.studyPlayer = {state: function () { return S; }, csv: csv};
init();
</script>
</body>
</html>
"""
