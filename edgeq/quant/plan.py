"""The quantization plan: every tensor's integer type and scale, every layer's integer weights
and bias, chosen from calibration data. The IR, the fake-quant model and the integer
simulation are all built from one plan, so they quantize identically."""

from dataclasses import dataclass, field

import numpy as np
import torch

from ..numerics import IntType
from .calibration import activation_scale, as_scale, quantize_weight, weight_scales
from .lower import COMPUTE, FloatOp, LoweredModel

INT32 = (1 << 31) - 1
RELU6_TOP = 6.0


class PTQError(ValueError):
    """A model or setting PTQ cannot quantize: the message names the layer and the value."""


@dataclass
class TensorQuant:
    bits: int
    signed: bool
    scale: float

    @property
    def dtype(self) -> IntType:
        return IntType(self.bits, self.signed)

    @property
    def lo(self) -> int:
        return self.dtype.lo

    @property
    def hi(self) -> int:
        return self.dtype.hi


@dataclass
class LayerQuant:
    """Integer weights in PyTorch layout, one scale per output channel, int32 bias at the
    accumulator scale ``s_in * s_w``."""

    weight: np.ndarray
    scale: np.ndarray
    bits: int
    bias: np.ndarray | None


@dataclass
class WeightOverride:
    """Weights a PTQ tool (GPTQ, bias correction) chose: integers and scales, and the float bias
    to quantize at the accumulator scale. ``None`` fields keep the default choice."""

    weight: np.ndarray | None = None
    scale: np.ndarray | None = None
    bias: np.ndarray | None = None


@dataclass
class QuantPlan:
    tensors: dict[str, TensorQuant] = field(default_factory=dict)
    layers: dict[str, LayerQuant] = field(default_factory=dict)
    multiplier_bits: int = 16


@dataclass
class Settings:
    weight_bits: int | dict = 8
    act_bits: int | dict = 8
    input_bits: int = 8
    output_bits: int = 16
    method: str = "mse"
    percentile: float = 99.99
    weight_method: str = "mse"
    multiplier_bits: int = 16
    output_margin: float = 1.5
    input_scale: float | None = None  # fixed input scale (e.g. 1/4096 for 12-bit ADC codes)
    input_signed: bool | None = None  # None: signed when the calibration data has negatives

    def bits(self, table, op: FloatOp, what: str) -> int:
        bits = table.get(op.name) if isinstance(table, dict) else table
        if bits is None:
            raise PTQError(f"{op.source}: no {what} bit width given for '{op.name}'")
        if not 2 <= int(bits) <= 16:
            raise PTQError(f"{op.source}: {what} bits {bits} are outside 2..16")
        return int(bits)


def collect(lowered: LoweredModel, calib: torch.Tensor, names, batch: int = 512) -> dict:
    """Float values of the named ops on the calibration batch, as numpy arrays."""
    out = {n: [] for n in names}
    with torch.no_grad():
        for i in range(0, len(calib), batch):
            values = lowered.forward_all(calib[i:i + batch])
            for n in names:
                out[n].append(values[n].numpy())
    return {n: np.concatenate(v) for n, v in out.items()}


def quantize_bias(op: FloatOp, bias, s_in: float, s_w: np.ndarray) -> np.ndarray | None:
    if bias is None:
        return None
    acc_scale = np.float64(s_in) * s_w
    q = np.rint(np.asarray(bias, np.float64) / acc_scale)
    worst = int(np.argmax(np.abs(q)))
    if abs(q[worst]) > INT32:
        raise PTQError(f"{op.source}: bias {bias[worst]:.4g} of channel {worst} is "
                       f"{q[worst]:.3g} at the accumulator scale {acc_scale[worst]:.3g}: beyond "
                       "int32; the weights or input scale are too small for this bias")
    return q.astype(np.int64)


def make_plan(lowered: LoweredModel, calib: torch.Tensor, s: Settings,
              overrides: dict[str, WeightOverride] | None = None) -> QuantPlan:
    overrides = overrides or {}
    ops = lowered.ops
    calibrated = {op.name for op in ops if op.kind in ("input", "add") + COMPUTE}
    calibrated.add(lowered.output.name)
    values = collect(lowered, calib, calibrated)
    plan = QuantPlan(multiplier_bits=s.multiplier_bits)
    for op in ops:
        if op.kind == "input":
            v = values[op.name]
            signed = bool(v.min() < 0) if s.input_signed is None else s.input_signed
            scale = (float(as_scale(s.input_scale)) if s.input_scale is not None else
                     activation_scale(v, s.input_bits, signed, s.method, s.percentile))
            plan.tensors[op.name] = TensorQuant(s.input_bits, signed, scale)
            continue
        tin = plan.tensors[op.inputs[0]]
        if op.kind in ("maxpool", "flatten"):
            plan.tensors[op.name] = tin
            continue
        if op.kind in ("avgpool", "gap") and op is not lowered.output:
            plan.tensors[op.name] = TensorQuant(tin.bits, not op.nonnegative, tin.scale)
            continue
        if op.kind in COMPUTE:
            plan.layers[op.name] = _layer(op, lowered.layers[op.name], tin, s,
                                          overrides.get(op.name))
        plan.tensors[op.name] = _output(op, op is lowered.output, values.get(op.name), s)
    return plan


def _layer(op: FloatOp, module, tin: TensorQuant, s: Settings,
           override: WeightOverride | None) -> LayerQuant:
    bits = s.bits(s.weight_bits, op, "weight")
    w = module.weight.detach().double().numpy()
    bias = None if module.bias is None else module.bias.detach().double().numpy()
    override = override or WeightOverride()
    if override.weight is not None:
        wq, scale = np.asarray(override.weight, np.int64), as_scale(override.scale)
    else:
        scale = weight_scales(w, bits, s.weight_method)
        wq = quantize_weight(w, scale, bits)
    if override.bias is not None:
        bias = np.asarray(override.bias, np.float64)
    return LayerQuant(wq, scale, bits, quantize_bias(op, bias, tin.scale, scale))


def _output(op: FloatOp, is_output: bool, v: np.ndarray, s: Settings) -> TensorQuant:
    signed = not op.nonnegative
    ceiling = RELU6_TOP if op.act == "relu6" else None
    if is_output:
        bits = s.output_bits
        top = float(np.max(np.abs(v))) * s.output_margin if v.size else 1.0
        top = min(top, ceiling or top) or 1.0
        scale = float(as_scale(top / ((1 << (bits - 1 if signed else bits)) - 1)))
        return TensorQuant(bits, signed, scale)
    bits = s.bits(s.act_bits, op, "activation")
    return TensorQuant(bits, signed, activation_scale(v, bits, signed, s.method, s.percentile,
                                                      ceiling))
