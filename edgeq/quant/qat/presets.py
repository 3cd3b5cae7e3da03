"""Brevitas quantizers for the formats edgeq imports exactly.

``intN`` (N = 2..16): symmetric integers, weights narrow-range, per tensor or per output
channel; signed or unsigned activations; bias at the accumulator scale. ``eXmY`` (any
exponent/mantissa widths, optional ``bB`` bias, ``_fn``/``_ieee`` OCP special codes):
minifloat weights and activations, saturating, subnormals on.

``scaling="pow2"`` restricts every scale to a power of two, so the IR requantizes with exact
shifts and the import is bit-exact; ``scaling="float"`` learns float scales, which the IR turns
into dyadic multipliers.
"""

from dataclasses import dataclass
from functools import cache

from ...numerics import IntType, MinifloatType, parse_element_type

SCALINGS = ("pow2", "float")
INT_BITS = range(2, 17)


def parse_format(text: str):
    """``int8`` -> IntType(8); ``e4m3``, ``e5m2_ieee``, ``e4m3b8`` -> MinifloatType."""
    fmt = parse_element_type(text)
    if isinstance(fmt, IntType):
        if not fmt.signed:
            raise ValueError(f"format {text!r}: name the width (int4, int8); the sign of an "
                             "activation follows the layer (unsigned after ReLU)")
        if fmt.bits not in INT_BITS:
            raise ValueError(f"format {text!r}: integer widths 2..16 are supported")
    elif not fmt.signed:
        raise ValueError(f"format {text!r}: minifloat quantizers are signed (QONNX FloatQuant)")
    return fmt


def _check_scaling(scaling):
    if scaling not in SCALINGS:
        raise ValueError(f"scaling {scaling!r} is not one of {SCALINGS}")


def _pow2():
    from brevitas.core.function_wrapper import CeilSte
    from brevitas.inject.enum import RestrictValueType

    return {"restrict_scaling_type": RestrictValueType.POWER_OF_TWO,
                "restrict_value_float_to_int_impl": CeilSte}


def _minifloat_codes(fmt: MinifloatType) -> dict:
    """Brevitas' NaN/inf mantissa codes for the IR's special-value conventions."""
    M = fmt.mantissa_bits
    if fmt.special == "none":
        return {"nan_values": None, "inf_values": None}
    if fmt.special == "fn":  # top mantissa code of the top exponent is NaN
        return {"nan_values": ("1" * M,), "inf_values": None}
    if M == 0:
        raise ValueError(f"{fmt.name}: IEEE-style specials need at least one mantissa bit")
    codes = [format(i, f"0{M}b") for i in range(1 << M)]
    return {"inf_values": (codes[0],), "nan_values": tuple(codes[1:])}


def _minifloat(base, fmt: MinifloatType, scaling: str, name: str):
    attrs = dict(bit_width=fmt.bits, exponent_bit_width=fmt.exponent_bits,
                 mantissa_bit_width=fmt.mantissa_bits, exponent_bias=fmt.bias,
                 **_minifloat_codes(fmt))
    if scaling == "pow2":
        attrs.update(_pow2())
    return type(name, (base,), attrs)


def weight_quant(fmt="int8", per_channel: bool = False, scaling: str = "pow2"):
    """A Brevitas weight quantizer (an injector class) for ``fmt``."""
    _check_scaling(scaling)
    fmt = parse_format(fmt) if isinstance(fmt, str) else fmt
    tag = f"{fmt.name}_{'channel' if per_channel else 'tensor'}_{scaling}"
    if isinstance(fmt, MinifloatType):
        from brevitas.quant.float_quant_ocp import (
            FpOCPWeightPerChannelFloat,
            FpOCPWeightPerTensorFloat,
        )

        base = FpOCPWeightPerChannelFloat if per_channel else FpOCPWeightPerTensorFloat
        return _minifloat(base, fmt, scaling, f"Weight_{tag}")
    if scaling == "pow2":
        from brevitas.quant.fixed_point import Int8WeightPerChannelFixedPoint as PerChannel
        from brevitas.quant.fixed_point import Int8WeightPerTensorFixedPoint as PerTensor
    else:
        from brevitas.quant import Int8WeightPerChannelFloat as PerChannel
        from brevitas.quant import Int8WeightPerTensorFloat as PerTensor
    return type(f"Weight_{tag}", (PerChannel if per_channel else PerTensor,),
                {"bit_width": fmt.bits})


def act_quant(fmt="int8", signed: bool = True, scaling: str = "pow2"):
    """A Brevitas activation quantizer; ``signed=False`` for outputs of a ReLU.

    Scales start from runtime statistics (the first training or calibration batches) and are
    then learned.
    """
    _check_scaling(scaling)
    fmt = parse_format(fmt) if isinstance(fmt, str) else fmt
    tag = f"{fmt.name}_{'s' if signed else 'u'}_{scaling}"
    if isinstance(fmt, MinifloatType):
        from brevitas.quant.float_quant_ocp import FpOCPActPerTensorFloat

        return _minifloat(FpOCPActPerTensorFloat, fmt, scaling, f"Act_{tag}")
    if scaling == "pow2":
        from brevitas.quant import Int8ActPerTensorFixedPoint as Signed
        from brevitas.quant import Uint8ActPerTensorFixedPoint as Unsigned
    else:
        from brevitas.quant import Int8ActPerTensorFloat as Signed
        from brevitas.quant import Uint8ActPerTensorFloat as Unsigned
    return type(f"Act_{tag}", (Signed if signed else Unsigned,), {"bit_width": fmt.bits})


@cache
def accumulator_bias_proxy():
    """Brevitas' bias proxy, taught that a minifloat layer's accumulator counts grid units:
    its scale is ``s_x * s_w * 2**(grid_x + grid_w)``, so the bias integers are exactly the
    IR's accumulator integers."""
    import torch
    from brevitas.proxy import BiasQuantProxyFromInjector
    from brevitas.quant_tensor import FloatQuantTensor
    from brevitas.utils.torch_utils import compute_channel_view_shape

    def unit(t):
        return t.scale * 2.0 ** (1 - t.exponent_bias - t.mantissa_bit_width)

    class AccumulatorBiasProxy(BiasQuantProxyFromInjector):
        def compute_bias_scale(self, input, weight):
            if isinstance(input, FloatQuantTensor) and isinstance(weight, FloatQuantTensor):
                module = self.tracked_module_list[0]
                dim = -1 if isinstance(module, torch.nn.Linear) else 1
                view = compute_channel_view_shape(input, channel_dim=dim)
                return unit(weight).view(view) * unit(input).view(view)
            return super().compute_bias_scale(input, weight)

    return AccumulatorBiasProxy


@cache
def qonnx_manager():
    """Brevitas' QONNX export manager, also exporting the accumulator bias proxy (Brevitas picks
    export handlers by exact proxy class)."""
    from brevitas.export.onnx.qonnx.handler import BrevitasBiasQuantProxyHandler
    from brevitas.export.onnx.qonnx.manager import QONNXManager

    handler = type("AccumulatorBiasHandler", (BrevitasBiasQuantProxyHandler,),
                   {"handled_layer": accumulator_bias_proxy()})
    return type("EdgeqQONNXManager", (QONNXManager,),
                {"handlers": QONNXManager.handlers + [handler]})


def bias_quant(bits: int = 32, grid_bits: int = 0):
    """Integer bias at the accumulator scale (input scale x weight scale).

    ``grid_bits > 0`` is for a minifloat layer, whose accumulator counts grid units
    ``2**grid_bits`` times finer than Brevitas' scales: the bias takes that many more bits, up
    to 62 (wide formats such as e5m2 then saturate a bias above 2**61 grid units, in Brevitas
    and in the IR alike).
    """
    from brevitas.quant.scaled_int import IntBias

    if not 8 <= bits <= 48:
        raise ValueError(f"bias width {bits} must be in 8..48")
    attrs = {"bit_width": bits}
    if grid_bits:
        attrs.update(bit_width=min(bits + grid_bits, 62), proxy_class=accumulator_bias_proxy())
    return type(f"Bias{attrs['bit_width']}{'_acc' if grid_bits else ''}", (IntBias,), attrs)


def trunc_quant(bits: int):
    """Average pooling: window sum, then round off low bits to ``bits`` (Brevitas' RoundTo8bit)."""
    from brevitas.quant.scaled_int import RoundTo8bit

    return type(f"RoundTo{bits}bit", (RoundTo8bit,), {"bit_width": bits})


@dataclass(frozen=True)
class Preset:
    """One quantization recipe: weight, activation and output formats and the scaling rule.

    ``activations`` defaults to ``weights``; ``output`` is the format of the model's last
    quantizer (None: the activation format).
    """

    weights: str = "int8"
    activations: str | None = None
    per_channel: bool = False
    scaling: str = "pow2"
    bias_bits: int = 32
    output: str | None = "int16"

    def __post_init__(self):
        _check_scaling(self.scaling)
        for f in (self.weights, self.act_format, self.output_format):
            parse_format(f)

    @property
    def act_format(self) -> str:
        return self.activations or self.weights

    @property
    def output_format(self) -> str:
        return self.output or self.act_format

    @property
    def name(self) -> str:
        w, a = self.weights, self.act_format
        base = w if w == a else f"w{w}_a{a}"
        return base + ("_pc" if self.per_channel else "") + (
            "_float" if self.scaling == "float" else "")

    @property
    def minifloat(self) -> bool:
        return isinstance(parse_format(self.weights), MinifloatType) or isinstance(
            parse_format(self.act_format), MinifloatType)

    def weight_quant(self):
        return weight_quant(self.weights, self.per_channel, self.scaling)

    def act_quant(self, signed: bool = True):
        return act_quant(self.act_format, signed, self.scaling)

    def output_quant(self):
        return act_quant(self.output_format, True, self.scaling)

    def bias_quant(self):
        units = [parse_format(f) for f in (self.weights, self.act_format)]
        grid_bits = -sum(f.grid_exponent for f in units if isinstance(f, MinifloatType))
        return bias_quant(self.bias_bits, grid_bits if self.minifloat else 0)


# the presets the examples and docs use; any other intN / eXmY name works through Preset(...)
PRESETS = {name: Preset(name) for name in ("int8", "int6", "int4", "int2", "e4m3", "e3m2",
                                           "e2m3", "e2m1", "e5m2")}


def preset(spec) -> Preset:
    """A Preset from a Preset, or from a format name (``int4``, ``e4m3``, ``e5m2_ieee``)."""
    if isinstance(spec, Preset):
        return spec
    return PRESETS.get(spec) or Preset(str(spec))
