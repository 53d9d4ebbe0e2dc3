"""Learning from explanations: knowledge distillation with an interpretability loss.

Chattopadhay et al. 2018 (Grad-CAM++, §7) train a student from a teacher with
L = CE + α·T²·KL(teacher/T ‖ student/T) (Hinton et al. 2015) + β·‖ĉ_s − ĉ_t‖², ĉ the
Grad-CAM++ map of the class. Modules, one job each:

* ``students``: the students (a ShapesNet of chosen width/depth, or any torchvision classifier)
  as architecture dicts that a model card stores and ``core.models.load_model`` rebuilds.
* ``maps``: batched CAM / Grad-CAM / Grad-CAM++ maps, differentiable for the student.
* ``loss``: the three terms and their weights.
* ``data``: fresh shapes images per (seed, epoch, step), or an ImageFolder.
* ``trainer``: the loop, checkpoints every epoch and on cancel, resume.
* ``evaluate``: accuracy, map agreement with the teacher (Pearson), pointing game.
* ``export``: ``student.pt`` (state dict) + ``student.json`` (model card).
* ``run``: one run from start or checkpoint to a saved student with per-epoch held-out figures
  (the app's Distill workspace), and the teacher's and student's maps of one image side by side.
"""

from .loss import LossConfig, distill_loss, interp_loss, kd_loss
from .students import PRESETS, StudentNet, build_student, student_architecture
from .trainer import DistillConfig, Distiller, checkpoint_path, read_checkpoint, resume

__all__ = ["LossConfig", "distill_loss", "interp_loss", "kd_loss", "PRESETS", "StudentNet", "build_student",
           "student_architecture", "DistillConfig", "Distiller", "checkpoint_path", "read_checkpoint", "resume"]
