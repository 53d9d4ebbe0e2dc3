"""Attribution methods. Importing this package registers every method family."""

from . import cam, gradients, maximize, perturbation  # noqa: F401  (registers)
from .registry import REGISTRY, MethodContext, MethodOutput, MethodSpec, Param, get_method

__all__ = ["REGISTRY", "MethodContext", "MethodOutput", "MethodSpec", "Param", "get_method"]
