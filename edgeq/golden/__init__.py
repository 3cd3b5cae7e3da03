"""The golden reference: bit-exact execution of the IR in numpy."""

from .compare import Difference, first_difference, first_layer_difference
from .interpreter import GoldenError, PreparedGraph, matmul_exact, prepare, run, run_node
from .quantize import dequantize, quantize_input
from .stimulus import random_inputs, random_values

__all__ = ["Difference", "GoldenError", "PreparedGraph", "dequantize", "first_difference",
           "first_layer_difference", "matmul_exact", "prepare", "quantize_input",
           "random_inputs", "random_values", "run", "run_node"]
