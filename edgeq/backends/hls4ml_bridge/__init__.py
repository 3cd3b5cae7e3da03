"""hls4ml bridge: a fixed-point IR graph -> an hls4ml project, verified by hls4ml's own
C-simulation (``predict`` on the library hls4ml compiles with g++).

The model is handed to hls4ml as a layer list (``hls4ml.model.ModelGraph.from_layer_list``, the
form hls4ml's own converters produce) with every precision set explicitly: the input, and per
layer the weights, bias, accumulator (the IR's exact ``acc_bits``) and result, whose rounding and
saturation modes are the IR's requantization modes. With power-of-two scales, an IR tensor of
integers ``q`` and scale ``2**-f`` is exactly ``ap_fixed<bits, bits - f>``, the accumulator is
exact, and hls4ml's cast of the accumulator to the result type is the IR's requantization.
Mapped ops: Dense, Conv1D/Conv2D, max and average pooling, global average pooling, Flatten and
the residual Add. Anything hls4ml cannot represent that way (minifloat, dyadic multipliers, TFLite
double rounding, per-channel scales, averages over a window that is not a power of two) or the
bridge does not map (grouped convolutions) is refused with a message that names it and points to
``--target hls``.

Options: ``io_type`` (io_parallel | io_stream, default io_parallel), ``reuse_factor``
(default 1), ``part`` and ``clock`` (ns) for hls4ml's build script.
"""

import contextlib
import io
import math
import warnings
from pathlib import Path

import numpy as np

from ... import golden
from ...golden.interpreter import check_input
from ...ir.graph import (
    Add,
    Conv,
    Dense,
    Flatten,
    GlobalAvgPool,
    Graph,
    Input,
    Pool,
    Reshape,
    TensorType,
)
from ...numerics import AP_NAMES, IntType, signed_width
from .. import compare_outputs, read_manifest, write_manifest

TARGET = "hls4ml"
PROJECT_DIR = "hls4ml_prj"
PROJECT_NAME = "myproject"
DEFAULTS = {"io_type": "io_parallel", "reuse_factor": "1", "part": "xc7z020clg400-1",
            "clock": "10"}
IO_TYPES = ("io_parallel", "io_stream")


class UnsupportedByHls4ml(ValueError):
    """The model uses something hls4ml (or this bridge) cannot represent exactly."""

    def __init__(self, what: str, by_bridge: bool = False):
        who = "the hls4ml bridge does not map" if by_bridge else \
            "hls4ml cannot represent this model bit-exactly:"
        super().__init__(f"{who} {what}. Use `--target hls` (edgeq's own HLS backend covers "
                         "every IR feature).")


def _exponent(scale, what: str) -> int:
    """``f`` with ``scale == 2**-f``, for a scalar (or uniform) power-of-two scale."""
    s = np.unique(np.asarray(scale, dtype=np.float64))
    if s.size != 1:
        raise UnsupportedByHls4ml(f"{what} has per-channel scales; hls4ml takes one fixed-point "
                                  "precision per tensor")
    frac, exp = math.frexp(float(s[0]))
    if frac != 0.5:
        raise UnsupportedByHls4ml(f"{what} has scale {float(s[0]):.6g}, not a power of two "
                                  "(fixed-point needs power-of-two scales)")
    return 1 - exp


def _integer_type(dtype, what: str) -> IntType:
    if not isinstance(dtype, IntType):
        raise UnsupportedByHls4ml(f"{what} is {dtype.name}: hls4ml has no minifloat types")
    return dtype


def fixed(bits: int, signed: bool, frac: int, rounding=None, overflow=None) -> str:
    """hls4ml's precision string for integers ``q`` at scale ``2**-frac``."""
    modes = ""
    if rounding is not None:
        modes = f",{AP_NAMES[rounding].removeprefix('AP_')},{overflow.value}"
    return f"{'' if signed else 'u'}fixed<{bits},{bits - frac}{modes}>"


def _tensor_precision(t: TensorType, what: str, rounding=None, overflow=None) -> tuple[str, int]:
    dtype = _integer_type(t.dtype, what)
    frac = _exponent(t.scale, what)
    return fixed(dtype.bits, dtype.signed, frac, rounding, overflow), frac


class _Layers:
    """Builds hls4ml's layer list and per-layer precisions, one IR node at a time."""

    def __init__(self, graph: Graph):
        self.graph = graph
        self.layers: list[dict] = []
        self.precision: dict[str, dict] = {}
        self.names: dict[str, str] = {}  # IR node -> the hls4ml layer producing its tensor
        self.types: dict[str, tuple[str, int]] = {}  # IR node -> (precision, fraction bits)

    def add(self, node, entry: dict, precision: dict):
        name = "input_layer" if node.name == "input" else node.name
        if not isinstance(node, Input):
            entry["inputs"] = [self.names[i] for i in node.inputs]
        self.layers.append({"class_name": entry.pop("class_name"), "name": name, **entry})
        self.precision[name] = {"Precision": precision}
        self.names[node.name] = name
        rq = getattr(node, "requant", None)
        if rq is not None and rq.relu and node.out.dtype.signed:
            # an unsigned result already clamps at 0; a signed one needs hls4ml's ReLU after
            # the cast, which is the IR's order (round, overflow, then max(y, 0))
            relu = f"{name}_relu"
            self.layers.append({"class_name": "Activation", "activation": "relu", "name": relu,
                                "inputs": [name]})
            self.precision[relu] = {"Precision": {"result": precision["result"]}}
            self.names[node.name] = relu

    def result(self, node) -> tuple[str, int]:
        """The precision of a requantized output: the IR's rounding and overflow modes."""
        rq = node.requant
        where = f"{node.kind} '{node.name}'"
        if rq.mode == "tflm":
            raise UnsupportedByHls4ml(f"{where} uses TFLite double rounding")
        if np.any(rq.multiplier != 1):
            raise UnsupportedByHls4ml(f"{where} requantizes with dyadic multipliers "
                                      f"(M={int(rq.multiplier.max())}); hls4ml rescales only "
                                      "by powers of two")
        return _tensor_precision(node.out, f"the output of {where}", rq.rounding, rq.overflow)

    def input(self, node: Input):
        self.types[node.name] = _tensor_precision(node.out, f"input '{node.name}'")
        self.add(node, {"class_name": "InputLayer", "input_shape": list(node.out.shape)},
                 {"result": self.types[node.name][0]})

    def matrix(self, node):
        """Dense, Conv1D, Conv2D: exact accumulator, one rounding into the result type."""
        where = f"{node.kind} '{node.name}'"
        if isinstance(node, Conv) and node.groups != 1:
            raise UnsupportedByHls4ml(f"{where} (grouped/depthwise convolution)", by_bridge=True)
        result, f_out = self.result(node)
        tin = self.graph.input_types(node)[0]
        f_in = self.types[node.inputs[0]][1]
        w_type = _integer_type(node.weight_type, f"the weights of {where}")
        f_w = _exponent(node.weight_scale, f"the weights of {where}")
        f_acc = f_in + f_w
        if np.any(node.requant.shift != f_acc - f_out):
            raise UnsupportedByHls4ml(f"{where} shifts by {node.requant.shift.tolist()}, not "
                                      f"the {f_acc - f_out} its scales give")
        bias = node.bias if node.bias is not None else np.zeros(node.weight.shape[0], np.int64)
        b_bits = signed_width(min(int(bias.min()), 0), max(int(bias.max()), 0))
        # real values, exact in float64: hls4ml quantizes them to the precisions below;
        # hls4ml's kernels are Keras-shaped, (*kernel, C_in, C_out)
        entry = {"weight_data": np.ldexp(np.moveaxis(node.weight, 0, -1).astype(np.float64), -f_w),
                 "bias_data": np.ldexp(bias.astype(np.float64), -f_acc)}
        if isinstance(node, Dense):
            entry.update(class_name="Dense", n_in=node.weight.shape[1], n_out=node.weight.shape[0])
        else:
            entry.update(self._window(node, tin, node.kernel, node.stride, node.padding))
            entry.update(class_name=f"Conv{len(node.kernel)}D", n_chan=tin.channels,
                         n_filt=node.out.channels)
        self.types[node.name] = (result, f_out)
        self.add(node, entry, {"weight": fixed(w_type.bits, w_type.signed, f_w),
                               "bias": fixed(b_bits, True, f_acc),
                               "accum": fixed(node.acc_bits, True, f_acc), "result": result})

    @staticmethod
    def _window(node, tin, kernel, stride, padding) -> dict:
        if len(kernel) == 1:
            return {"data_format": "channels_last", "in_width": tin.shape[0],
                    "out_width": node.out.shape[0], "filt_width": kernel[0],
                    "stride_width": stride[0], "pad_left": padding[0], "pad_right": padding[0]}
        return {"data_format": "channels_last", "in_height": tin.shape[0],
                "in_width": tin.shape[1], "out_height": node.out.shape[0],
                "out_width": node.out.shape[1], "filt_height": kernel[0], "filt_width": kernel[1],
                "stride_height": stride[0], "stride_width": stride[1], "pad_top": padding[0],
                "pad_bottom": padding[0], "pad_left": padding[1], "pad_right": padding[1]}

    def pool(self, node: Pool):
        tin = self.graph.input_types(node)[0]
        kind = "Max" if node.mode == "max" else "Average"
        if len(node.kernel) == 1:
            entry = {"class_name": f"{kind}Pooling1D", "data_format": "channels_last",
                     "n_in": tin.shape[0], "n_out": node.out.shape[0], "n_filt": tin.channels,
                     "pool_width": node.kernel[0], "stride_width": node.stride[0],
                     "pad_left": 0, "pad_right": 0}
        else:
            entry = {"class_name": f"{kind}Pooling2D", "n_filt": tin.channels,
                     **self._window(node, tin, node.kernel, node.stride, (0, 0))}
            entry["pool_height"] = entry.pop("filt_height")
            entry["pool_width"] = entry.pop("filt_width")
        if node.mode == "max":
            self.types[node.name] = self.types[node.inputs[0]]  # exact: same type and scale
            self.add(node, entry, {"result": self.types[node.name][0]})
        else:
            self.average(node, entry, node.kernel)

    def global_avg_pool(self, node: GlobalAvgPool):
        tin = self.graph.input_types(node)[0]
        if len(tin.shape) == 2:
            entry = {"class_name": "GlobalAveragePooling1D", "n_in": tin.shape[0]}
        else:
            entry = {"class_name": "GlobalAveragePooling2D", "in_height": tin.shape[0],
                     "in_width": tin.shape[1]}
        entry.update(data_format="channels_last", n_filt=tin.channels)
        self.average(node, entry, tin.shape[:-1])

    def average(self, node, entry: dict, window: tuple[int, ...]):
        """hls4ml (nnet_pooling.h) sums the window in accum_t, divides the sum by the count
        k with an integer division of accum_t's raw bits (truncating), then casts to result_t.
        With ``log2(k)`` more fraction bits than the input, the raw sum is a multiple of k: the
        quotient is the exact mean and the cast is the IR's one rounding of ``sum / 2**c``."""
        where = f"{node.kind} '{node.name}'"
        k = math.prod(window)
        e = k.bit_length() - 1
        if k != 1 << e:
            shape = "x".join(map(str, window))
            raise UnsupportedByHls4ml(
                f"{where} averages k={k} values (a {shape} window): hls4ml divides the window sum by k "
                "in fixed point, exact only when k is a power of two (1, 2, 4, 8, ...), while "
                "the IR multiplies by a dyadic approximation of 1/k")
        result, f_out = self.result(node)
        f_acc = self.types[node.inputs[0]][1] + e
        if np.any(node.requant.shift != f_acc - f_out):
            raise UnsupportedByHls4ml(f"{where} shifts by {node.requant.shift.tolist()}, not "
                                      f"the {f_acc - f_out} its scales and k={k} give")
        self.types[node.name] = (result, f_out)
        self.add(node, entry, {"accum": fixed(node.acc_bits + e, True, f_acc), "result": result})

    def flatten(self, node):
        self.types[node.name] = self.types[node.inputs[0]]
        self.add(node, {"class_name": "Reshape", "target_shape": list(node.out.shape)},
                 {"result": self.types[node.name][0]})

    def residual_add(self, node: Add):
        """hls4ml adds the two fixed-point values exactly and casts the sum to the result type:
        the IR's aligned sum rounded once."""
        result, f_out = self.result(node)
        fa, fb = (self.types[i][1] for i in node.inputs)
        if np.any(node.input_multipliers != 1) or \
                np.any(node.input_shifts != np.array([[fa - f_out], [fb - f_out]])):
            raise UnsupportedByHls4ml(f"Add '{node.name}' rescales its inputs by non-powers of two")
        self.types[node.name] = (result, f_out)
        self.add(node, {"class_name": "Merge", "op": "add"}, {"result": result})


def layer_list(graph: Graph) -> tuple[list[dict], dict]:
    """hls4ml's layer list and per-layer precision config for ``graph``, or UnsupportedByHls4ml."""
    build = _Layers(graph)
    for node in graph:
        if isinstance(node, Input):
            build.input(node)
        elif isinstance(node, (Dense, Conv)):
            build.matrix(node)
        elif isinstance(node, Pool):
            build.pool(node)
        elif isinstance(node, GlobalAvgPool):
            build.global_avg_pool(node)
        elif isinstance(node, (Flatten, Reshape)) and len(node.out.shape) == 1:
            build.flatten(node)
        elif isinstance(node, Add):
            build.residual_add(node)
        else:
            raise UnsupportedByHls4ml(f"{node.kind} '{node.name}' (it maps Dense, Conv1D/Conv2D, "
                                      "max/average pooling, global average pooling, Flatten and "
                                      "Add of fixed-point models)", by_bridge=True)
    return build.layers, build.precision


def _options(options: dict) -> dict:
    unknown = set(options) - set(DEFAULTS)
    if unknown:
        raise ValueError(f"unknown hls4ml option(s) {', '.join(sorted(unknown))}; allowed: "
                         f"{', '.join(DEFAULTS)}")
    opts = {**DEFAULTS, **{k: v for k, v in options.items() if v is not None}}
    if opts["io_type"] not in IO_TYPES:
        raise ValueError(f"hls4ml option io_type={opts['io_type']!r}: choose one of "
                         f"{', '.join(IO_TYPES)}")
    try:
        opts["reuse_factor"] = int(opts["reuse_factor"])
        if opts["reuse_factor"] < 1:
            raise ValueError
    except ValueError:
        raise ValueError(f"hls4ml option reuse_factor={opts['reuse_factor']!r} must be a "
                         "positive integer") from None
    return opts


def convert(graph: Graph, project: Path, **options):
    """The hls4ml ModelGraph of ``graph``, set to write its project into ``project``."""
    opts = _options(options)
    layers, precision = layer_list(graph)
    import hls4ml  # noqa: F401  (registers the backends)
    from hls4ml.model import ModelGraph

    config = {"Backend": "Vivado", "OutputDir": str(project), "ProjectName": PROJECT_NAME,
              "Part": opts["part"], "ClockPeriod": float(opts["clock"]), "IOType": opts["io_type"],
              "HLSConfig": {"Model": {"Precision": "fixed<16,6>", "Strategy": "Latency",
                                      "ReuseFactor": opts["reuse_factor"]},
                            "LayerName": precision}}
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return ModelGraph.from_layer_list(config, layers)


def compile_model(model) -> None:
    """hls4ml's compile(): (write the project and) build its C-simulation library with g++."""
    with contextlib.redirect_stdout(io.StringIO()):
        model.compile()


def build(graph: Graph, out: Path, options: dict) -> None:
    model = convert(graph, out / PROJECT_DIR, **options)
    compile_model(model)
    write_manifest(out, graph, TARGET, project=PROJECT_DIR, **_options(options))


def predict_integers(model, graph: Graph, x: np.ndarray) -> np.ndarray:
    """hls4ml's predict on integer inputs, returned as the output tensor's integers."""
    f_in = _exponent(graph.input.out.scale, "the input")
    f_out = _exponent(graph.output.out.scale, "the output")
    real = np.ascontiguousarray(np.ldexp(x.astype(np.float64), -f_in).reshape(len(x), -1))
    y = np.asarray(model.predict(real), dtype=np.float64).reshape((len(x),) + graph.output.out.shape)
    q = np.ldexp(y, f_out)
    if not np.array_equal(q, np.round(q)):
        raise RuntimeError("hls4ml returned values that are not on the output's fixed-point grid")
    return q.astype(np.int64)


def verify(out_dir: Path, samples: int, inputs, seed: int, **options):
    if options:
        raise ValueError(f"hls4ml verify takes no options, got {', '.join(sorted(options))}")
    manifest, graph = read_manifest(out_dir)
    x = golden.random_inputs(graph, samples, seed) if inputs is None else np.asarray(inputs)
    if x.shape == graph.input.out.shape:
        x = x[None]
    x = check_input(graph, x)
    from hls4ml.converters import link_existing_project

    project = Path(out_dir) / manifest["project"]
    if not (project / "hls4ml_config.yml").is_file():
        raise FileNotFoundError(f"{project} holds no hls4ml project; rebuild with `edgeq build`")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = link_existing_project(project)  # the project as `edgeq build` wrote it
    compile_model(model)
    return compare_outputs(TARGET, golden.run(graph, x), predict_integers(model, graph, x),
                           {"io_type": manifest.get("io_type")})
