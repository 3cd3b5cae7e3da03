"""Quantization-aware training with Brevitas, in the formats edgeq imports bit-exactly."""

from .convert import calibrate, fuse_batchnorm, layer_maps, quantize_model
from .presets import (
    PRESETS,
    Preset,
    act_quant,
    bias_quant,
    parse_format,
    preset,
    trunc_quant,
    weight_quant,
)

__all__ = ["PRESETS", "Preset", "act_quant", "bias_quant", "calibrate", "fuse_batchnorm",
           "layer_maps", "parse_format", "preset", "quantize_model", "trunc_quant",
           "weight_quant"]
