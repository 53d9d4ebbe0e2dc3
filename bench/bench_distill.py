"""Learning from explanations (Chattopadhay et al. 2018, Grad-CAM++ §7): does the
interpretability loss help a distilled student here?

Three students — CE only; CE + KD (Hinton et al. 2015); CE + KD + interp (β·‖ĉ_s − ĉ_t‖² on
Grad-CAM++ maps of the true class) — trained from the bundled demo teacher with the same number
of optimisation steps on the same fresh shapes images, over the same 3 seeds (the seed fixes the
student's init and the image stream). The teacher's outputs for every batch are computed once per
seed and shared by the runs that need them (timed separately). Reported on 300 fresh images: top-1
accuracy, agreement of the student's Grad-CAM++ maps with the teacher's (Pearson, per image at the
student's input resolution) and the pointing game against the ground-truth masks (15 px in the
128 px rendered image, and strictly on the object). Settings were fixed before the first run;
nothing was tuned on the outcome.

    .venv/bin/python bench/bench_distill.py [--append] [--quick]

``--append`` adds the table to bench/RESULTS.md; ``--quick`` is a smoke run (a few steps, one seed);
``--render`` re-renders the table from bench/results/distill.json.
One torch thread: on the shared 2-core machine it is several times faster for these small networks.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import RESULTS, machine  # noqa: E402
from core.distill.trainer import DistillConfig, Distiller  # noqa: E402
from core.models import load_model  # noqa: E402

STUDENT, IMAGE_SIZE, BATCH, STEPS, SEEDS, EVAL_IMAGES = "shapesnet-small", 64, 32, 250, (0, 1, 2), 300
ALPHA, BETA, TEMPERATURE, LR = 1.0, 10.0, 4.0, 3e-3     # the CLI defaults
CONDITIONS = {"CE": ("ce",), "CE + KD": ("ce", "kd"), "CE + KD + interp": ("ce", "kd", "interp")}
METRICS = (("accuracy", "accuracy"), ("cam_pearson", "Pearson with teacher"),
           ("pointing_game_student", "pointing game (15 px)"), ("pointing_game_student_in_mask", "pointing, on object"))


def config(losses, seed: int, steps: int, eval_images: int) -> DistillConfig:
    return DistillConfig(teacher="demo", student=STUDENT, losses=losses, alpha=ALPHA, beta=BETA,
                         temperature=TEMPERATURE, epochs=1, images_per_epoch=steps * BATCH, batch_size=BATCH,
                         lr=LR, seed=seed, image_size=IMAGE_SIZE, eval_images=eval_images)


def mean_sd(values: list[float]) -> str:
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.mean(values):.3f} ± {sd:.3f}"


def verdict(runs: dict, key: str) -> tuple[str, list[float]]:
    """Paired per-seed differences (interp − KD): 'higher' / 'lower' when every seed agrees."""
    diffs = [b[key] - a[key] for a, b in zip(runs["CE + KD"], runs["CE + KD + interp"])]
    if all(d > 0 for d in diffs):
        return "higher on every seed", diffs
    if all(d < 0 for d in diffs):
        return "lower on every seed", diffs
    return "no consistent change", diffs


def run(steps: int, seeds, eval_images: int) -> dict:
    """Train the three students over ``seeds``; per-run evaluations and the timings."""
    teacher = load_model("demo")
    eval_cache: dict = {}
    runs = {name: [] for name in CONDITIONS}
    teacher_seconds, teacher_eval, parameters = [], None, 0
    started = time.perf_counter()
    for seed in seeds:
        cache: dict = {}
        t0 = time.perf_counter()
        Distiller(config(CONDITIONS["CE + KD + interp"], seed, steps, eval_images), teacher,
                  teacher_cache=cache).precompute_teacher()
        teacher_seconds.append(time.perf_counter() - t0)
        for name, losses in CONDITIONS.items():
            d = Distiller(config(losses, seed, steps, eval_images), teacher, teacher_cache=cache)
            t0 = time.perf_counter()
            d.train()
            seconds = time.perf_counter() - t0
            ev = d.evaluate(teacher_cache=eval_cache)
            teacher_eval, parameters = ev, sum(p.numel() for p in d.student.parameters())
            runs[name].append({**ev, "seed": seed, "train_seconds": seconds, "last_epoch": d.history[-1]})
            print(f"seed {seed} {name:17s} accuracy {ev['accuracy']:.3f} Pearson {ev['cam_pearson']:.3f} "
                  f"pointing {ev['pointing_game_student']:.3f} / {ev['pointing_game_student_in_mask']:.3f} "
                  f"({seconds:.0f} s)", flush=True)
    return {"runs": runs, "steps": steps, "seeds": list(seeds), "eval_images": eval_images,
            "student_parameters": parameters, "teacher": {k: v for k, v in teacher_eval.items() if "teacher" in k},
            "teacher_seconds_per_seed": statistics.mean(teacher_seconds),
            "total_minutes": (time.perf_counter() - started) / 60, "machine": machine()}


def render(data: dict) -> str:
    """The Markdown section: settings, the plain conclusion, the table."""
    runs, seeds, teacher = data["runs"], data["seeds"], data["teacher"]
    header = ["student (same steps, seeds " + ", ".join(map(str, seeds)) + ")"] + [m for _, m in METRICS] + [
        "accuracy per seed", "train s / run"]
    rows = []
    for name, results in runs.items():
        rows.append([name] + [mean_sd([r[k] for r in results]) for k, _ in METRICS]
                    + [", ".join(f"{r['accuracy']:.3f}" for r in results),
                       f"{statistics.mean(r['train_seconds'] for r in results):.0f}"])
    rows.append(["teacher (demo, 128 px)", f"{teacher['teacher_accuracy']:.3f}", "—",
                 f"{teacher['pointing_game_teacher']:.3f}", f"{teacher['pointing_game_teacher_in_mask']:.3f}",
                 "—", "—"])
    acc_word, acc_diffs = verdict(runs, "accuracy")
    corr_word, corr_diffs = verdict(runs, "cam_pearson")
    point_word, point_diffs = verdict(runs, "pointing_game_student")

    def listed(diffs):
        return ", ".join(f"{d:+.3f}" for d in diffs)

    means = {name: statistics.mean(r["accuracy"] for r in results) for name, results in runs.items()}
    best = max(means.values())
    p = statistics.mean(means.values())
    se = (p * (1 - p) / data["eval_images"]) ** 0.5
    regime = (f" An accuracy on {data['eval_images']} images has a standard error of about ±{se:.3f}, so a per-seed "
              f"difference below about {2 * se:.2f} is within noise.")
    if best < teacher["teacher_accuracy"] - 0.2:
        regime += (f" All three students are still far below the teacher ({best:.2f} at best vs "
                   f"{teacher['teacher_accuracy']:.2f}) after {data['steps']} steps: this is the short-budget regime, "
                   "and it says nothing about training to convergence.")
    conclusion = (
        f"**Did the interpretability loss help here?** {'Yes' if acc_word.startswith('higher') else 'No'} for "
        f"accuracy, by the rule fixed in advance (higher than CE + KD on every seed): interp − KD per seed "
        f"{listed(acc_diffs)}; means {', '.join(f'{k} {v:.3f}' for k, v in means.items())}. Map agreement with the teacher is {corr_word} ({listed(corr_diffs)}); the pointing "
        f"game is {point_word} ({listed(point_diffs)}).{regime}")
    notes = (f"Teacher `demo` (128 px, layer `features`), student `{STUDENT}` ({data['student_parameters']:,} "
             f"parameters, {IMAGE_SIZE} px, layer `features`); {data['steps']} AdamW steps of {BATCH} fresh images "
             f"(one-cycle, peak lr {LR}); α {ALPHA}, T {TEMPERATURE}, β {BETA} (Grad-CAM++ maps of the true class, "
             f"unit-L2 normalised, squared distance); mean ± standard deviation over seeds, {data['eval_images']} "
             f"fresh evaluation images (seed 1000000). The teacher's outputs took "
             f"{data['teacher_seconds_per_seed']:.0f} s per seed, computed once and shared; whole bench "
             f"{data['total_minutes']:.1f} min, one torch thread. `bench/bench_distill.py`; raw numbers in "
             f"`bench/results/distill.json`.\n\n{conclusion}")
    title = "Learning from explanations: distillation with an interpretability loss (Grad-CAM++ §7, cpu)"
    lines = [f"# {title}", "", f"Machine: {data['machine']}", "", notes, "",
             "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--append", action="store_true", help="append the table to bench/RESULTS.md")
    parser.add_argument("--quick", action="store_true", help="smoke run: 4 steps, one seed, 30 images")
    parser.add_argument("--render", action="store_true", help="only re-render bench/results/distill.json")
    args = parser.parse_args()
    torch.set_num_threads(1)
    raw = RESULTS / "distill.json"
    if args.render:
        data = json.loads(raw.read_text())
    elif args.quick:
        data = run(4, SEEDS[:1], 30)
    else:
        data = run(STEPS, SEEDS, EVAL_IMAGES)
    text = render(data)
    print(text)
    if args.quick:
        return
    RESULTS.mkdir(exist_ok=True)
    if not args.render:
        raw.write_text(json.dumps(data, indent=1) + "\n")
    (RESULTS / "distill.md").write_text(text)
    if args.append:
        results_md = RESULTS.parent / "RESULTS.md"
        with results_md.open("a", encoding="utf-8") as f:
            f.write("\n\n" + text.replace("# ", "## ", 1))
        print(f"appended to {results_md}")


if __name__ == "__main__":
    main()
