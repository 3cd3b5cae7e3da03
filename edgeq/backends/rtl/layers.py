"""Hardware for each IR node: the library module it instantiates, its parameters, memory files
and cycle figures. Streams carry ``elems`` elements per beat, element 0 in the LSBs."""

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from ...ir.graph import Add, Conv, Dense, GlobalAvgPool, Node, Pool, Requant, TensorType
from ...numerics import IntType, MinifloatType, Overflow, Rounding, encode
from . import adder_graph
from .adder_graph import AdderGraph
from .folding import Fold, FoldShape
from .memfile import rows_text
from .timing import gap_schedule, join_schedule, mvu_schedule, reduce_schedule, swg_schedule

# the CSE search is quadratic in a row's digits: beyond this, constant weights use multipliers
SHIFT_ADD_MAX_WEIGHTS = 8192
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
    """One hardware block: ``module`` instantiated as ``u_<name>`` with ``params``. A node may
    need several (a convolution is a sliding-window generator feeding an MVU); the last one's
    output is the node's."""

    name: str
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
    stream_cycles: int = 0  # cycles per sample of a block without folding (sliding windows)
    depth: int = 6  # pipeline cycles from taking a beat to offering the result (skid included)
    adder_graph: "AdderGraph | None" = None  # constant weights as a shift-add graph (MVU)

    @property
    def cycles(self) -> int:
        return self.shape.cycles(self.fold) if self.shape else self.stream_cycles

    def describe(self) -> dict:
        d = {"op": self.node.kind, "module": self.module, "cycles_per_sample": self.cycles,
             "in_elems_per_beat": [s.elems for s in self.inputs],
             "out_elems_per_beat": self.output.elems}
        if self.fold is not None:
            d["pe"], d["simd"] = self.fold.pe, self.fold.simd
        return d


def mem_name(layer: str, what: str) -> str:
    return f"mem/{layer}_{what}.mem"


def _weight_elem(node: Node) -> Elem:
    return Elem.of(TensorType(node.weight_type, ()), f"{node.kind} '{node.name}'")


def _rq_memories(node: Node, rq: Requantizer, groups: int, pe: int) -> tuple[dict, dict]:
    name = mem_name(node.name, "mul")
    return {"MUL_FILE": f'"{name}"'}, {name: rows_text(rq.multipliers.reshape(groups, pe),
                                                       rq.mul_bits)}


def matrix_layer(node: Node, x: Elem, weight: np.ndarray, fold: Fold, shape: FoldShape,
                 vectors: int, shift_add: bool = True) -> Layer:
    """edgeq_mvu computing ``weight`` (MH x MW) on ``vectors`` input vectors per sample.

    A fully parallel integer layer (``shift_add``) gets its dot products from a shift-add graph
    of its constant weights instead of multipliers."""
    w, y = _weight_elem(node), Elem.of(node.out, f"{node.kind} '{node.name}'")
    rq = Requantizer.of(node, node.requant, y)
    mh, mw = weight.shape
    pe, simd = fold.pe, fold.simd
    nf, sf = mh // pe, mw // simd
    # word (nf, sf), lane (pe, s): weight[nf*PE + pe, sf*SIMD + s]
    codes = w.to_wire(weight)
    words = codes.reshape(nf, pe, sf, simd).transpose(0, 2, 1, 3).reshape(nf * sf, pe * simd)
    bias = np.zeros(mh, dtype=np.int64) if node.bias is None else node.bias
    wname, bname = mem_name(node.name, "weights"), mem_name(node.name, "bias")
    mul_param, memories = _rq_memories(node, rq, nf, pe)
    memories.update({wname: rows_text(words, w.bits),
                     bname: rows_text(bias.reshape(nf, pe), node.acc_bits)})
    params = {"MW": mw, "MH": mh, "SIMD": simd, "PE": pe, **x.params("IN"), **w.params("W"),
              "ACC_BITS": node.acc_bits, **rq.params, **y.params("OUT"),
              "WEIGHT_FILE": f'"{wname}"', "BIAS_FILE": f'"{bname}"', **mul_param}
    graph = None
    if (shift_add and nf == sf == 1 and x.minifloat is None and w.minifloat is None
            and weight.size <= SHIFT_ADD_MAX_WEIGHTS):
        lo, hi = (-(1 << (x.bits - 1)), (1 << (x.bits - 1)) - 1) if x.signed else \
            (0, (1 << x.bits) - 1)
        graph = adder_graph.build(weight, [(lo, hi)] * mw)
        params["CONST_DOT"] = 1
        del params["WEIGHT_FILE"], memories[wname]
    return Layer(node.name, node, "edgeq_mvu", fold, shape, [StreamSpec(simd, x)],
                 StreamSpec(pe, y), params, memories,
                 lambda ins: mvu_schedule(ins[0], nf, sf, vectors), depth=7 if nf > 1 else 6,
                 adder_graph=graph)


def dense_layer(node: Dense, src: TensorType, fold: Fold, shape: FoldShape,
                shift_add: bool = True) -> Layer:
    x = Elem.of(src, f"{node.kind} '{node.name}'")
    return matrix_layer(node, x, node.weight, fold, shape, 1, shift_add)


def _window_geometry(node: Conv | Pool, src: TensorType) -> dict:
    """Sliding-window parameters; a 1-D window is a 2-D one of height 1."""
    if len(node.kernel) == 1:
        (L, C), (k,), (s,) = src.shape, node.kernel, node.stride
        p = node.padding[0] if isinstance(node, Conv) else 0
        geo = {"H": 1, "W": L, "C": C, "KH": 1, "KW": k, "SH": 1, "SW": s, "PH": 0, "PW": p}
    else:
        (H, W, C), (kh, kw), (sh, sw) = src.shape, node.kernel, node.stride
        ph, pw = node.padding if isinstance(node, Conv) else (0, 0)
        geo = {"H": H, "W": W, "C": C, "KH": kh, "KW": kw, "SH": sh, "SW": sw,
               "PH": ph, "PW": pw}
    if geo["PH"] >= geo["KH"] or geo["PW"] >= geo["KW"]:
        raise RTLError(f"{node.kind} '{node.name}': padding {node.padding} must be smaller "
                       f"than the kernel {node.kernel} (a window entirely in the padding)")
    return geo


def window_layer(node: Node, src: TensorType, geo: dict, word: int, lanes: int,
                 order: int) -> Layer:
    """edgeq_swg in front of a node: ``word`` channels per input beat, ``lanes`` words out."""
    x = Elem.of(src, f"{node.kind} '{node.name}'")
    k = geo["KH"] * geo["KW"]
    beats = k * (geo["C"] // word) // lanes
    params = {"BITS": x.bits, **geo, "G": word, "LANES": lanes, "ORDER": order}
    geometry = {**geo, "CG": geo["C"] // word}
    oh = (geo["H"] + 2 * geo["PH"] - geo["KH"]) // geo["SH"] + 1
    ow = (geo["W"] + 2 * geo["PW"] - geo["KW"]) // geo["SW"] + 1
    words = geo["H"] * geo["W"] * geo["C"] // word
    return Layer(f"{node.name}_window", node, "edgeq_swg", None, None,
                 [StreamSpec(word, x)], StreamSpec(word * lanes, x), params, {},
                 lambda ins: swg_schedule(ins[0], geometry, beats),
                 stream_cycles=max(words, oh * ow * beats), depth=2)


def conv_layers(node: Conv, src: TensorType, fold: Fold, shape: FoldShape,
                shift_add: bool = True) -> list[Layer]:
    where = f"{node.kind} '{node.name}'"
    geo = _window_geometry(node, src)
    positions = shape.vectors
    if node.depthwise:
        window = window_layer(node, src, geo, fold.pe, fold.simd, 1)
        return [window, vector_layer(node, src, fold, shape, 0, node.weight.reshape(
            node.weight.shape[0], -1))]
    if node.groups != 1:
        raise RTLError(f"{where}: groups={node.groups} is not supported by the RTL generator; "
                       "it builds groups=1 and depthwise (groups == channels) convolutions")
    word = shape.word(fold)
    window = window_layer(node, src, geo, word, fold.simd // word, 0)
    x = Elem.of(src, where)
    mvu = matrix_layer(node, x, node.weight.reshape(node.weight.shape[0], -1), fold, shape,
                       positions, shift_add)
    return [window, mvu]


def vector_layer(node: Node, src: TensorType, fold: Fold, shape: FoldShape, mode: int,
                 weight: np.ndarray | None = None) -> Layer:
    """edgeq_vvu: depthwise weighted sums (mode 0), maxima (1) or sums (2) over windows."""
    where = f"{node.kind} '{node.name}'"
    x, y = Elem.of(src, where), Elem.of(node.out, where)
    C, K = node.out.channels, shape.mw
    pe, simd = fold.pe, fold.simd
    cf, kf = C // pe, K // simd
    params = {"MODE": mode, "C": C, "K": K, "PE": pe, "SIMD": simd, **x.params("IN")}
    memories = {}
    if mode == 0:
        w = _weight_elem(node)
        codes = w.to_wire(weight)
        words = codes.reshape(cf, pe, kf, simd).transpose(0, 2, 1, 3).reshape(cf * kf, -1)
        bias = np.zeros(C, dtype=np.int64) if node.bias is None else node.bias
        wname, bname = mem_name(node.name, "weights"), mem_name(node.name, "bias")
        memories = {wname: rows_text(words, w.bits),
                    bname: rows_text(bias.reshape(cf, pe), node.acc_bits)}
        params.update(w.params("W"), WEIGHT_FILE=f'"{wname}"', BIAS_FILE=f'"{bname}"')
    if mode != 1:
        rq = Requantizer.of(node, node.requant, y)
        mul_param, mul_mem = _rq_memories(node, rq, cf, pe)
        memories.update(mul_mem)
        params.update(ACC_BITS=node.acc_bits, **rq.params, **mul_param)
    params.update(y.params("OUT"))
    return Layer(node.name, node, "edgeq_vvu", fold, shape, [StreamSpec(pe * simd, x)],
                 StreamSpec(pe, y), params, memories,
                 lambda ins: reduce_schedule(ins[0], kf, 6))


def pool_layers(node: Pool, src: TensorType, fold: Fold, shape: FoldShape) -> list[Layer]:
    geo = _window_geometry(node, src)
    window = window_layer(node, src, geo, fold.pe, fold.simd, 1)
    return [window, vector_layer(node, src, fold, shape, 1 if node.mode == "max" else 2)]


def gap_layer(node: GlobalAvgPool, src: TensorType, fold: Fold, shape: FoldShape) -> Layer:
    where = f"{node.kind} '{node.name}'"
    x, y = Elem.of(src, where), Elem.of(node.out, where)
    rq = Requantizer.of(node, node.requant, y)
    C, P, pe = node.out.channels, shape.vectors, fold.pe
    mul_param, memories = _rq_memories(node, rq, C // pe, pe)
    params = {"C": C, "P": P, "PE": pe, **x.params("IN"), "ACC_BITS": node.acc_bits,
              **rq.params, **y.params("OUT"), **mul_param}
    return Layer(node.name, node, "edgeq_gap", fold, shape, [StreamSpec(pe, x)],
                 StreamSpec(pe, y), params, memories,
                 lambda ins: gap_schedule(ins[0], C // pe, P), depth=5)


def add_layer(node: Add, srcs: list[TensorType], fold: Fold, shape: FoldShape) -> Layer:
    where = f"{node.kind} '{node.name}'"
    a, b, y = Elem.of(srcs[0], where), Elem.of(srcs[1], where), Elem.of(node.out, where)
    if any(e.minifloat is not None for e in (a, b, y)):
        raise RTLError(f"{where}: the RTL residual add takes integer tensors, not minifloat")
    rq = Requantizer.of(node, node.requant, y)
    C, pe = node.out.channels, fold.pe
    k = node.aligned_multipliers()  # (2, C) Python ints
    k_bits = max(1, max(int(v).bit_length() for v in k.ravel()))
    lanes = np.concatenate([k[0].reshape(C // pe, pe), k[1].reshape(C // pe, pe)], axis=1)
    kname = mem_name(node.name, "k")
    mul_param, memories = _rq_memories(node, rq, C // pe, pe)
    memories[kname] = rows_text(lanes, k_bits)
    params = {"C": C, "PE": pe, "A_BITS": a.bits, "A_SIGNED": int(a.signed), "B_BITS": b.bits,
              "B_SIGNED": int(b.signed), "K_BITS": k_bits, "ACC_BITS": node.acc_bits,
              **rq.params, "OUT_BITS": y.bits, "OUT_SIGNED": int(y.signed),
              "K_FILE": f'"{kname}"', **mul_param}
    return Layer(node.name, node, "edgeq_add", fold, shape, [StreamSpec(pe, a), StreamSpec(pe, b)],
                 StreamSpec(pe, y), params, memories,
                 lambda ins: join_schedule(ins[0], ins[1]), depth=5)
