"""Element types of quantized tensors: integers and minifloats on an exact integer grid.

A tensor holds integers ``q`` and has a scale: its real value is ``q * scale``. For a
minifloat type the integers are the decoded values in units of the smallest subnormal step,
so every MAC is an integer MAC (DESIGN.md).
"""

from dataclasses import dataclass

import numpy as np

from .rounding import int_range

SPECIALS = ("none", "fn", "ieee")


@dataclass(frozen=True)
class IntType:
    bits: int
    signed: bool = True

    def __post_init__(self):
        if not 1 <= self.bits <= 64:
            raise ValueError(f"integer type width must be in 1..64, got {self.bits}")

    @property
    def lo(self) -> int:
        return int_range(self.bits, self.signed)[0]

    @property
    def hi(self) -> int:
        return int_range(self.bits, self.signed)[1]

    @property
    def name(self) -> str:
        return f"{'int' if self.signed else 'uint'}{self.bits}"

    def contains(self, q) -> np.ndarray:
        q = np.asarray(q)
        return (q >= self.lo) & (q <= self.hi)

    def to_dict(self) -> dict:
        return {"kind": "int", "bits": self.bits, "signed": self.signed}


@dataclass(frozen=True)
class MinifloatType:
    """``fp<E, M, bias>``: subnormals on, saturating.

    ``special`` reserves codes: ``"none"`` (every code is a number, Brevitas' default),
    ``"fn"`` (OCP e4m3: the top mantissa code of the top exponent is NaN), ``"ieee"`` (OCP e5m2:
    the top exponent is inf/NaN).
    """

    exponent_bits: int
    mantissa_bits: int
    bias: int | None = None
    signed: bool = True
    special: str = "none"

    def __post_init__(self):
        if self.bias is None:
            object.__setattr__(self, "bias", (1 << (self.exponent_bits - 1)) - 1)
        # values are held as integers on the format's grid: with E = 6 the grid spans 63+
        # bits and would not fit int64
        if not 1 <= self.exponent_bits <= 5 or not 0 <= self.mantissa_bits <= 10:
            raise ValueError(f"minifloat needs 1<=E<=5 and 0<=M<=10, got E={self.exponent_bits} "
                             f"M={self.mantissa_bits} (edgeq holds minifloat values as int64 "
                             "integers on the format's grid; 6 exponent bits need 63 bits)")
        if self.special not in SPECIALS:
            raise ValueError(f"minifloat special must be one of {SPECIALS}, got {self.special!r}")
        if self.special == "ieee" and self.exponent_bits < 2:
            raise ValueError("minifloat with ieee specials needs at least 2 exponent bits")
        if self.special == "fn" and self.mantissa_bits < 1:
            raise ValueError("minifloat with fn specials needs at least 1 mantissa bit")

    @property
    def bits(self) -> int:
        return int(self.signed) + self.exponent_bits + self.mantissa_bits

    @property
    def max_int(self) -> int:
        """Largest finite value on the integer grid."""
        M, top = self.mantissa_bits, (1 << self.exponent_bits) - 1
        if self.special == "ieee":
            top -= 1
        mantissa = (1 << (M + 1)) - (2 if self.special == "fn" else 1)
        return mantissa << (top - 1)

    @property
    def lo(self) -> int:
        return -self.max_int if self.signed else 0

    @property
    def hi(self) -> int:
        return self.max_int

    @property
    def grid_exponent(self) -> int:
        """One grid unit is ``2**grid_exponent`` times the format's scale: ``1 - bias - M``."""
        return 1 - self.bias - self.mantissa_bits

    @property
    def name(self) -> str:
        base = f"e{self.exponent_bits}m{self.mantissa_bits}"
        if self.bias != (1 << (self.exponent_bits - 1)) - 1:
            base += f"b{self.bias}"
        if self.special != "none":
            base += f"_{self.special}"
        return base if self.signed else "u" + base

    def contains(self, q) -> np.ndarray:
        from .minifloat import representable

        return representable(q, self)

    def to_dict(self) -> dict:
        return {"kind": "minifloat", "exponent_bits": self.exponent_bits,
                "mantissa_bits": self.mantissa_bits, "bias": self.bias, "signed": self.signed,
                "special": self.special}


ElementType = IntType | MinifloatType


def element_type_from_dict(d: dict) -> ElementType:
    d = dict(d)
    kind = d.pop("kind", None)
    if kind == "int":
        return IntType(**d)
    if kind == "minifloat":
        return MinifloatType(**d)
    raise ValueError(f"unknown element type kind {kind!r}; expected 'int' or 'minifloat'")


def parse_element_type(text: str) -> ElementType:
    """``int8``, ``uint4``, ``e4m3``, ``e5m2_ieee``, ``e4m3_fn``, ``ue3m2``."""
    t = text.strip().lower()
    for prefix, signed in (("uint", False), ("int", True)):
        if t.startswith(prefix) and t[len(prefix):].isdigit():
            return IntType(int(t[len(prefix):]), signed)
    signed = not t.startswith("u")
    body = t[1:] if not signed else t
    special = "none"
    if "_" in body:
        body, special = body.split("_", 1)
    if body.startswith("e") and "m" in body:
        e, rest = body[1:].split("m", 1)
        bias = None
        if "b" in rest:
            rest, b = rest.split("b", 1)
            bias = int(b)
        if e.isdigit() and rest.isdigit():
            return MinifloatType(int(e), int(rest), bias, signed, special)
    raise ValueError(f"unknown element type {text!r}; expected e.g. int8, uint4, e4m3, e5m2_ieee")
