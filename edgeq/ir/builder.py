"""Building graphs from integer weights and scales: shapes, accumulator widths and
requantization parameters are derived, never typed in by hand."""

from math import prod

import numpy as np

from ..numerics import (
    ElementType,
    MinifloatType,
    Overflow,
    Rounding,
    dyadic_multipliers,
    multiplier_from_scales,
)
from .graph import (
    Add,
    Conv,
    Dense,
    Flatten,
    GlobalAvgPool,
    Graph,
    Input,
    IRError,
    Node,
    Pool,
    Requant,
    Reshape,
    TensorType,
)
from .validate import _compute_acc_bits, output_shape

REQUANT_STYLES = ("auto", "dyadic", "fixed", "tflm")


def _power_of_two_exponents(m: np.ndarray) -> np.ndarray | None:
    """Integer ``k`` with ``m == 2**k`` for every entry, or None."""
    frac, exp = np.frexp(m)
    return exp - 1 if np.all(frac == 0.5) else None


def make_requant(m, out_dtype: ElementType, style: str = "auto", multiplier_bits: int = 16,
                 rounding=None, overflow=Overflow.SAT, relu: bool = False) -> Requant:
    """Requantization for real multipliers ``m`` (one per channel).

    ``auto`` uses the fixed-point form (``M = 1``, rounding ``HALF_EVEN`` unless named) when
    every ``m`` is a power of two, the dyadic form (``HALF_UP``) otherwise.
    """
    if style not in REQUANT_STYLES:
        raise ValueError(f"requant style {style!r} is not one of {REQUANT_STYLES}")
    m = np.atleast_1d(np.asarray(m, dtype=np.float64))
    if isinstance(out_dtype, MinifloatType):
        rounding, overflow = Rounding.HALF_EVEN, Overflow.SAT
    exponents = _power_of_two_exponents(m)
    if style == "fixed" and exponents is None:
        raise IRError(f"fixed-point requantization needs power-of-two multipliers, got {m}")
    if style in ("auto", "fixed") and exponents is not None:
        return Requant(np.ones_like(exponents), -exponents, 2,
                       rounding or Rounding.HALF_EVEN, overflow, relu)
    if style == "tflm":
        M, c = dyadic_multipliers(m, 32)
        return Requant(M, c, 32, Rounding.HALF_UP, Overflow.SAT, relu, mode="tflm")
    M, c = dyadic_multipliers(m, multiplier_bits)
    return Requant(M, c, multiplier_bits, rounding or Rounding.HALF_UP, overflow, relu)


class GraphBuilder:
    """Appends nodes in order; every method returns the new node's name."""

    def __init__(self, name: str = "model", requant: str = "auto", multiplier_bits: int = 16):
        self.name = name
        self.requant_style = requant
        self.multiplier_bits = multiplier_bits
        self.nodes: list[Node] = []
        self._types: dict[str, TensorType] = {}

    def _unique(self, base: str) -> str:
        n = sum(1 for k in self._types if k.startswith(base))
        name = base if n == 0 and base not in self._types else f"{base}{n}"
        while name in self._types:
            n += 1
            name = f"{base}{n}"
        return name

    def _append(self, node: Node) -> str:
        self.nodes.append(node)
        self._types[node.name] = node.out
        return node.name

    def type_of(self, name: str) -> TensorType:
        return self._types[name]

    def _requant(self, m, out_dtype, relu, rounding, overflow, style=None) -> Requant:
        return make_requant(m, out_dtype, style or self.requant_style, self.multiplier_bits,
                            rounding, overflow, relu)

    def input(self, shape, dtype: ElementType, scale=1.0, name: str = "input") -> str:
        return self._append(Input(name, (), TensorType(dtype, tuple(shape), scale)))

    def _compute(self, cls, x: str, weight, bias, weight_type, weight_scale, out_dtype,
                 out_scale, relu, rounding, overflow, name, requant, **geometry) -> str:
        tin = self._types[x]
        weight = np.asarray(weight, dtype=np.int64)
        bias = None if bias is None else np.asarray(bias, dtype=np.int64)
        weight_scale = np.asarray(weight_scale, dtype=np.float64)
        channels = weight.shape[0]
        if tin.scale.ndim != 0:  # one accumulator mixes input channels: one scale is needed
            raise IRError(f"{cls.op} '{name or cls.op.lower()}': input '{x}' has a per-channel "
                          "scale; a Dense or Conv input needs one scale for the tensor")
        m = np.broadcast_to(multiplier_from_scales(tin.scale, weight_scale, out_scale), (channels,))
        name = name or self._unique(cls.op.lower())
        node = cls(name, (x,), TensorType(out_dtype, (0,), out_scale), weight=weight, bias=bias,
                   weight_type=weight_type, weight_scale=weight_scale,
                   requant=self._requant(m, out_dtype, relu, rounding, overflow, requant),
                   **geometry)
        node.out.shape = tuple(output_shape(node, [tin]))
        node.acc_bits = _compute_acc_bits(node, [tin])
        return self._append(node)

    def dense(self, x: str, weight, bias, weight_type: ElementType, weight_scale, out_dtype,
              out_scale, relu=False, rounding=None, overflow=Overflow.SAT, name=None,
              requant=None) -> str:
        return self._compute(Dense, x, weight, bias, weight_type, weight_scale, out_dtype,
                             out_scale, relu, rounding, overflow, name, requant)

    def conv(self, x: str, weight, bias, weight_type: ElementType, weight_scale, out_dtype,
             out_scale, stride=None, padding=None, groups=1, relu=False, rounding=None,
             overflow=Overflow.SAT, name=None, requant=None) -> str:
        nd = np.ndim(weight) - 2
        stride = tuple(stride) if stride is not None else (1,) * nd
        padding = tuple(padding) if padding is not None else (0,) * nd
        return self._compute(Conv, x, weight, bias, weight_type, weight_scale, out_dtype,
                             out_scale, relu, rounding, overflow, name, requant,
                             stride=stride, padding=padding, groups=groups)

    def maxpool(self, x: str, kernel, stride=None, name=None) -> str:
        tin = self._types[x]
        node = Pool(name or self._unique("maxpool"), (x,), TensorType(tin.dtype, (0,), tin.scale),
                    mode="max", kernel=tuple(kernel), stride=tuple(stride or kernel))
        node.out.shape = tuple(output_shape(node, [tin]))
        return self._append(node)

    def _averaging(self, node: Node, tin: TensorType, positions: int, relu, rounding, overflow):
        m = np.broadcast_to(multiplier_from_scales(tin.scale, 1.0, node.out.scale) / positions,
                            (tin.channels,))
        node.requant = self._requant(m, node.out.dtype, relu, rounding, overflow)
        node.out.shape = tuple(output_shape(node, [tin]))
        node.acc_bits = _compute_acc_bits(node, [tin])
        return self._append(node)

    def avgpool(self, x: str, kernel, out_dtype, out_scale, stride=None, relu=False,
                rounding=None, overflow=Overflow.SAT, name=None) -> str:
        tin = self._types[x]
        node = Pool(name or self._unique("avgpool"), (x,), TensorType(out_dtype, (0,), out_scale),
                    mode="avg", kernel=tuple(kernel), stride=tuple(stride or kernel))
        return self._averaging(node, tin, prod(kernel), relu, rounding, overflow)

    def global_avgpool(self, x: str, out_dtype, out_scale, relu=False, rounding=None,
                       overflow=Overflow.SAT, name=None) -> str:
        tin = self._types[x]
        node = GlobalAvgPool(name or self._unique("gap"), (x,),
                             TensorType(out_dtype, (0,), out_scale))
        return self._averaging(node, tin, prod(tin.shape[:-1]), relu, rounding, overflow)

    def add(self, a: str, b: str, out_dtype, out_scale, relu=False, rounding=None,
            overflow=Overflow.SAT, name=None) -> str:
        ta, tb = self._types[a], self._types[b]
        C = ta.channels
        m = np.concatenate([np.broadcast_to(multiplier_from_scales(t.scale, 1.0, out_scale), (C,))
                            for t in (ta, tb)])
        pre = self._requant(m, out_dtype, relu, rounding, overflow)  # one style for both inputs
        multipliers, shifts = pre.multiplier.reshape(2, C), pre.shift.reshape(2, C)
        final = Requant(np.ones(C, np.int64), shifts.max(axis=0), pre.multiplier_bits,
                        pre.rounding, pre.overflow, relu)  # an add always rounds once
        node = Add(name or self._unique("add"), (a, b), TensorType(out_dtype, ta.shape, out_scale),
                   input_multipliers=multipliers, input_shifts=shifts,
                   requant=final)
        node.acc_bits = _compute_acc_bits(node, [ta, tb])
        return self._append(node)

    def flatten(self, x: str, name=None) -> str:
        tin = self._types[x]
        scale = tin.scale if tin.scale.ndim == 0 else np.tile(tin.scale, prod(tin.shape[:-1]))
        return self._append(Flatten(name or self._unique("flatten"), (x,),
                                    TensorType(tin.dtype, (prod(tin.shape),), scale)))

    def reshape(self, x: str, shape, name=None) -> str:
        tin = self._types[x]
        if tin.scale.ndim != 0 and tuple(shape)[-1] != tin.channels:
            raise IRError(f"Reshape '{name}': a per-channel scale needs the channel axis kept")
        return self._append(Reshape(name or self._unique("reshape"), (x,),
                                    TensorType(tin.dtype, tuple(shape), tin.scale)))

    def pop(self) -> Node:
        """Remove and return the last node (to re-add it, e.g. with a calibrated scale)."""
        node = self.nodes.pop()
        del self._types[node.name]
        return node

    def build(self, metadata: dict | None = None) -> Graph:
        return Graph(list(self.nodes), self.name, dict(metadata or {})).validate()
