"""Hardware for each IR node: the library module it instantiates, its parameters, memory files
and cycle figures. Streams carry ``elems`` elements per beat, element 0 in the LSBs."""

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from ...ir.graph import Dense, Node, Requant, TensorType
from ...numerics import IntType, MinifloatType, Overflow, Rounding, encode
from .folding import Fold, FoldShape
from .memfile import rows_text
from .timing import mvu_schedule

ROUNDING_CODES = {Rounding.FLOOR: 0, Rounding.TOWARD_ZERO: 1, Rounding.HALF_UP: 2,
                  Rounding.HALF_TOWARD_ZERO: 3, Rounding.HALF_DOWN: 4, Rounding.HALF_AWAY: 5,
                  Rounding.HALF_EVEN: 6}
OVERFLOW_CODES = {Overflow.WRAP: 0, Overflow.SAT: 1, Overflow.SAT_ZERO: 2, Overflow.SAT_SYM: 3}
SPECIAL_CODES = {"none": 0, "fn": 1, "ieee": 2}


class RTLError(ValueError):
    """A graph the RTL generator cannot build: names the layer and what is supported."""


@dataclass(frozen=True)
class Elem:
    """How one element travels: an integer of ``bits`` or a minifloat code."""

    bits: int
    signed: bool
    minifloat: MinifloatType | None = None

    @classmethod
    def of(cls, t: TensorType, where: str) -> "Elem":
        d = t.dtype
        if isinstance(d, MinifloatType):
            if d.mantissa_bits < 1:
                raise RTLError(f"{where}: minifloat {d.name} has no mantissa bits; the RTL "
                               "decoders need M >= 1")
            return cls(d.bits, d.signed, d)
        assert isinstance(d, IntType)
        return cls(d.bits, d.signed)

    def params(self, prefix: str) -> dict:
        p = {f"{prefix}_BITS": self.bits, f"{prefix}_SIGNED": int(self.signed)}
        if prefix in ("IN", "W", "OUT"):
            mf = self.minifloat
            p[f"{prefix}_MF"] = int(mf is not None)
            p[f"{prefix}_E"] = mf.exponent_bits if mf else 4
            p[f"{prefix}_M"] = mf.mantissa_bits if mf else 3
            if prefix == "OUT":
                p["OUT_SPECIAL"] = SPECIAL_CODES[mf.special] if mf else 0
        return p

    def to_wire(self, values: np.ndarray) -> np.ndarray:
        """Integers of the tensor as they travel: minifloat grid integers become codes."""
        if self.minifloat is not None:
            return encode(values, self.minifloat)
        return np.asarray(values, dtype=np.int64)

    def describe(self) -> dict:
        d = {"bits": self.bits, "signed": self.signed}
        if self.minifloat is not None:
            d["minifloat"] = self.minifloat.to_dict()
        return d


@dataclass(frozen=True)
class StreamSpec:
    elems: int  # per beat
    elem: Elem

    @property
    def width(self) -> int:
        return self.elems * self.elem.bits


@dataclass
class Requantizer:
    """A layer's requantization as hardware: one shift for the layer and each channel's
    multiplier scaled to it, ``M' = M << (SHIFT - c)``, so ``acc*M'/2**SHIFT == acc*M/2**c``."""

    multipliers: np.ndarray
    shift: int
    mul_bits: int
    params: dict

    @classmethod
    def of(cls, node: Node, rq: Requant, out: Elem) -> "Requantizer":
        if rq.mode == "tflm":
            raise RTLError(f"{node.kind} '{node.name}': requantization mode 'tflm' is TFLite's "
                           "double rounding for microcontrollers; the RTL rounds once. Build the "
                           "model with requant='dyadic' (or 'auto') for the rtl target")
        c = rq.shift.astype(np.int64)
        shift = max(int(c.max()), 0)
        mult = [int(m) << (shift - int(s)) for m, s in zip(rq.multiplier.tolist(), c.tolist())]
        mul_bits = max(1, max(m.bit_length() for m in mult))
        params = {"MUL_BITS": mul_bits, "SHIFT": shift,
                  "ROUNDING": ROUNDING_CODES[rq.rounding], "OVERFLOW": OVERFLOW_CODES[rq.overflow],
                  "RELU": int(rq.relu)}
        return cls(np.array(mult, dtype=object), shift, mul_bits, params)


@dataclass
class Layer:
    """One hardware block: ``module`` instantiated as ``u_<name>`` with ``params``."""

    node: Node
    module: str
    fold: Fold | None
    shape: FoldShape | None
    inputs: list[StreamSpec]
    output: StreamSpec
    params: dict = field(default_factory=dict)
    memories: dict[str, str] = field(default_factory=dict)  # file name -> text
    # input beat times of the first sample (one list per input) -> its output beat times
    schedule: Callable[[list[list[int]]], list[int]] | None = None

    @property
    def name(self) -> str:
        return self.node.name

    @property
    def cycles(self) -> int:
        return self.shape.cycles(self.fold) if self.shape else 0

    def describe(self) -> dict:
        d = {"op": self.node.kind, "module": self.module, "cycles_per_sample": self.cycles,
             "in_elems_per_beat": [s.elems for s in self.inputs],
             "out_elems_per_beat": self.output.elems}
        if self.fold is not None:
            d["pe"], d["simd"] = self.fold.pe, self.fold.simd
        return d


def mem_name(layer: str, what: str) -> str:
    return f"mem/{layer}_{what}.mem"


def dense_layer(node: Dense, src: TensorType, fold: Fold, shape: FoldShape) -> Layer:
    where = f"{node.kind} '{node.name}'"
    x, w, y = Elem.of(src, where), Elem.of(TensorType(node.weight_type, ()), where), \
        Elem.of(node.out, where)
    rq = Requantizer.of(node, node.requant, y)
    mh, mw = node.weight.shape
    pe, simd = fold.pe, fold.simd
    nf, sf = mh // pe, mw // simd
    # word (nf, sf), lane (pe, s): weight[nf*PE + pe, sf*SIMD + s]
    codes = w.to_wire(node.weight)
    words = codes.reshape(nf, pe, sf, simd).transpose(0, 2, 1, 3).reshape(nf * sf, pe * simd)
    bias = np.zeros(mh, dtype=np.int64) if node.bias is None else node.bias
    files = {"WEIGHT_FILE": mem_name(node.name, "weights"),
             "BIAS_FILE": mem_name(node.name, "bias"),
             "MUL_FILE": mem_name(node.name, "mul")}
    memories = {files["WEIGHT_FILE"]: rows_text(words, w.bits),
                files["BIAS_FILE"]: rows_text(bias.reshape(nf, pe), node.acc_bits),
                files["MUL_FILE"]: rows_text(rq.multipliers.reshape(nf, pe), rq.mul_bits)}
    params = {"MW": mw, "MH": mh, "SIMD": simd, "PE": pe, **x.params("IN"), **w.params("W"),
              "ACC_BITS": node.acc_bits, **rq.params, **y.params("OUT"),
              **{k: f'"{v}"' for k, v in files.items()}}
    return Layer(node, "edgeq_mvu", fold, shape, [StreamSpec(simd, x)], StreamSpec(pe, y),
                 params, memories, lambda ins: mvu_schedule(ins[0], nf, sf))
