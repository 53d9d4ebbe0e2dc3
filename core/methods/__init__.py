"""Attribution methods. Importing this package registers every method family."""

from . import cam, gradients, maximize, perturbation  # noqa: F401  (registers)
from .registry import (COST_CLASSES, OUTPUT_KINDS, REGISTRY, MethodContext, MethodOutput, MethodSpec, Param,
                       estimate_seconds, format_seconds, get_method)

__all__ = ["COST_CLASSES", "OUTPUT_KINDS", "REGISTRY", "MethodContext", "MethodOutput", "MethodSpec", "Param",
           "estimate_seconds", "format_seconds", "get_method"]
