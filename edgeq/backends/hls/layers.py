"""Per-node C++: the layer's configuration struct, its constant arrays (weights, biases,
requantization multipliers and shifts) and the library function that computes it."""

from dataclasses import dataclass, field
from math import prod

import numpy as np

from ...ir.graph import Add, Conv, Dense, Flatten, GlobalAvgPool, Graph, Input, Node, Pool, Reshape
from .cpp import (
    bias_bits,
    codes,
    const_array,
    format_type,
    native_integer,
    requant_policy,
    unsigned_bits,
)
from .folding import Fold


@dataclass
class LayerCode:
    node: Node
    ident: str
    config: str = ""  # the struct <ident>_config
    params: str = ""  # the weights header, empty when the layer has no constants
    args: list[str] = field(default_factory=list)  # constant arrays passed after the tensors
    function: str = ""  # edgeq::<name>; the stream form appends "_stream"
    stream_function: str = ""


def spatial(shape: tuple[int, ...]) -> tuple[int, int]:
    """(H, W) of a channels-last tensor; a 1-D signal (L, C) is an image of height 1."""
    s = shape[:-1]
    return (1, s[0]) if len(s) == 1 else (s[0], s[1])


def pixels(shape: tuple[int, ...]) -> int:
    return prod(shape[:-1]) if len(shape) > 1 else 1


def _struct(ident: str, typedefs: list[tuple[str, str]], constants: list[tuple[str, int]],
            comment: str) -> str:
    lines = [f"// {comment}", f"struct {ident}_config {{"]
    lines += [f"  typedef {ctype} {name};" for name, ctype in typedefs]
    lines += [f"  static const int {name} = {value};" for name, value in constants]
    return "\n".join(lines) + "\n};\n"


def _rom(code: LayerCode, typedefs: list, header: list[str], key: str, exact: str, values):
    """A constant array ``<ident>_<key>`` of type ``<key>_rom_t``: ``exact`` in synthesis, the
    smallest native integer holding the values in C-simulation (see formats.h)."""
    native = native_integer(values) or exact
    typedefs.append((f"{key}_rom_t", f"EDGEQ_ROM({exact}, {native})"))
    header.append(const_array(f"{code.ident}_config::{key}_rom_t", f"{code.ident}_{key}", values))
    code.args.append(f"{code.ident}_{key}")


def _requant(code: LayerCode, node: Node, typedefs: list, header: list[str]) -> None:
    out_format = format_type(node.out.dtype)
    policy, mult, shift = requant_policy(node.requant, node.acc_bits, node.out.dtype, out_format)
    typedefs.append(("requant", policy))
    _rom(code, typedefs, header, "m", "requant::mult_t", mult)
    _rom(code, typedefs, header, "s", "requant::shift_t", shift)


def _window(shape_in, kernel, stride, padding, shape_out) -> list[tuple[str, int]]:
    (ih, iw), (oh, ow) = spatial(shape_in), spatial(shape_out)
    if len(kernel) == 1:
        kernel, stride, padding = (1, *kernel), (1, *stride), (0, *padding)
    return [("IN_H", ih), ("IN_W", iw), ("KH", kernel[0]), ("KW", kernel[1]),
            ("SH", stride[0]), ("SW", stride[1]), ("PH", padding[0]), ("PW", padding[1]),
            ("OUT_H", oh), ("OUT_W", ow), ("K", kernel[0] * kernel[1])]


def _matrix_vector(code: LayerCode, node, graph: Graph, fold: Fold) -> None:
    tin = graph.input_types(node)[0]
    ident = code.ident
    typedefs = [("in_fmt", format_type(tin.dtype)), ("out_fmt", format_type(node.out.dtype)),
                ("w_fmt", format_type(node.weight_type)),
                ("bias_t", f"ap_int<{bias_bits(node.bias)}>")]
    weights = codes(node.weight.reshape(node.weight.shape[0], -1), node.weight_type)
    bias = node.bias if node.bias is not None else np.zeros(node.weight.shape[0], np.int64)
    header: list[str] = []
    _rom(code, typedefs, header, "w", "w_fmt::code_t", weights)
    _rom(code, typedefs, header, "b", "bias_t", bias)
    _requant(code, node, typedefs, header)
    cin = tin.channels
    constants = [("N_OUT", node.weight.shape[0]), ("CIN", cin)]
    if isinstance(node, Dense):
        constants += [("K", 1), ("GROUPS", 1)]
        code.function = "edgeq::dense"
        what = f"Dense {cin} -> {node.out.channels}"
    else:
        constants += [c for c in _window(tin.shape, node.kernel, node.stride, node.padding,
                                         node.out.shape)]
        constants += [("GROUPS", node.groups)]
        code.function = "edgeq::conv"
        what = (f"{node.kind} {'x'.join(map(str, node.kernel))}, stride "
                f"{'x'.join(map(str, node.stride))}, padding {'x'.join(map(str, node.padding))}, "
                f"groups {node.groups}: {tin.describe()} -> {node.out.describe()}")
    constants += [("FAN_IN", fold.mw), ("PE", fold.pe), ("SIMD", fold.simd)]
    code.config = _struct(ident, typedefs, constants,
                          f"{node.name}: {what}; {fold.steps} steps per output vector")
    code.params = "".join(header)


def _pool(code: LayerCode, node: Pool, graph: Graph) -> None:
    tin = graph.input_types(node)[0]
    typedefs = [("in_fmt", format_type(tin.dtype)), ("out_fmt", format_type(node.out.dtype))]
    constants = [("CIN", tin.channels)]
    constants += _window(tin.shape, node.kernel, node.stride, (0,) * len(node.kernel),
                         node.out.shape)
    header: list[str] = []
    if node.mode == "avg":
        _requant(code, node, typedefs, header)
    code.function = f"edgeq::{node.mode}_pool"
    code.config = _struct(code.ident, typedefs, constants,
                          f"{node.name}: {node.kind} {'x'.join(map(str, node.kernel))}, stride "
                          f"{'x'.join(map(str, node.stride))}: {tin.describe()} -> "
                          f"{node.out.describe()}")
    code.params = "".join(header)


def _global_avg_pool(code: LayerCode, node: GlobalAvgPool, graph: Graph) -> None:
    tin = graph.input_types(node)[0]
    typedefs = [("in_fmt", format_type(tin.dtype)), ("out_fmt", format_type(node.out.dtype))]
    header: list[str] = []
    _requant(code, node, typedefs, header)
    code.function = "edgeq::global_avg_pool"
    code.config = _struct(code.ident, typedefs,
                          [("CIN", tin.channels), ("POSITIONS", pixels(tin.shape))],
                          f"{node.name}: GlobalAvgPool {tin.describe()} -> {node.out.describe()}")
    code.params = "".join(header)


def _add(code: LayerCode, node: Add, graph: Graph) -> None:
    ta, tb = graph.input_types(node)
    k = node.aligned_multipliers()
    typedefs = [("a_fmt", format_type(ta.dtype)), ("b_fmt", format_type(tb.dtype)),
                ("out_fmt", format_type(node.out.dtype)), ("k_t", f"ap_uint<{unsigned_bits(k)}>")]
    header: list[str] = []
    _rom(code, typedefs, header, "k", "k_t", k)
    _requant(code, node, typedefs, header)
    code.function = "edgeq::add"
    code.config = _struct(code.ident, typedefs,
                          [("CIN", node.out.channels), ("POSITIONS", pixels(node.out.shape))],
                          f"{node.name}: Add {ta.describe()} + {tb.describe()} -> "
                          f"{node.out.describe()}")
    code.params = "".join(header)


def layer_code(node: Node, ident: str, graph: Graph, folds: dict[str, Fold]) -> LayerCode:
    code = LayerCode(node, ident)
    if isinstance(node, (Dense, Conv)):
        _matrix_vector(code, node, graph, folds[node.name])
    elif isinstance(node, Pool):
        _pool(code, node, graph)
    elif isinstance(node, GlobalAvgPool):
        _global_avg_pool(code, node, graph)
    elif isinstance(node, Add):
        _add(code, node, graph)
    elif not isinstance(node, (Input, Flatten, Reshape)):
        raise TypeError(f"{node.kind} '{node.name}': the HLS backend has no template for this op")
    if code.function:
        code.stream_function = code.function + "_stream"
    return code
