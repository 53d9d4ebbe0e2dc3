"""Human-trust studies of explanations: blind, randomised, counterbalanced comparisons of methods
or models, run by people and analysed with statistics (after the human studies of Selvaraju et
al. 2017, Grad-CAM §5.1-5.2, and Chattopadhay et al. 2018, Grad-CAM++ §6).

``design`` plans the trials, ``stimuli`` chooses images and renders maps, ``package`` writes a
study package (trials.csv, study.json, PNGs, texts), ``player`` its self-contained HTML player,
``responses`` records a participant's answers one at a time (crash-safe, resumable), ``analysis`` /
``stats`` / ``plot`` turn responses into figures. No Qt here.
"""

from .analysis import analyze, read_responses
from .design import PROTOCOLS, TRIAL_COLUMNS, plan, read_trials
from .package import StudyDesign, prepare_package
from .player import write_player

__all__ = ["PROTOCOLS", "TRIAL_COLUMNS", "StudyDesign", "analyze", "plan", "prepare_package", "read_responses",
           "read_trials", "write_player"]
