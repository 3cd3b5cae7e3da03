"""Brevitas model -> edgeq IR, through Brevitas' own QONNX export; and Brevitas' integers.

``import_brevitas`` exports the model to QONNX in a temporary folder and imports that file, so
a Brevitas model and the QONNX file it exports always give the same IR. ``brevitas_integers``
reads the integers Brevitas itself computes (``QuantTensor.int()``, minifloat grid integers),
in the IR's channels-last layout: the reference the IR golden must equal.
"""

import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..ir import Graph
from ..numerics import MinifloatType
from .qonnx import MULTIPLIER_BITS, UnsupportedModelError, import_qonnx


def supported_modules() -> dict:
    """Brevitas and torch module classes the import accepts, by name."""
    import brevitas.nn as qnn
    from torch import nn

    classes = [qnn.QuantLinear, qnn.QuantConv1d, qnn.QuantConv2d, qnn.QuantReLU,
               qnn.QuantIdentity, qnn.QuantHardTanh, qnn.TruncAvgPool2d,
               qnn.TruncAdaptiveAvgPool2d, qnn.QuantEltwiseAdd,
               nn.MaxPool1d, nn.MaxPool2d, nn.AvgPool2d, nn.AdaptiveAvgPool2d, nn.Flatten,
               nn.Identity, nn.Dropout, nn.ReLU]
    return {c.__name__: c for c in classes}


def check_modules(model) -> None:
    """Refuse, by name, any module the IR cannot express (before exporting anything)."""
    from torch import fx, nn

    supported = tuple(supported_modules().values())
    containers = (nn.Sequential, nn.ModuleList, nn.ModuleDict, fx.GraphModule)
    skip: list[str] = []
    for name, module in model.named_modules():
        if any(p == "" or name.startswith(p + ".") for p in skip):
            continue  # inside a supported layer: its quantizers
        if isinstance(module, supported):
            skip.append(name)
            continue
        if isinstance(module, containers) or list(module.children()) or module is model:
            continue  # a container: its children are checked
        raise UnsupportedModelError(
            f"module '{name}' ({type(module).__name__}) is not supported; supported modules: "
            f"{', '.join(supported_modules())} (BatchNorm: fuse it first, "
            "edgeq.quant.qat.fuse_batchnorm)")


def _unpacked(model):
    """The model with its output as a plain tensor (a returned QuantTensor does not trace)."""
    import torch
    from brevitas.quant_tensor import _unpack_quant_tensor

    class Unpacked(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.model = inner

        def forward(self, x):
            return _unpack_quant_tensor(self.model(x))

    return Unpacked(model)


def export_qonnx(model, example_input, path) -> Path:
    """Brevitas' QONNX export of ``model`` (eval mode) for inputs shaped like ``example_input``."""
    import torch

    from ..quant.qat.presets import qonnx_manager

    check_modules(model)
    example_input = torch.as_tensor(np.asarray(example_input[:1], dtype=np.float32))
    path = Path(path)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            qonnx_manager().export(_unpacked(model), input_t=example_input,
                                   export_path=str(path), dynamo=False)
    finally:
        model.train(was_training)
    return path


def import_brevitas(model, example_input, name: str = "model",
                    multiplier_bits: int = MULTIPLIER_BITS,
                    keep_onnx: str | Path | None = None) -> Graph:
    """The IR graph of a Brevitas model (through its QONNX export).

    ``keep_onnx`` also writes the intermediate QONNX file there.
    """
    with tempfile.TemporaryDirectory(prefix="edgeq-qonnx-") as tmp:
        path = export_qonnx(model, example_input, Path(keep_onnx or Path(tmp) / f"{name}.onnx"))
        return import_qonnx(path, name=name, multiplier_bits=multiplier_bits)


def to_channels_last(a: np.ndarray) -> np.ndarray:
    """(N, C, ...) -> (N, ..., C); vectors unchanged."""
    return a if a.ndim <= 2 else np.moveaxis(a, 1, -1)


def tensor_integers(qt, dtype=None) -> np.ndarray:
    """Integers of a Brevitas QuantTensor in the IR's channels-last layout.

    An integer QuantTensor gives ``.int()``; a minifloat one its values on the IR grid,
    ``value / (scale * 2**grid_exponent)`` (exact: both are powers of two apart).
    """
    import torch
    from brevitas.quant_tensor import FloatQuantTensor, IntQuantTensor

    with torch.no_grad():
        if isinstance(qt, IntQuantTensor):
            ints = qt.int().numpy().astype(np.int64)
        elif isinstance(qt, FloatQuantTensor):
            if dtype is None:
                dtype = MinifloatType(int(qt.exponent_bit_width), int(qt.mantissa_bit_width),
                                      int(qt.exponent_bias))
            grid = (qt.value / qt.scale).double().numpy() / 2.0 ** dtype.grid_exponent
            ints = np.round(grid).astype(np.int64)
            # value / scale is float32 arithmetic: off the integer by rounding, relatively
            if not np.all(np.abs(grid - ints) <= 1e-5 * np.maximum(1, np.abs(ints))):
                raise ValueError("minifloat values are not on their grid")
        else:
            raise TypeError(f"expected a Brevitas QuantTensor, got {type(qt).__name__}; build "
                            "the model with return_quant_tensor=True on its last layer")
    return to_channels_last(ints)


def input_integers(graph: Graph, x) -> np.ndarray:
    """Float inputs (NCHW, as the model takes them) quantized exactly as Brevitas does:
    float32 division by the scale, round half to even, saturate."""
    from ..golden import quantize_input
    from ..ir import TensorType
    from ..numerics import IntType

    t = graph.input.out
    x = to_channels_last(np.asarray(x, dtype=np.float32))
    if isinstance(t.dtype, IntType):
        lo, hi = graph.metadata.get("input_range", (t.dtype.lo, t.dtype.hi))  # narrow range
        v = x / np.float32(t.scale)  # float32, as Brevitas computes it
        return np.rint(np.clip(v, lo, hi)).astype(np.int64)
    # minifloat: Brevitas divides by its own scale in float32; the grid unit is a power of two
    brevitas_scale = np.float32(t.scale / 2.0 ** t.dtype.grid_exponent)
    v = (x / brevitas_scale).astype(np.float64) * 2.0 ** -t.dtype.grid_exponent
    return quantize_input(v, TensorType(t.dtype, t.shape, 1.0))


def brevitas_integers(model, x, dtype=None) -> np.ndarray:
    """Run the Brevitas model (eval mode) on float inputs; its output integers, channels-last."""
    import torch

    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            out = model(torch.as_tensor(np.asarray(x, dtype=np.float32)))
    finally:
        model.train(was_training)
    return tensor_integers(out, dtype)


@dataclass
class Agreement:
    """How the IR golden's output integers compare with Brevitas' on one batch."""

    total: int
    identical: int
    max_abs_diff: int
    first: object  # edgeq.golden.Difference or None
    first_layer: object = None  # the first layer that differs (edgeq.golden.Difference)

    @property
    def fraction(self) -> float:
        return self.identical / self.total if self.total else 1.0

    @property
    def bit_exact(self) -> bool:
        return self.identical == self.total

    def __str__(self) -> str:
        text = (f"{self.identical}/{self.total} output integers identical "
                f"({100 * self.fraction:.3f}%), max |difference| {self.max_abs_diff}")
        if self.first:
            text += f"; first difference: {self.first}"
            text += (f"; first differing layer: {self.first_layer}" if self.first_layer else
                     "; every traced layer before the output agrees")
        return text


def compare(model, graph: Graph, x) -> Agreement:
    """Golden(IR) against Brevitas on float inputs ``x`` (the model's own layout)."""
    from ..golden import first_difference, run

    expected = brevitas_integers(model, x, graph.output.out.dtype)
    actual = run(graph, input_integers(graph, x))
    diff = np.abs(expected.astype(np.int64) - actual.astype(np.int64))
    first = first_difference(expected, actual)
    layer = None
    if first is not None:  # which layer: the same batch again, layer by layer (float32
        layer = locate_difference(model, graph, x)  # results can depend on the batch size)
    return Agreement(int(diff.size), int((diff == 0).sum()), int(diff.max(initial=0)), first,
                     layer)


def brevitas_trace(model, graph: Graph, x) -> dict:
    """Every IR node's integers as Brevitas computes them, read with forward hooks on the
    modules the import recorded (a module called more than once is left out)."""
    from brevitas.quant_tensor import QuantTensor

    seen: dict[str, list] = {}
    hooks = []
    for ir_name, path in graph.metadata.get("modules", {}).items():
        try:
            module = model.get_submodule(path)
        except AttributeError:
            continue
        hooks.append(module.register_forward_hook(
            lambda mod, args, out, key=ir_name: seen.setdefault(key, []).append(out)))
    try:
        brevitas_integers(model, x)
    finally:
        for h in hooks:
            h.remove()
    return {k: tensor_integers(v[0], graph[k].out.dtype) for k, v in seen.items()
            if len(v) == 1 and isinstance(v[0], QuantTensor)
            and tensor_integers(v[0], graph[k].out.dtype).shape[1:] == graph[k].out.shape}


def locate_difference(model, graph: Graph, x):
    """The first layer whose integers differ between Brevitas and the golden on inputs ``x``
    (in the model's layout), or None when every traced layer agrees."""
    from ..golden import first_layer_difference, run

    golden = run(graph, input_integers(graph, x), trace=True)
    return first_layer_difference(graph, brevitas_trace(model, graph, x), golden)
