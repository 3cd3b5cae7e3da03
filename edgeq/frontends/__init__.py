"""Frontends: Brevitas models and QONNX files into the IR."""

from .brevitas import compare, import_brevitas
from .qonnx import MULTIPLIER_BITS, UnsupportedModelError, import_qonnx

__all__ = ["MULTIPLIER_BITS", "UnsupportedModelError", "compare", "import_brevitas",
           "import_qonnx"]
