"""The typed integer graph: tensors, ops and the graph that orders them.

Layout is channels-last per sample: a vector is ``(C,)``, a 1-D signal ``(L, C)``, an image
``(H, W, C)``. The batch axis is never part of a shape. A tensor's real value is
``q * scale``; the scale is a scalar or one value per channel (last axis).
"""

from dataclasses import dataclass, field
from math import prod
from typing import ClassVar

import numpy as np

from ..numerics import ElementType, IntType, MinifloatType, Overflow, Rounding


class IRError(ValueError):
    """An inconsistent graph: the message names the op and the problem."""


@dataclass(eq=False)
class TensorType:
    dtype: ElementType
    shape: tuple[int, ...]
    scale: np.ndarray = field(default_factory=lambda: np.float64(1.0))

    def __post_init__(self):
        self.shape = tuple(int(d) for d in self.shape)
        self.scale = np.asarray(self.scale, dtype=np.float64)

    @property
    def channels(self) -> int:
        return self.shape[-1]

    def describe(self) -> str:
        dims = "x".join(str(d) for d in self.shape)
        return f"{self.dtype.name}[{dims}]"


REQUANT_MODES = ("single", "tflm")


@dataclass(eq=False)
class Requant:
    """``y = clamp(round(acc * M / 2**c), lo, hi)`` per output channel (DESIGN.md).

    ``mode="single"`` rounds once with ``rounding`` (HALF_UP for dyadic scales, the named
    fixed-point mode for power-of-two scales, where ``M == 1``); ``mode="tflm"`` is TFLite
    Micro's double rounding with a Q31 multiplier. A minifloat output rounds onto its grid,
    half to even, saturating. ``multiplier_bits`` is the hardware multiplier width B.
    """

    multiplier: np.ndarray
    shift: np.ndarray
    multiplier_bits: int
    rounding: Rounding = Rounding.HALF_UP
    overflow: Overflow = Overflow.SAT
    relu: bool = False
    mode: str = "single"

    def __post_init__(self):
        self.multiplier = np.atleast_1d(np.asarray(self.multiplier, dtype=np.int64))
        self.shift = np.atleast_1d(np.asarray(self.shift, dtype=np.int64))
        self.rounding = Rounding.parse(self.rounding)
        self.overflow = Overflow.parse(self.overflow)
        self.multiplier_bits = int(self.multiplier_bits)
        self.relu = bool(self.relu)

    @classmethod
    def power_of_two(cls, shift, channels: int, rounding=Rounding.HALF_EVEN, **kw) -> "Requant":
        """Fixed-point requantization: ``M = 1`` and a shift per channel."""
        return cls(np.ones(channels, dtype=np.int64), np.broadcast_to(shift, (channels,)),
                   2, rounding, **kw)


@dataclass(eq=False)
class Node:
    name: str
    inputs: tuple[str, ...]
    out: TensorType
    op: ClassVar[str] = "Node"

    @property
    def kind(self) -> str:
        return self.op

    def macs(self) -> int:
        return 0

    def weight_bits(self) -> int:
        return 0


@dataclass(eq=False)
class Input(Node):
    op: ClassVar[str] = "Input"


@dataclass(eq=False)
class Dense(Node):
    """``(C_in,) -> (C_out,)``; ``weight`` is ``(C_out, C_in)``, bias at the accumulator scale."""

    weight: np.ndarray = None
    bias: np.ndarray | None = None
    weight_type: ElementType = None
    weight_scale: np.ndarray = None
    acc_bits: int = 0
    requant: Requant = None
    op: ClassVar[str] = "Dense"

    def macs(self) -> int:
        return int(self.weight.size)

    def weight_bits(self) -> int:
        return int(self.weight.size) * self.weight_type.bits


@dataclass(eq=False)
class Conv(Node):
    """1-D or 2-D convolution, channels last; ``weight`` is ``(C_out, *kernel, C_in/groups)``.

    Padding is symmetric per spatial axis and pads with zeros (the zero point).
    """

    weight: np.ndarray = None
    bias: np.ndarray | None = None
    weight_type: ElementType = None
    weight_scale: np.ndarray = None
    acc_bits: int = 0
    requant: Requant = None
    stride: tuple[int, ...] = ()
    padding: tuple[int, ...] = ()
    groups: int = 1
    op: ClassVar[str] = "Conv"

    @property
    def kind(self) -> str:
        return f"Conv{len(self.kernel)}d" + ("(dw)" if self.depthwise else "")

    @property
    def kernel(self) -> tuple[int, ...]:
        return tuple(self.weight.shape[1:-1])

    @property
    def depthwise(self) -> bool:
        return self.groups > 1 and self.weight.shape[-1] == 1 and self.groups == self.out.channels

    def macs(self) -> int:
        return prod(self.out.shape) * prod(self.weight.shape[1:])

    def weight_bits(self) -> int:
        return int(self.weight.size) * self.weight_type.bits


@dataclass(eq=False)
class Pool(Node):
    """Max or average pooling over windows (no padding). Average is a window sum followed by
    requantization with ``1/k`` folded into the multiplier."""

    mode: str = "max"
    kernel: tuple[int, ...] = ()
    stride: tuple[int, ...] = ()
    acc_bits: int = 0
    requant: Requant | None = None
    op: ClassVar[str] = "Pool"

    @property
    def kind(self) -> str:
        return f"{self.mode.capitalize()}Pool{len(self.kernel)}d"


@dataclass(eq=False)
class GlobalAvgPool(Node):
    """Sum over every spatial position, then requantization with ``1/positions`` in ``M``."""

    acc_bits: int = 0
    requant: Requant = None
    op: ClassVar[str] = "GlobalAvgPool"


@dataclass(eq=False)
class Add(Node):
    """Residual add. Input ``i`` is aligned as ``x_i * M_i * 2**(c - c_i)`` with ``c = max(c_i)``,
    the two are summed in a wide integer, then ``requant`` (``M = 1``, shift ``c``) rounds once
    and clamps."""

    input_multipliers: np.ndarray = None  # (2, C)
    input_shifts: np.ndarray = None  # (2, C)
    acc_bits: int = 0
    requant: Requant = None
    op: ClassVar[str] = "Add"

    def aligned_multipliers(self) -> np.ndarray:
        """``M_i * 2**(c - c_i)``: the integer each input is multiplied by before the sum."""
        c = self.input_shifts.max(axis=0)
        return self.input_multipliers.astype(object) * (
            np.ones_like(self.input_shifts, dtype=object) << (c - self.input_shifts).astype(object))


@dataclass(eq=False)
class Flatten(Node):
    """Channels-last flatten: ``(H, W, C) -> (H*W*C,)`` in that order."""

    op: ClassVar[str] = "Flatten"


@dataclass(eq=False)
class Reshape(Node):
    op: ClassVar[str] = "Reshape"


OPS: dict[str, type[Node]] = {
    cls.op: cls for cls in (Input, Dense, Conv, Pool, GlobalAvgPool, Add, Flatten, Reshape)
}
COMPUTE_OPS = (Dense, Conv)


@dataclass(eq=False)
class Graph:
    """Nodes in topological order; the first is the Input, the last is the output."""

    nodes: list[Node]
    name: str = "model"
    metadata: dict = field(default_factory=dict)

    def __post_init__(self):
        self._by_name = {n.name: n for n in self.nodes}

    def __getitem__(self, name: str) -> Node:
        try:
            return self._by_name[name]
        except KeyError:
            raise KeyError(f"no node named {name!r} in graph {self.name!r}") from None

    def __iter__(self):
        return iter(self.nodes)

    def __len__(self):
        return len(self.nodes)

    @property
    def input(self) -> Input:
        return self.nodes[0]

    @property
    def output(self) -> Node:
        return self.nodes[-1]

    def input_types(self, node: Node) -> list[TensorType]:
        return [self[i].out for i in node.inputs]

    def validate(self) -> "Graph":
        from .validate import validate

        validate(self)
        return self


def element_range(t: TensorType) -> tuple[int, int]:
    return t.dtype.lo, t.dtype.hi


def is_minifloat(t: TensorType) -> bool:
    return isinstance(t.dtype, MinifloatType)


def is_int(t: TensorType) -> bool:
    return isinstance(t.dtype, IntType)
