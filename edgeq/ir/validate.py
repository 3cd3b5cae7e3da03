"""Graph validation: every inconsistency is an IRError naming the op and the problem."""

from math import prod

import numpy as np

from ..numerics import (
    TFLM_BITS,
    IntType,
    MinifloatType,
    Overflow,
    Rounding,
    accumulator_bounds,
    signed_width,
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


def _fail(node: Node, problem: str):
    raise IRError(f"{node.kind} '{node.name}': {problem}")


def conv_output_length(length: int, kernel: int, stride: int, padding: int) -> int:
    return (length + 2 * padding - kernel) // stride + 1


def output_shape(node: Node, ins: list[TensorType]) -> tuple[int, ...]:
    """The shape ``node`` produces from its input types (raises IRError when it cannot)."""
    if isinstance(node, Input):
        return node.out.shape
    x = ins[0].shape
    if isinstance(node, Dense):
        if len(x) != 1:
            _fail(node, f"input must be a vector (C,), got shape {x}; insert a Flatten")
        if node.weight.ndim != 2 or node.weight.shape[1] != x[0]:
            _fail(node, f"weight shape {node.weight.shape} does not match input width {x[0]}")
        return (node.weight.shape[0],)
    if isinstance(node, (Conv, Pool)):
        kernel = node.kernel
        nd = len(kernel)
        if nd not in (1, 2) or len(x) != nd + 1:
            _fail(node, f"a {nd}-D window needs a ({'L' if nd == 1 else 'H, W'}, C) input, got {x}")
        padding = node.padding if isinstance(node, Conv) else (0,) * nd
        if len(node.stride) != nd or len(padding) != nd:
            _fail(node, f"stride {node.stride} and padding {padding} need {nd} entries each")
        if min(node.stride) < 1 or min(kernel) < 1 or min(padding) < 0:
            _fail(node, f"kernel {kernel}, stride {node.stride}, padding {padding} must be positive")
        spatial = tuple(conv_output_length(n, k, s, p)
                        for n, k, s, p in zip(x[:-1], kernel, node.stride, padding))
        if min(spatial) < 1:
            _fail(node, f"kernel {kernel} is larger than the padded input {x[:-1]}")
        if isinstance(node, Pool):
            return spatial + (x[-1],)
        g = node.groups
        if g < 1 or x[-1] % g or node.weight.shape[0] % g:
            _fail(node, f"groups={g} must divide input channels {x[-1]} and output channels "
                  f"{node.weight.shape[0]}")
        if node.weight.shape[-1] != x[-1] // g:
            _fail(node, f"weight shape {node.weight.shape} needs {x[-1] // g} input channels per "
                  f"group (input has {x[-1]}, groups={g})")
        return spatial + (node.weight.shape[0],)
    if isinstance(node, GlobalAvgPool):
        if len(x) < 2:
            _fail(node, f"needs a spatial input (L, C) or (H, W, C), got {x}")
        return (x[-1],)
    if isinstance(node, Add):
        if len(ins) != 2 or ins[0].shape != ins[1].shape:
            _fail(node, f"needs two inputs of one shape, got {[t.shape for t in ins]}")
        return x
    if isinstance(node, Flatten):
        return (prod(x),)
    if isinstance(node, Reshape):
        if prod(node.out.shape) != prod(x):
            _fail(node, f"cannot reshape {x} to {node.out.shape}")
        return node.out.shape
    _fail(node, f"unknown op {type(node).__name__}")


def _check_values(node: Node, what: str, values: np.ndarray, dtype) -> None:
    ok = dtype.contains(values)
    if not np.all(ok):
        bad = np.asarray(values)[~ok].ravel()[0]
        _fail(node, f"{what} value {bad} is not representable in {dtype.name}")


def _check_requant(node: Node, rq: Requant, out: TensorType, acc_bits: int, channels: int):
    if rq is None:
        _fail(node, "needs a requantization")
    for arr, what in ((rq.multiplier, "multiplier"), (rq.shift, "shift")):
        if arr.shape != (channels,):
            _fail(node, f"requant {what} must have one entry per output channel ({channels}), "
                  f"got shape {arr.shape}")
    if not 2 <= rq.multiplier_bits <= TFLM_BITS:
        _fail(node, f"multiplier width B={rq.multiplier_bits} must be in 2..{TFLM_BITS}")
    if rq.multiplier.min() < 1 or rq.multiplier.max() >= 1 << (rq.multiplier_bits - 1):
        _fail(node, f"requant multipliers must be in 1..2^{rq.multiplier_bits - 1}-1 "
              f"(B={rq.multiplier_bits}), got {rq.multiplier.min()}..{rq.multiplier.max()}")
    if rq.shift.min() < -32 or rq.shift.max() > 62:
        _fail(node, f"requant shifts must be in -32..62, got {rq.shift.min()}..{rq.shift.max()}")
    if rq.mode not in ("single", "tflm"):
        _fail(node, f"requant mode {rq.mode!r} is not 'single' or 'tflm'")
    if isinstance(out.dtype, MinifloatType):
        if rq.mode != "single" or rq.rounding is not Rounding.HALF_EVEN or rq.overflow is not Overflow.SAT:
            _fail(node, f"a {out.dtype.name} output rounds half to even and saturates: use "
                  "mode='single', rounding=HALF_EVEN, overflow=SAT")
    if rq.mode == "tflm":
        if rq.multiplier_bits != TFLM_BITS or not isinstance(out.dtype, IntType):
            _fail(node, "tflm requantization needs a Q31 multiplier (B=32) and an integer output")
        left = int(np.maximum((TFLM_BITS - 1) - rq.shift, 0).max())
        if acc_bits + left > 32:
            _fail(node, f"tflm requantization needs the accumulator ({acc_bits} bits) shifted left "
                  f"by {left} to fit int32")


def _compute_acc_bits(node: Node, ins: list[TensorType]) -> int:
    """The exact accumulator width the DESIGN.md bound gives for this node."""
    x = ins[0].dtype
    if isinstance(node, (Dense, Conv)):
        lo, hi = accumulator_bounds(node.weight.reshape(node.weight.shape[0], -1), node.bias,
                                    x.lo, x.hi)
    elif isinstance(node, (Pool, GlobalAvgPool)):
        k = prod(node.kernel) if isinstance(node, Pool) else prod(ins[0].shape[:-1])
        lo, hi = [k * x.lo], [k * x.hi]
    else:  # Add: each aligned multiplier is positive
        K = node.aligned_multipliers()
        lo = [int(K[0, c]) * ins[0].dtype.lo + int(K[1, c]) * ins[1].dtype.lo for c in range(K.shape[1])]
        hi = [int(K[0, c]) * ins[0].dtype.hi + int(K[1, c]) * ins[1].dtype.hi for c in range(K.shape[1])]
    return max(signed_width(a, b) for a, b in zip(lo, hi))


def _check_node(graph: Graph, node: Node, seen: set[str]):
    for name in node.inputs:
        if name not in seen:
            _fail(node, f"input {name!r} is not produced by an earlier node")
    ins = graph.input_types(node)
    expected_arity = {Input: 0, Add: 2}.get(type(node), 1)
    if len(ins) != expected_arity:
        _fail(node, f"takes {expected_arity} input(s), got {len(ins)}")
    shape = output_shape(node, ins)
    if tuple(shape) != node.out.shape:
        _fail(node, f"output shape {node.out.shape} does not match the inferred {shape}")
    scale = node.out.scale
    if scale.shape not in ((), (node.out.channels,)) or np.any(~(scale > 0)):
        _fail(node, f"output scale must be positive, a scalar or one per channel; got shape "
              f"{scale.shape}")
    if isinstance(node, (Dense, Conv)):
        if node.weight.dtype.kind not in "iu":
            _fail(node, f"weights must be integers, got {node.weight.dtype}")
        _check_values(node, "weight", node.weight, node.weight_type)
        if node.bias is not None and node.bias.shape != (node.weight.shape[0],):
            _fail(node, f"bias shape {node.bias.shape} must be ({node.weight.shape[0]},)")
    if isinstance(node, Pool) and node.mode not in ("max", "avg"):
        _fail(node, f"pool mode {node.mode!r} is not 'max' or 'avg'")
    if isinstance(node, Pool) and node.mode == "max" or isinstance(node, (Flatten, Reshape)):
        if node.out.dtype != ins[0].dtype:
            _fail(node, f"output type {node.out.dtype.name} must equal the input type "
                  f"{ins[0].dtype.name}: this op does not requantize")
        return
    if isinstance(node, Input):
        return
    if isinstance(node, Add) and (node.input_multipliers.shape != (2, node.out.channels)
                                  or node.input_shifts.shape != (2, node.out.channels)):
        _fail(node, f"input multipliers and shifts must be (2, {node.out.channels})")
    if isinstance(node, Add) and not np.array_equal(node.requant.shift, node.input_shifts.max(0)):
        _fail(node, "the requant shift must be the larger of the two input shifts")
    need = _compute_acc_bits(node, ins)
    if node.acc_bits != need:
        problem = "accumulator overflow" if node.acc_bits < need else "accumulator wider than needed"
        _fail(node, f"{problem}: the exact bound needs {need} bits, the node declares "
              f"{node.acc_bits}")
    _check_requant(node, node.requant, node.out, node.acc_bits, node.out.channels)


def validate(graph: Graph) -> None:
    if not graph.nodes or not isinstance(graph.nodes[0], Input):
        raise IRError(f"graph {graph.name!r}: the first node must be an Input")
    seen: set[str] = set()
    for node in graph.nodes:
        if node.name in seen:
            _fail(node, "name is used twice")
        if isinstance(node, Input) and node is not graph.nodes[0]:
            _fail(node, "only one Input is supported")
        _check_node(graph, node, seen)
        seen.add(node.name)
