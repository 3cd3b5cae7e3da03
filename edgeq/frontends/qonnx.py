"""QONNX model -> edgeq IR.

The QONNX graph (Brevitas' export format) is read node by node. A ``Quant``/``IntQuant``/
``FloatQuant`` on a constant gives integer weights; a matrix product or convolution, its bias
add and an optional ``Relu`` wait for the ``Quant`` that follows them, which fixes the output
type and scale and so the requantization. ONNX tensors are NCHW; the IR is channels-last, so
weights are permuted and a Dense after a Flatten of an image has its columns reordered.
"""

import re
from dataclasses import dataclass, field
from math import prod
from pathlib import Path
from typing import ClassVar

import numpy as np

from ..ir import Graph, GraphBuilder, Requant
from ..numerics import (
    IntType,
    MinifloatType,
    Overflow,
    Rounding,
    accumulator_width,
)

SUPPORTED_OPS = ("Quant", "IntQuant", "BipolarQuant (weights)", "FloatQuant", "Trunc", "MatMul",
                 "Gemm", "Conv (1-D/2-D, groups)", "Add (bias or residual)", "Relu", "MaxPool",
                 "AveragePool", "GlobalAveragePool", "Flatten", "Reshape (flatten)",
                 "Transpose (weights)", "Identity", "Dropout")

# QONNX rounding names -> IR rounding; CEIL/UP have no IR counterpart.
ROUNDING = {"ROUND": Rounding.HALF_EVEN, "HALF_EVEN": Rounding.HALF_EVEN,
            "FLOOR": Rounding.FLOOR, "DOWN": Rounding.TOWARD_ZERO,
            "HALF_UP": Rounding.HALF_AWAY, "HALF_DOWN": Rounding.HALF_TOWARD_ZERO}
# kept unfolded by the cleanup so that their formats stay readable
KEEP_OPS = ["Quant", "IntQuant", "BipolarQuant", "FloatQuant", "Trunc"]


# IR-flavoured layer names for ONNX ops (a module path is used when there is one)
KIND = {"Gemm": "dense", "MatMul": "dense", "GlobalAveragePool": "gap", "AveragePool": "avgpool",
        "Reshape": "flatten"}


# Dyadic multiplier width B for non-power-of-two scales. Brevitas computes those layers in
# float32; with B = 24 the golden matches it up to Brevitas' own float32 rounding, with B = 16
# hidden layers drift by one now and then (measured in docs/QAT.md). Power-of-two scales do not
# use a multiplier at all.
MULTIPLIER_BITS = 24


BREVITAS_INTERNALS = ("act_quant", "weight_quant", "bias_quant", "input_quant", "output_quant",
                      "trunc_quant", "export_handler", "activation_impl")


class UnsupportedModelError(ValueError):
    """The QONNX graph uses an op or a pattern outside what edgeq imports."""


def _unsupported(node, problem: str):
    raise UnsupportedModelError(
        f"{node.op_type} node '{node.name or node.output[0]}': {problem}. Supported: "
        f"{', '.join(SUPPORTED_OPS)}, with every compute result quantized (Quant/FloatQuant/"
        "Trunc) before the next layer.")


@dataclass
class _Const:
    """A constant: float ``values`` and, once quantized, integers with their type and scale."""

    values: np.ndarray
    ints: np.ndarray | None = None
    dtype: object = None
    scale: np.ndarray | None = None  # broadcastable to ``ints``; includes a minifloat grid unit


@dataclass
class _Act:
    """A quantized activation: an IR node; ``order`` maps IR flat positions to ONNX ones."""

    node: str
    onnx_shape: tuple
    order: np.ndarray | None = None


@dataclass
class _Pending:
    """A result awaiting its quantizer (a matrix product, convolution, add or average)."""

    kind: str  # dense, conv, add, avgpool, gap, requant (inputs: the _Act)
    name: str
    inputs: list
    onnx_shape: tuple
    weight: np.ndarray | None = None
    weight_type: object = None
    weight_scale: np.ndarray | None = None
    bias: _Const | None = None
    geometry: dict = field(default_factory=dict)
    relu: bool = False


def _attr(node, name, default=None):
    from onnx import helper

    for a in node.attribute:
        if a.name == name:
            v = helper.get_attribute_value(a)
            return v.decode() if isinstance(v, bytes) else v
    return default


def _layer_name(node, taken, prefix: str = "") -> str:
    """``/features/0/Conv`` -> ``features_0``; ops without a module path use their op name."""
    parts = [p for p in (node.name or "").split("/") if p]
    if prefix and len(parts) > 1 and parts[0] == prefix:
        parts = [q.removeprefix(prefix + ".") for q in parts[1:]]
    for i, part in enumerate(parts[:-1]):  # a quantizer's inner path is not part of the name
        if part in BREVITAS_INTERNALS:
            parts = parts[:i] + [parts[-1]]
            break
    kind = KIND.get(node.op_type, node.op_type.lower())
    base = "_".join(parts[:-1]) if len(parts) > 1 else kind
    base = re.sub(r"[^A-Za-z0-9_]", "_", base).strip("_") or kind
    if base[0].isdigit():
        base = f"{kind}_{base}"
    name, i = base, 1
    while name in taken:
        name, i = f"{base}_{i}", i + 1
    taken.add(name)
    return name


def _module_path(node, prefix: str = "") -> str:
    """The exporting module's path (``features.0``) from an ONNX scope name, or ''."""
    parts = [p for p in (node.name or "").split("/") if p][:-1]  # the last part is the op
    if prefix and parts and parts[0] == prefix:
        parts = parts[1:]
    for i, part in enumerate(parts):
        if part in BREVITAS_INTERNALS or part.split("_")[0] in ("export", "activation"):
            parts = parts[:i]
            break
    return parts[-1].removeprefix(prefix + ".") if parts else ""


def clean(model):
    """qonnx's own cleanup (shapes, constant folding, transposes into quantizer initializers),
    keeping every quantizer so that its format stays readable."""
    from qonnx.transformation.fold_constants import FoldConstants
    from qonnx.transformation.general import (
        RemoveStaticGraphInputs,
        RemoveUnusedTensors,
        SortGraph,
    )
    from qonnx.transformation.infer_shapes import InferShapes
    from qonnx.transformation.quant_constant_folding import FoldTransposeIntoQuantInit

    for node in model.graph.node:  # old Brevitas exports use the bare domain
        if node.op_type in KEEP_OPS:
            node.domain = "qonnx.custom_op.general"
    for t in (InferShapes(), FoldConstants(exclude_op_types=KEEP_OPS),
              FoldTransposeIntoQuantInit(), RemoveUnusedTensors(), RemoveStaticGraphInputs(),
              SortGraph(), InferShapes()):
        model = model.transform(t)
    return model


def load_qonnx(source):
    """A qonnx ModelWrapper from a path, an onnx ModelProto or a ModelWrapper, cleaned."""
    from google.protobuf.message import DecodeError
    from qonnx.core.modelwrapper import ModelWrapper

    if isinstance(source, (str, Path)):
        if not Path(source).exists():
            raise FileNotFoundError(f"{source}: no such QONNX file")
        source = str(source)
    if isinstance(source, ModelWrapper):
        return clean(source)
    try:
        model = ModelWrapper(source)
    except (DecodeError, ValueError, OSError) as e:
        raise ValueError(f"{source}: not a readable ONNX model ({type(e).__name__}: {e})") from None
    return clean(model)


def minifloat_format(E: int, M: int, bias: int, max_val: float, node) -> MinifloatType:
    """The IR minifloat whose largest value is exactly ``max_val``."""
    for special in ("none", "fn", "ieee"):
        try:
            fmt = MinifloatType(E, M, bias, True, special)
        except ValueError:
            continue
        if np.ldexp(float(fmt.max_int), fmt.grid_exponent) == float(max_val):
            return fmt
    _unsupported(node, f"e{E}m{M} (bias {bias}) with largest value {max_val} matches no IR "
                 "minifloat (no specials, OCP 'fn' or OCP 'ieee')")


class _Importer:
    def __init__(self, model, name, multiplier_bits):
        self.model = model
        self.b = GraphBuilder(name, "auto", multiplier_bits)
        self.env: dict = {}
        self.taken: set = set()
        self.input_range = None  # a narrow-range input quantizer's [lo, hi]
        self.onnx_tensors: dict[str, str] = {}  # IR node -> the ONNX tensor holding its values
        self.modules: dict[str, str] = {}  # IR node -> the exporting module's path
        # a wrapper module shows as a first path component shared by every node: drop it
        firsts = {(n.name or "").strip("/").split("/")[0] for n in model.graph.node}
        self.prefix = firsts.pop() if len(firsts) == 1 else ""

    def name(self, node) -> str:
        return _layer_name(node, self.taken, self.prefix)

    # ---- values -------------------------------------------------------------------------
    def value(self, tensor: str):
        if tensor in self.env:
            return self.env[tensor]
        init = self.model.get_initializer(tensor)
        if init is not None:
            return _Const(np.asarray(init))
        raise KeyError(tensor)

    def const(self, node, i) -> np.ndarray:
        v = self.value(node.input[i])
        if not isinstance(v, _Const):
            _unsupported(node, f"input {i} ({node.input[i]}) must be a constant")
        return np.asarray(v.values)

    def act(self, node, i=0) -> _Act:
        v = self.value(node.input[i])
        if isinstance(v, _Act):
            return v
        if isinstance(v, _Pending):
            _unsupported(node, f"its input comes from a {v.kind} '{v.name}' that has no "
                         "quantizer after it; quantize every layer output")
        _unsupported(node, "its input must be a quantized activation, not a constant")

    def shape(self, tensor) -> tuple:
        s = self.model.get_tensor_shape(tensor)
        if s is None:
            raise UnsupportedModelError(f"tensor {tensor!r} has no inferred shape")
        return tuple(s)

    # ---- quantizers ---------------------------------------------------------------------
    def quant(self, node):
        """Quant / IntQuant / BipolarQuant / FloatQuant."""
        dtype, scale, rounding, overflow = self.quant_format(node)
        if node.input[0] in [i.name for i in self.model.graph.input]:
            if rounding is not Rounding.HALF_EVEN:
                _unsupported(node, "input quantizer rounding other than round-half-even")
            self.input_range = (-dtype.hi, dtype.hi) if overflow is Overflow.SAT_SYM else None
            self.env[node.output[0]] = self.input(node, dtype, scale)
            return
        x = self.value(node.input[0])
        if isinstance(x, _Const):
            self.env[node.output[0]] = self.quantize_const(node, x, dtype, scale)
        elif isinstance(x, _Pending):
            self.env[node.output[0]] = self.finish(node, x, dtype, scale, rounding, overflow)
        elif isinstance(x, _Act):
            self.env[node.output[0]] = self.requantize(node, x, dtype, scale, rounding, overflow)
        else:
            _unsupported(node, "unexpected input")

    def requantize(self, node, x: _Act, dtype, scale, rounding, overflow,
                   relu: bool = False) -> _Act:
        """A quantizer on an already quantized tensor: nothing when it changes nothing, else a
        one-position average (each element alone, requantized)."""
        t = self.b.type_of(x.node)
        scale = self.act_scale(node, scale)
        if t.dtype == dtype and np.array_equal(t.scale, scale) and not relu:
            return x
        rounding = None if rounding is Rounding.HALF_EVEN else rounding
        name = self.name(node)
        if len(t.shape) == 1:  # a vector: view it as one position of C channels
            flat = self.b.reshape(x.node, (1, t.shape[0]), name=f"{name}_view")
            name = self.b.global_avgpool(flat, dtype, scale, relu, rounding, overflow, name=name)
        else:
            ones = (1,) * (len(t.shape) - 1)
            name = self.b.avgpool(x.node, ones, dtype, scale, ones, relu, rounding, overflow,
                                  name=name)
        return _Act(name, x.onnx_shape, x.order)

    def quant_format(self, node):
        """(IR element type, IR scale, rounding, overflow) of a quantizer node."""
        op = node.op_type
        if op == "BipolarQuant":
            return IntType(2, True), np.asarray(self.const(node, 1), np.float64), None, Overflow.SAT
        scale = self.const(node, 1).astype(np.float32).astype(np.float64)
        if op == "FloatQuant":
            E, M = int(self.const(node, 2)), int(self.const(node, 3))
            bias = int(self.const(node, 4))
            if not _attr(node, "saturation", 1):
                _unsupported(node, "non-saturating minifloat (inf/NaN on overflow)")
            mode = str(_attr(node, "rounding_mode", "ROUND")).upper()
            if mode not in ("ROUND", "HALF_EVEN"):
                _unsupported(node, f"minifloat rounding {mode} (only round-half-even)")
            fmt = minifloat_format(E, M, bias, float(self.const(node, 5)), node)
            return fmt, scale * 2.0 ** fmt.grid_exponent, Rounding.HALF_EVEN, Overflow.SAT
        if np.any(self.const(node, 2) != 0):
            _unsupported(node, "non-zero zero point (edgeq is symmetric)")
        bits = self.const(node, 3)
        if bits.size != 1 or bits.item() != int(bits.item()) or not 1 <= bits.item() <= 64:
            _unsupported(node, f"bit width {bits} must be one integer in 1..64")
        bits, signed = int(bits.item()), bool(_attr(node, "signed", 1))
        narrow = bool(_attr(node, "narrow", 0))
        mode = str(_attr(node, "rounding_mode", "ROUND")).upper()
        if mode not in ROUNDING:
            _unsupported(node, f"rounding mode {mode}; supported: {', '.join(ROUNDING)}")
        if bits == 1 and signed:
            _unsupported(node, "1-bit signed (bipolar) quantization of an activation")
        overflow = Overflow.SAT_SYM if narrow and signed else Overflow.SAT
        if narrow and not signed:
            _unsupported(node, "narrow-range unsigned quantization")
        return IntType(bits, signed), scale, ROUNDING[mode], overflow

    def quantize_const(self, node, x: _Const, dtype, scale) -> _Const:
        """Integers of a quantized constant, with a check that they reproduce the values."""
        from qonnx.core.onnx_exec import execute_node

        ctx = {n: np.asarray(self.value(n).values) for n in node.input if n}
        execute_node(node, ctx, self.model.graph, self.model.model.opset_import[0].version)
        values = np.asarray(ctx[node.output[0]], np.float32)
        unit = np.broadcast_to(scale, values.shape).astype(np.float64)
        if not np.all(np.isfinite(values)):  # e.g. a QAT run that diverged
            _unsupported(node, "quantized constant has NaN or infinite values")
        exact = values.astype(np.float64) / unit
        if not np.all(np.abs(exact) < 2.0 ** 62):
            _unsupported(node, "quantized constant does not fit 62 bits")
        ints = np.round(exact).astype(np.int64)
        if not np.all(np.abs(exact - ints) <= 1e-3 * np.maximum(1, np.abs(ints))):
            _unsupported(node, "quantized constant values are not integers times the scale")
        # weights are checked against their type by the IR; a bias is any integer
        return _Const(values, ints, dtype, np.asarray(scale, np.float64))

    def input(self, node, dtype, scale) -> _Act:
        shape = self.shape(node.input[0])
        if np.size(scale) != 1:
            _unsupported(node, "per-channel input scale")
        ir_shape = _channels_last(shape[1:])
        name = self.b.input(ir_shape, dtype, float(np.asarray(scale).reshape(-1)[0]))
        self.taken.add(name)
        return _Act(name, shape)

    def act_scale(self, node, scale) -> np.float64:
        s = np.asarray(scale, np.float64)
        if s.size == 1:
            return np.float64(s.reshape(-1)[0])
        _unsupported(node, f"per-channel activation scale (shape {s.shape}); use a per-tensor "
                     "activation quantizer")

    # ---- compute ------------------------------------------------------------------------
    def weight(self, node, i, what) -> _Const:
        w = self.value(node.input[i])
        if not isinstance(w, _Const) or w.ints is None:
            _unsupported(node, f"{what} must be a quantized constant (a Quant/FloatQuant on "
                         "an initializer)")
        return w

    def channel_scale(self, node, w: _Const, axis: int) -> np.ndarray:
        """Per-output-channel scale along ``axis``, or a scalar; anything else is refused."""
        s = np.broadcast_to(w.scale, w.ints.shape)
        s = np.moveaxis(s, axis, 0).reshape(s.shape[axis], -1)
        if not np.all(s == s[:, :1]):
            _unsupported(node, "weight scale must be per tensor or per output channel")
        s = s[:, 0]
        return np.float64(s[0]) if np.all(s == s[0]) and np.size(w.scale) == 1 else s

    def dense(self, node):
        x = self.act(node)
        if node.op_type == "Gemm":
            if _attr(node, "transA", 0) or _attr(node, "alpha", 1.0) != 1.0 or \
                    _attr(node, "beta", 1.0) != 1.0:
                _unsupported(node, "Gemm with transA or alpha/beta != 1")
            w = self.weight(node, 1, "weight")
            ints, axis = (w.ints, 0) if _attr(node, "transB", 0) else (w.ints.T, 1)
        else:
            w = self.weight(node, 1, "weight")
            ints, axis = w.ints.T, 1
        if len(x.onnx_shape) != 2:
            _unsupported(node, f"matrix product on a rank-{len(x.onnx_shape)} input (flatten "
                         "first)")
        scale = self.channel_scale(node, w, axis)
        if x.order is not None:  # columns follow the IR's channels-last flatten order
            ints = ints[:, x.order]
        p = _Pending("dense", self.name(node), [x.node],
                     self.shape(node.output[0]), ints, w.dtype, scale)
        if node.op_type == "Gemm" and len(node.input) > 2 and node.input[2]:
            p.bias = self.bias_const(node, 2)
        self.env[node.output[0]] = p

    def conv(self, node):
        x = self.act(node)
        w = self.weight(node, 1, "weight")
        nd = w.ints.ndim - 2
        if nd not in (1, 2):
            _unsupported(node, f"{nd}-D convolution (1-D and 2-D are supported)")
        if any(d != 1 for d in _attr(node, "dilations", [1] * nd)):
            _unsupported(node, "dilation")
        if _attr(node, "auto_pad", "NOTSET") not in ("NOTSET", "VALID"):
            _unsupported(node, "auto_pad SAME")
        pads = list(_attr(node, "pads", [0] * (2 * nd)))
        if pads[:nd] != pads[nd:]:
            _unsupported(node, f"asymmetric padding {pads}")
        geometry = {"stride": tuple(_attr(node, "strides", [1] * nd)),
                    "padding": tuple(pads[:nd]), "groups": int(_attr(node, "group", 1))}
        scale = self.channel_scale(node, w, 0)
        p = _Pending("conv", self.name(node), [x.node], self.shape(node.output[0]),
                     np.moveaxis(w.ints, 1, -1), w.dtype, scale, geometry=geometry)
        if len(node.input) > 2 and node.input[2]:
            p.bias = self.bias_const(node, 2)
        self.env[node.output[0]] = p

    def bias_const(self, node, i) -> _Const:
        b = self.value(node.input[i])
        if not isinstance(b, _Const) or b.ints is None:
            _unsupported(node, "bias must be quantized at the accumulator scale (e.g. Brevitas "
                         "bias_quant=Int32Bias); a float bias cannot be computed exactly")
        return b

    def add(self, node):
        a, b = (self.value(n) for n in node.input)
        if isinstance(b, _Pending) and isinstance(a, _Const):
            a, b = b, a
        if isinstance(a, _Pending) and isinstance(b, _Const):
            if a.kind not in ("dense", "conv") or a.bias is not None or a.relu:
                _unsupported(node, "a constant add is only supported as the bias of a matrix "
                             "product or convolution")
            if b.ints is None:
                _unsupported(node, "bias must be quantized at the accumulator scale (e.g. "
                             "Brevitas bias_quant=Int32Bias)")
            a.bias = b
            self.env[node.output[0]] = a
            return
        if isinstance(a, _Act) and isinstance(b, _Act):
            if a.onnx_shape != b.onnx_shape:
                _unsupported(node, f"broadcasting add of {a.onnx_shape} and {b.onnx_shape}")
            self.env[node.output[0]] = _Pending("add", self.name(node),
                                                [a.node, b.node], a.onnx_shape)
            return
        _unsupported(node, "an add must be a bias add or a residual add of two quantized tensors")

    def relu(self, node):
        x = self.value(node.input[0])
        if isinstance(x, _Pending) and not x.relu:
            x.relu = True
            self.env[node.output[0]] = x
            return
        if isinstance(x, _Act):
            if not self.b.type_of(x.node).dtype.signed:
                self.env[node.output[0]] = x  # unsigned: ReLU is the identity
            else:  # applied by the requantization the next quantizer brings
                self.env[node.output[0]] = _Pending("requant", self.name(node), [x], x.onnx_shape,
                                                    relu=True)
            return
        _unsupported(node, "ReLU must follow a layer and come before its output quantizer")

    def pool(self, node):
        kernel = tuple(_attr(node, "kernel_shape"))
        nd = len(kernel)
        stride = tuple(_attr(node, "strides", kernel))
        if any(_attr(node, "pads", [0] * 2 * nd)) or _attr(node, "ceil_mode", 0) or \
                any(d != 1 for d in _attr(node, "dilations", [1] * nd)):
            _unsupported(node, "pooling with padding, ceil_mode or dilation")
        if node.op_type == "MaxPool":
            if len(node.output) > 1 and node.output[1]:
                _unsupported(node, "MaxPool indices output")
            x = self.act(node)
            name = self.b.maxpool(x.node, kernel, stride, name=self.name(node))
            self.env[node.output[0]] = _Act(name, self.shape(node.output[0]))
            return
        x = self.act(node)
        self.env[node.output[0]] = _Pending("avgpool", self.name(node), [x.node],
                                            self.shape(node.output[0]),
                                            geometry={"kernel": kernel, "stride": stride})

    def global_pool(self, node):
        x = self.act(node)
        if len(x.onnx_shape) < 3:
            _unsupported(node, "global pooling of a vector")
        self.env[node.output[0]] = _Pending("gap", self.name(node), [x.node],
                                            self.shape(node.output[0]))

    def trunc(self, node):
        """Brevitas TruncAvgPool: the window sum, rounded right by a power of two."""
        p = self.value(node.input[0])
        if not isinstance(p, _Pending) or p.kind not in ("avgpool", "gap"):
            _unsupported(node, "Trunc is supported after average pooling only")
        tin = self.b.type_of(p.inputs[0])
        k = prod(p.geometry["kernel"]) if p.kind == "avgpool" else prod(tin.shape[:-1])
        scale = float(np.float32(self.const(node, 1)))
        if not np.isclose(scale, float(tin.scale) / k, rtol=1e-6):
            _unsupported(node, f"input scale {scale} is not the pooled scale "
                         f"{float(tin.scale) / k}")
        if np.any(self.const(node, 2) != 0):
            _unsupported(node, "non-zero zero point")
        if len(node.input) == 6:  # Trunc v2: output scale given
            out_scale = float(np.float32(self.const(node, 4)))
            shift = int(np.round(np.log2(out_scale / scale)))
            bits = int(self.const(node, 5))
        else:
            bits = int(self.const(node, 4))
            shift = int(self.const(node, 3)) - bits
            out_scale = scale * 2.0 ** shift
        signed = bool(_attr(node, "signed", tin.dtype.signed))
        narrow = bool(_attr(node, "narrow", 0))
        mode = str(_attr(node, "rounding_mode", "FLOOR")).upper()
        if mode not in ROUNDING:
            _unsupported(node, f"rounding mode {mode}; supported: {', '.join(ROUNDING)}")
        dtype = IntType(bits, signed)
        overflow = Overflow.SAT_SYM if narrow and signed else Overflow.SAT
        name = self.pool_node(p, dtype, out_scale, ROUNDING[mode], overflow)
        node_ = self.b.nodes[-1]
        # the shift is exact: k * 2**shift is the divisor, whatever float rounding did to scales
        node_.requant = Requant.power_of_two(shift, tin.channels, ROUNDING[mode],
                                             overflow=overflow, relu=p.relu)
        self.env[node.output[0]] = _Act(name, self.shape(node.output[0]))

    def pool_node(self, p: _Pending, dtype, out_scale, rounding, overflow) -> str:
        if p.kind == "avgpool":
            return self.b.avgpool(p.inputs[0], p.geometry["kernel"], dtype, out_scale,
                                  p.geometry["stride"], p.relu, rounding, overflow, name=p.name)
        return self.b.global_avgpool(p.inputs[0], dtype, out_scale, p.relu, rounding, overflow,
                                     name=p.name)

    def finish(self, node, p: _Pending, dtype, scale, rounding, overflow) -> _Act:
        """The quantizer after a pending result: build the IR node with its requantization."""
        scale = self.act_scale(node, scale)
        # the named rounding is exact for power-of-two multipliers; a dyadic one rounds half up
        rounding = None if rounding is Rounding.HALF_EVEN else rounding
        if p.kind == "requant":
            return self.requantize(node, p.inputs[0], dtype, scale, rounding, overflow, p.relu)
        if p.kind in ("dense", "conv"):
            name = self.compute_node(p, dtype, scale, rounding, overflow)
        elif p.kind == "add":
            name = self.b.add(p.inputs[0], p.inputs[1], dtype, scale, p.relu, rounding, overflow,
                              name=p.name)
        else:
            name = self.pool_node(p, dtype, scale, rounding, overflow)
        return _Act(name, p.onnx_shape)

    def ir_bias(self, p: _Pending) -> np.ndarray | None:
        """The bias as integers at the accumulator scale (input scale x weight scale)."""
        if p.bias is None:
            return None
        tin = self.b.type_of(p.inputs[0])
        acc_scale = np.broadcast_to(tin.scale * p.weight_scale, (p.weight.shape[0],))
        b_scale = np.broadcast_to(p.bias.scale, p.bias.ints.shape).reshape(-1)
        ratio = b_scale / acc_scale
        k = np.round(np.log2(ratio))
        if not np.allclose(ratio, 2.0 ** k, rtol=1e-5) or np.any(k < 0):
            raise UnsupportedModelError(
                f"layer '{p.name}': bias scale {b_scale} is not the accumulator scale "
                f"{acc_scale} (input scale x weight scale); quantize the bias with Brevitas "
                "Int32Bias/Int16Bias")
        # a minifloat accumulator unit is a power of two finer than Brevitas' bias scale
        shifted = p.bias.ints.reshape(-1).astype(object) * (1 << k.astype(np.int64)).astype(object)
        return np.asarray(shifted, dtype=np.int64)

    def compute_node(self, p: _Pending, dtype, scale, rounding, overflow) -> str:
        kw = {"weight": p.weight, "bias": self.ir_bias(p), "weight_type": p.weight_type,
              "weight_scale": p.weight_scale, "out_dtype": dtype, "out_scale": scale,
              "relu": p.relu, "rounding": rounding, "overflow": overflow, "name": p.name}
        if p.kind == "dense":
            return self.b.dense(p.inputs[0], **kw)
        return self.b.conv(p.inputs[0], **kw, **p.geometry)

    def accumulator_output(self, p: _Pending) -> _Act:
        """A model ending in a layer without output quantizer outputs its accumulator."""
        if p.kind not in ("dense", "conv") or p.relu:
            raise UnsupportedModelError(
                f"the model output '{p.name}' ({p.kind}{' + ReLU' if p.relu else ''}) has no "
                "quantizer; add an output quantizer (e.g. QuantIdentity)")
        tin = self.b.type_of(p.inputs[0])
        width = accumulator_width(p.weight.reshape(p.weight.shape[0], -1), self.ir_bias(p),
                                  tin.dtype.lo, tin.dtype.hi)
        acc_scale = np.broadcast_to(tin.scale * p.weight_scale, (p.weight.shape[0],))
        acc_scale = np.float64(acc_scale[0]) if np.all(acc_scale == acc_scale[0]) else acc_scale
        name = self.compute_node(p, IntType(width), acc_scale, None, Overflow.SAT)
        return _Act(name, p.onnx_shape)

    def pending_module(self, tensor: str) -> str:
        producer = self.model.find_producer(tensor)
        return _module_path(producer, self.prefix) if producer is not None else ""

    # ---- layout ops ---------------------------------------------------------------------
    def flatten(self, node):
        x = self.act(node)
        out = self.shape(node.output[0])
        if node.op_type == "Flatten" and _attr(node, "axis", 1) != 1 or len(out) != 2 or \
                out[1] != prod(x.onnx_shape[1:]):
            _unsupported(node, f"only a flatten to (N, features) is supported, got {out}")
        if len(self.b.type_of(x.node).shape) == 1:  # already a vector in the IR
            self.env[node.output[0]] = _Act(x.node, out, x.order)
            return
        chw = x.onnx_shape[1:]
        order = np.moveaxis(np.arange(prod(chw)).reshape(chw), 0, -1).reshape(-1)
        name = self.b.flatten(x.node, name=self.name(node))
        self.env[node.output[0]] = _Act(name, out, order)

    def transpose(self, node):
        v = self.value(node.input[0])
        if not isinstance(v, _Const):
            _unsupported(node, "Transpose of an activation (the IR fixes the layout)")
        perm = _attr(node, "perm")

        def t(a):
            return None if a is None else np.transpose(a, perm) if np.ndim(a) else a

        self.env[node.output[0]] = _Const(np.transpose(v.values, perm), t(v.ints), v.dtype,
                                          t(v.scale))

    def identity(self, node):
        self.env[node.output[0]] = self.value(node.input[0])

    HANDLERS: ClassVar[dict] = {
        "Quant": quant, "IntQuant": quant, "BipolarQuant": quant, "FloatQuant": quant,
        "Gemm": dense, "MatMul": dense, "Conv": conv, "Add": add, "Relu": relu, "MaxPool": pool,
        "AveragePool": pool, "GlobalAveragePool": global_pool, "Trunc": trunc,
        "Flatten": flatten, "Reshape": flatten, "Transpose": transpose, "Identity": identity,
        "Dropout": identity}

    def run(self) -> Graph:
        graph = self.model.graph
        if len(graph.input) != 1:
            raise UnsupportedModelError(f"the model must have one input, it has "
                                        f"{[i.name for i in graph.input]}")
        for node in graph.node:
            handler = self.HANDLERS.get(node.op_type)
            if handler is None:
                _unsupported(node, "op not supported")
            handler(self, node)
            for tensor in node.output:  # where each IR tensor can be read in the ONNX graph
                v = self.env.get(tensor)
                if isinstance(v, _Act) and v.node not in self.onnx_tensors:
                    self.onnx_tensors[v.node] = tensor
                    self.modules[v.node] = _module_path(node, self.prefix)
        outputs = [o.name for o in graph.output if self.model.get_initializer(o.name) is None]
        if len(outputs) != 1:
            raise UnsupportedModelError(f"the model must have one output, it has {outputs}")
        out = self.value(outputs[0])
        if isinstance(out, _Pending):
            out = self.accumulator_output(out)
            self.onnx_tensors[out.node] = outputs[0]
            self.modules[out.node] = self.modules.get(out.node) or self.pending_module(outputs[0])
        if not isinstance(out, _Act) or out.node == self.b.nodes[0].name:
            raise UnsupportedModelError("the model output is not computed from its input")
        if out.order is not None:
            raise UnsupportedModelError("a flattened image cannot be the model output (its "
                                        "element order would differ from ONNX); end with a "
                                        "layer")
        if out.node != self.b.nodes[-1].name:
            raise UnsupportedModelError(f"the model output '{out.node}' must be the last layer")
        metadata = {"source": "qonnx", "onnx_output_shape": list(out.onnx_shape[1:]),
                    "onnx_tensors": self.onnx_tensors,
                    "modules": {k: v for k, v in self.modules.items() if v}}
        if self.input_range:  # the IR input type cannot say "narrow"; float inputs need it
            metadata["input_range"] = list(self.input_range)
        return self.b.build(metadata)


def _channels_last(shape) -> tuple:
    """NCHW per-sample shape (C,), (C, L) or (C, H, W) -> channels-last."""
    shape = tuple(int(d) for d in shape)
    return shape if len(shape) == 1 else shape[1:] + shape[:1]


def import_qonnx(source, name: str | None = None,
                 multiplier_bits: int = MULTIPLIER_BITS) -> Graph:
    """A QONNX model (path, onnx ModelProto or qonnx ModelWrapper) as an IR graph.

    ``multiplier_bits`` is the width B of the dyadic multipliers used where scales are not
    powers of two (power-of-two scales give exact fixed-point shifts).
    """
    model = load_qonnx(source)
    if name is None:
        name = Path(source).stem if isinstance(source, (str, Path)) else "qonnx_model"
    return _Importer(model, re.sub(r"[^A-Za-z0-9_]", "_", name), multiplier_bits).run()
