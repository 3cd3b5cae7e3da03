"""The single definition of edgeq's arithmetic: pure numpy functions every backend mirrors."""

from .accumulator import accumulator_bounds, accumulator_width, signed_width
from .dyadic import (
    TFLM_BITS,
    dyadic_multiplier,
    dyadic_multipliers,
    multiplier_from_scales,
    requantize,
    requantize_minifloat,
    requantizer,
    tflm_requantize,
)
from .fixed import float_to_dyadic, quantize_fixed, requantize_fixed
from .minifloat import decode, encode, quantize_minifloat, representable, round_to_grid
from .rounding import AP_NAMES, Overflow, Rounding, int_range, overflow, round_shift
from .types import (
    ElementType,
    IntType,
    MinifloatType,
    element_type_from_dict,
    parse_element_type,
)

__all__ = [
    "AP_NAMES", "ElementType", "IntType", "MinifloatType", "Overflow", "Rounding", "TFLM_BITS",
    "accumulator_bounds", "accumulator_width", "decode", "dyadic_multiplier",
    "dyadic_multipliers", "element_type_from_dict", "encode", "float_to_dyadic", "int_range",
    "multiplier_from_scales", "overflow", "parse_element_type", "quantize_fixed",
    "quantize_minifloat", "representable", "requantize", "requantize_fixed", "requantize_minifloat", "requantizer",
    "round_shift",
    "round_to_grid", "signed_width", "tflm_requantize",
]
