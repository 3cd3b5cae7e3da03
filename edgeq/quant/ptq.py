"""Integer-only post-training quantization: a float PyTorch model and calibration data to the IR.

HAWQ-V3 style: weights symmetric per output channel, activations per tensor (unsigned after a
ReLU), bias int32 at the accumulator scale, every rescale a dyadic ``(M, c)`` pair with an
M of ``multiplier_bits`` bits (DESIGN.md). No float remains at inference.

    result = quantize(model, calib)          # calib: a float batch in the model's layout
    result.save("model.edgeq")
    result.run(x)                            # the golden on float inputs, dequantized
    result.agreement(x)                      # golden vs fake-quant codes, per layer
"""

from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from .. import golden
from ..ir import Graph, GraphBuilder, save
from ..numerics import IntType
from .lower import FloatOp, LoweredModel, LoweringError, lower_traced, trace
from .plan import PTQError, QuantPlan, Settings, make_plan
from .simulate import SimulatedModel

MULTIPLIER_BITS = (8, 31)
__all__ = ["LoweringError", "PTQError", "PTQResult", "build_graph", "quantize"]


def to_ir_layout(op: FloatOp, values) -> np.ndarray:
    """A batch of ``op``'s values from PyTorch layout to the IR's channels-last layout."""
    v = np.asarray(values)
    if op.flatten_from is not None:
        v = v.reshape((len(v),) + op.flatten_from)
        return np.moveaxis(v, 1, -1).reshape(len(v), -1)
    return np.moveaxis(v, 1, -1) if v.ndim > 2 else v


def from_ir_layout(op: FloatOp, values) -> np.ndarray:
    v = np.asarray(values)
    if op.flatten_from is not None:
        v = v.reshape((len(v),) + op.flatten_from[1:] + op.flatten_from[:1])
        return np.moveaxis(v, -1, 1).reshape(len(v), -1)
    return np.moveaxis(v, -1, 1) if v.ndim > 2 else v


def _dense_weight(weight: np.ndarray, source: FloatOp) -> np.ndarray:
    """PyTorch flattens channels-first, the IR channels-last: reorder the Linear's columns."""
    if source.flatten_from is None:
        return weight
    w = weight.reshape((len(weight),) + source.flatten_from)
    return np.moveaxis(w, 1, -1).reshape(len(weight), -1)


def build_graph(lowered: LoweredModel, plan: QuantPlan, name: str = "model",
                metadata: dict | None = None, requant: str = "dyadic") -> Graph:
    """The IR of a quantization plan; ``requant="tflm"`` gives TFLite's double rounding (the
    MCU target's ``mode="tflm"``) instead of single-rounding dyadic requantization."""
    b = GraphBuilder(name, requant=requant, multiplier_bits=plan.multiplier_bits)
    ir_name: dict[str, str] = {}
    for op in lowered.ops:
        t = plan.tensors[op.name]
        x = ir_name.get(op.inputs[0]) if op.inputs else None
        try:
            if op.kind == "input":
                ir_name[op.name] = b.input(op.ir_shape, t.dtype, t.scale, name=op.name)
                continue
            relu = op.act is not None
            common = {"out_dtype": t.dtype, "out_scale": t.scale, "relu": relu, "name": op.name}
            if op.kind in ("linear", "conv"):
                lq = plan.layers[op.name]
                layer = dict(bias=lq.bias, weight_type=IntType(lq.bits), weight_scale=lq.scale,
                             **common)
                if op.kind == "linear":
                    w = _dense_weight(lq.weight, lowered.by_name[op.inputs[0]])
                    ir_name[op.name] = b.dense(x, w, **layer)
                else:
                    ir_name[op.name] = b.conv(x, np.moveaxis(lq.weight, 1, -1), stride=op.stride,
                                              padding=op.padding, groups=op.groups, **layer)
            elif op.kind == "maxpool":
                ir_name[op.name] = b.maxpool(x, op.kernel, op.stride, name=op.name)
            elif op.kind == "avgpool":
                ir_name[op.name] = b.avgpool(x, op.kernel, stride=op.stride, **common)
            elif op.kind == "gap":
                ir_name[op.name] = b.global_avgpool(x, **common)
            elif op.kind == "add":
                ir_name[op.name] = b.add(x, ir_name[op.inputs[1]], **common)
            elif op.kind == "flatten":
                ir_name[op.name] = b.flatten(x, name=op.name)
        except ValueError as e:
            raise PTQError(f"{op.source}: {e}") from e
    return b.build({"frontend": "edgeq.quant.ptq", **(metadata or {})})


@dataclass
class PTQResult:
    graph: Graph
    lowered: LoweredModel
    plan: QuantPlan
    settings: Settings
    tools: dict = field(default_factory=dict)

    def __post_init__(self):
        self.fake_quant = SimulatedModel(self.lowered, self.plan, "fake")
        self.integer_model = SimulatedModel(self.lowered, self.plan, "integer")

    @property
    def input_op(self) -> FloatOp:
        return self.lowered.ops[0]

    def quantize_input(self, x) -> np.ndarray:
        """Float inputs in the model's layout to the IR input's integers (channels-last)."""
        x = np.asarray(x, dtype=np.float64)
        return golden.quantize_input(to_ir_layout(self.input_op, x), self.graph.input.out)

    def run_integers(self, x) -> np.ndarray:
        return golden.run(self.graph, self.quantize_input(x))

    def run(self, x) -> np.ndarray:
        """The golden on float inputs: the dequantized output in the model's layout."""
        y = self.run_integers(x) * self.graph.output.out.scale
        return from_ir_layout(self.lowered.output, y)

    def agreement(self, x, model: SimulatedModel | None = None, per_layer: bool = False,
                  tolerance: int = 0) -> dict[str, float]:
        """Per op, the fraction of the golden's integers equal to (within ``tolerance`` of) a
        simulation's codes (the fake-quant model by default); ``"output"`` repeats the last op.
        The simulation runs on its own codes end to end, or with ``per_layer`` each op is fed
        the golden's inputs."""
        trace_ = golden.run(self.graph, self.quantize_input(x), trace=True)
        given = None
        if per_layer:
            given = {op.name: from_ir_layout(op, trace_[op.name]) for op in self.lowered.ops
                     if op.name in trace_}
        codes = (model or self.fake_quant).codes(
            torch.as_tensor(np.asarray(x), dtype=torch.float32), given)
        rates = {}
        for op in self.lowered.ops:
            if op.name in trace_:
                sim = to_ir_layout(op, codes[op.name].numpy())
                rates[op.name] = float(np.mean(np.abs(sim - trace_[op.name]) <= tolerance))
        rates["output"] = rates[self.lowered.output.name]
        return rates

    def save(self, path, force: bool = False) -> Path:
        return save(self.graph, path, force=force)


def _check_settings(s: Settings):
    lo, hi = MULTIPLIER_BITS
    if not lo <= s.multiplier_bits <= hi:
        raise PTQError(f"multiplier width B={s.multiplier_bits} is outside {lo}..{hi}")
    for what, bits in (("input", s.input_bits), ("output", s.output_bits)):
        if not 2 <= bits <= 32:
            raise PTQError(f"{what} bits {bits} are outside 2..32")


def quantize(model: nn.Module, calib, *, weight_bits: int | dict = 8, act_bits: int | dict = 8,
             input_bits: int = 8, output_bits: int = 16, method: str = "mse",
             percentile: float = 99.99, weight_method: str = "mse", multiplier_bits: int = 16,
             output_margin: float = 1.5, input_scale: float | None = None,
             input_signed: bool | None = None, equalize: bool = False, gptq: bool = True,
             bias_correction: bool = False, name: str | None = None) -> PTQResult:
    """Quantize a float ``model`` (traceable by torch.fx) with calibration batch ``calib``.

    ``weight_bits``/``act_bits`` are one width or a dict by op name (``lowered.compute_ops()``;
    activation widths name the op producing the tensor). ``method`` picks activation ranges
    (minmax, percentile, mse), ``weight_method`` weight ranges (minmax, mse). The last op's
    output is ``output_bits`` wide with ``output_margin`` headroom over the calibrated range.
    The input is ``input_bits`` wide, signed if ``input_signed`` (default: if the calibration
    data has negatives), with a calibrated scale unless ``input_scale`` fixes it (1/4096 makes
    12-bit ADC codes divided by 4096 exact). ``equalize`` (cross-layer equalization), ``gptq`` and ``bias_correction`` run Brevitas' PTQ
    tools on the float weights before integerization; by default only GPTQ, the one that
    lowered the output error on every example model (docs/PTQ.md has the measurements).
    """
    s = Settings(weight_bits, act_bits, input_bits, output_bits, method, percentile,
                 weight_method, multiplier_bits, output_margin, input_scale, input_signed)
    _check_settings(s)
    calib = torch.as_tensor(np.asarray(calib), dtype=torch.float32)
    gm = trace(model)
    tools = {"equalize": equalize, "gptq": gptq, "bias_correction": bias_correction}
    if equalize:
        from .brevitas_tools import equalize as cross_layer_equalize

        gm = cross_layer_equalize(gm)
    try:
        lowered = lower_traced(gm, calib)
    except RuntimeError as e:  # ShapeProp runs the model: a wrong calibration shape fails here
        raise PTQError(f"the model cannot run on calibration data of shape {tuple(calib.shape)}: "
                       f"{e}") from e
    overrides = None
    if gptq or bias_correction:
        from .brevitas_tools import tune_weights

        overrides = tune_weights(lowered, calib, s, gptq=gptq, bias_correction=bias_correction)
    plan = make_plan(lowered, calib, s, overrides)
    graph = build_graph(lowered, plan, name or type(model).__name__,
                        {"ptq": {**asdict(s), **tools}})
    return PTQResult(graph, lowered, plan, s, tools)
