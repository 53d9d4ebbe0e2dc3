"""``saliency-studio distill``: train a small student from a teacher with cross-entropy,
knowledge distillation (Hinton et al. 2015) and the interpretability loss of Grad-CAM++ §7
(Chattopadhay et al. 2018); writes the student's state dict and model card (``core.distill``)."""

from __future__ import annotations

import signal
import sys
import threading
import time
from pathlib import Path

from ..distill.loss import TERMS
from ..distill.maps import METHODS, NORMS
from ..distill.students import PRESETS
from .common import UsageError


def register(sub) -> dict:
    from ..distill.trainer import DistillConfig

    d = DistillConfig()  # the defaults live in one place
    p = sub.add_parser("distill", help="train a small student from a teacher: CE + KD + interpretability loss",
                       description="Knowledge distillation with an interpretability loss (Grad-CAM++ §7): "
                                   "L = CE + α·T²·KL(teacher/T ‖ student/T) + β·‖ĉ_s − ĉ_t‖².")
    p.add_argument("--teacher", default=d.teacher, help="teacher model: demo, demo-biased, a model file "
                   "or a torchvision name (default %(default)s)")
    p.add_argument("--teacher-layer", default=None, help="teacher's map layer (default: its last spatial block)")
    p.add_argument("--student", default=d.student, help=f"{', '.join(PRESETS)} or a torchvision name "
                   "(random init) (default %(default)s)")
    p.add_argument("--student-widths", default=None, metavar="W0,W1,...",
                   help="ShapesNet student channel widths (default: the preset's)")
    p.add_argument("--student-depth", type=int, default=None, help="convs per ShapesNet stage (default: the preset's)")
    p.add_argument("--student-layer", default=None, help="student's map layer (default: its last spatial block)")
    p.add_argument("--losses", default=",".join(d.losses), help=f"comma-separated terms of {', '.join(TERMS)} "
                   "(default %(default)s)")
    p.add_argument("--alpha", type=float, default=d.alpha, help="weight α of the KD term (default %(default)s)")
    p.add_argument("--beta", type=float, default=d.beta,
                   help="weight β of the interpretability term (default %(default)s: at the start β·interp is "
                        "about the size of the KD term on the demo teacher)")
    p.add_argument("--temperature", type=float, default=d.temperature, help="KD temperature T (default %(default)s)")
    p.add_argument("--map-method", default=d.map_method, choices=METHODS,
                   help="explanation map of the interpretability term (default %(default)s, as in the paper)")
    p.add_argument("--map-class", default=d.map_class, choices=("true", "teacher"),
                   help="class whose maps are compared: the true label or the teacher's prediction "
                        "(default %(default)s)")
    p.add_argument("--map-norm", default=d.map_norm, choices=NORMS,
                   help="scaling of each map before the squared distance (default %(default)s: unit L2 norm)")
    p.add_argument("--epochs", type=int, default=d.epochs, help="epochs (default %(default)s)")
    p.add_argument("--images-per-epoch", type=int, default=d.images_per_epoch,
                   help="images per epoch (default %(default)s)")
    p.add_argument("--batch-size", type=int, default=d.batch_size, help="batch size (default %(default)s)")
    p.add_argument("--lr", type=float, default=d.lr, help="peak AdamW learning rate, one-cycle (default %(default)s)")
    p.add_argument("--seed", type=int, default=d.seed, help="seed of the student's init and the data (default %(default)s)")
    p.add_argument("--image-size", type=int, default=None, help="student input side (default: the teacher's)")
    p.add_argument("--data", default=None, metavar="DIR",
                   help="ImageFolder (DIR/<class>/<image>) instead of the shapes generator (the default)")
    p.add_argument("--eval-images", type=int, default=d.eval_images,
                   help="fresh images for the final accuracy and map agreement (default %(default)s)")
    p.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1 or mps")
    p.add_argument("--threads", type=int, default=None, help="CPU threads for torch (default: torch's choice)")
    p.add_argument("--out", required=True, help="student weights to write (.pt); the card goes to <stem>.json, "
                   "the checkpoint to <stem>.ckpt")
    p.add_argument("--resume", action="store_true", help="continue from <out stem>.ckpt (same settings)")
    return {"distill": _cmd_distill}


def _config(args):
    from ..distill.trainer import DistillConfig

    losses = tuple(t.strip() for t in args.losses.split(",") if t.strip())
    widths = None
    if args.student_widths:
        try:
            widths = tuple(int(w) for w in args.student_widths.split(","))
        except ValueError:
            raise UsageError(f"--student-widths expects comma-separated integers, got {args.student_widths!r}") from None
    try:
        return DistillConfig(teacher=args.teacher, student=args.student, student_widths=widths,
                             student_depth=args.student_depth, teacher_layer=args.teacher_layer,
                             student_layer=args.student_layer, losses=losses, alpha=args.alpha, beta=args.beta,
                             temperature=args.temperature, map_method=args.map_method, map_class=args.map_class,
                             map_norm=args.map_norm, epochs=args.epochs, images_per_epoch=args.images_per_epoch,
                             batch_size=args.batch_size, lr=args.lr, seed=args.seed, image_size=args.image_size,
                             data=args.data, eval_images=args.eval_images)
    except ValueError as exc:
        raise UsageError(str(exc)) from None


class _CtrlC:
    """First Ctrl-C: cancel at the next step (the trainer saves a checkpoint); second: stop now."""

    def __init__(self, progress):
        self.progress, self.previous = progress, None

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            self.previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def _handle(self, signum, frame):
        if self.progress.cancelled:
            raise KeyboardInterrupt
        print("\nstopping after this step and saving a checkpoint (Ctrl-C again to stop at once)",
              file=sys.stderr, flush=True)
        self.progress.cancel()

    def __exit__(self, *exc):
        if self.previous is not None:
            signal.signal(signal.SIGINT, self.previous)
        return False


def _cmd_distill(args) -> int:
    import torch

    from ..distill.export import save_student
    from ..distill.trainer import Distiller, checkpoint_path, resume
    from ..jobs import Cancelled, Progress
    from ..models import load_model

    config = _config(args)
    if args.threads:
        torch.set_num_threads(max(1, args.threads))
    out = Path(args.out)
    ckpt = checkpoint_path(out)
    teacher = load_model(config.teacher, device=args.device)
    if args.resume:
        distiller = resume(ckpt, teacher, config, device=args.device)
        print(f"resuming from {ckpt}: epoch {distiller.epoch + 1}, step {distiller.step}")
    else:
        distiller = Distiller(config, teacher, device=args.device)
    d, cfg = distiller, config
    terms = "+".join(t for t in TERMS if cfg.loss_config().uses(t))
    print(f"teacher {cfg.teacher} (layer {d.teacher_layer}) → student {cfg.student} (layer {d.student_layer}, "
          f"{sum(p.numel() for p in d.student.parameters()):,} parameters, {d.preprocess.crop[0]} px)")
    print(f"losses {terms}: α {cfg.alpha}, β {cfg.beta}, T {cfg.temperature}, maps {cfg.map_method} of the "
          f"{cfg.map_class} class; {cfg.epochs} epochs × {cfg.steps_per_epoch} steps of {cfg.batch_size}; "
          f"data: {d.data.describe()}", flush=True)

    started = time.perf_counter()
    every = max(1, cfg.steps_per_epoch // 4)

    def report(done, total, message):
        if done % every == 0 and done % cfg.steps_per_epoch:
            print(f"  step {done}/{total}: {message} ({time.perf_counter() - started:.0f} s)", flush=True)

    def on_epoch(entry):
        terms = " ".join(f"{k} {entry[k]:.4f}" for k in TERMS if k in entry)
        print(f"epoch {entry['epoch']}/{cfg.epochs}: {terms} total {entry['total']:.4f}, train accuracy "
              f"{entry['train_accuracy']:.3f} ({time.perf_counter() - started:.0f} s); checkpoint {ckpt}", flush=True)

    progress = Progress(callback=report)
    try:
        with _CtrlC(progress):
            distiller.train(progress, checkpoint=ckpt, on_epoch=on_epoch)
    except Cancelled:
        print(f"cancelled at epoch {distiller.epoch + 1}, step {distiller.step}: checkpoint saved to {ckpt}; "
              "continue with the same command and --resume", file=sys.stderr)
        return 130
    print(f"evaluating on {cfg.eval_images} fresh images ...", flush=True)
    evaluation = distiller.evaluate()
    weights, card = save_student(distiller, out, evaluation)
    line = (f"accuracy {evaluation['accuracy']:.3f} (teacher {evaluation['teacher_accuracy']:.3f}); "
            f"{cfg.map_method} agreement with the teacher: Pearson {evaluation['cam_pearson']:.3f}")
    if "pointing_game_student" in evaluation:
        line += (f"; pointing game {evaluation['pointing_game_student']:.3f} "
                 f"(teacher {evaluation['pointing_game_teacher']:.3f})")
    print(line)
    print(f"wrote {weights} and {card}; explain it with: saliency-studio explain --model {weights} --image IMAGE "
          "--method gradcam")
    return 0
