"""Brevitas' post-training tools, run on the float model before integerization.

- ``equalize``: cross-layer equalization (``brevitas.graph.equalize.EqualizeGraph``) rescales
  the channels of consecutive layers so their weight ranges match; exact in float through ReLU.
- ``tune_weights``: the Conv/Linear layers are swapped for Brevitas layers with the same weight
  quantizer as edgeq's (symmetric, narrow, per output channel, float scale from the max or the
  MSE), then GPTQ (``brevitas.graph.gptq.gptq_mode``) re-rounds the weights column by column
  to compensate each rounding error on the calibration data, and bias correction
  (``brevitas.graph.calibrate.bias_correction_mode``) moves each layer's bias by the mean
  output shift its weight quantization causes. The integers and scales Brevitas ends with are
  used as they are; the corrected float bias is quantized at the accumulator scale by edgeq.
"""

import copy
import warnings

import numpy as np
import torch
from torch import fx, nn

with warnings.catch_warnings():  # an optional accelerator package edgeq does not need
    warnings.filterwarnings("ignore", "fast_hadamard_transform")
    from brevitas import nn as qnn
    from brevitas.graph.calibrate import bias_correction_mode
    from brevitas.graph.equalize import EqualizeGraph
    from brevitas.graph.gptq import gptq_mode
    from brevitas.graph.standardize import TorchFunctionalToModule
    from brevitas.quant.base import MSESymmetricScale
    from brevitas.quant.scaled_int import Int8WeightPerChannelFloat

from .lower import LoweredModel
from .plan import Settings, WeightOverride

BATCH = 256


class Int8WeightPerChannelFloatMSE(MSESymmetricScale, Int8WeightPerChannelFloat):
    """Per-channel weights with the scale minimizing the quantization MSE."""


def equalize(gm: fx.GraphModule, iterations: int = 20) -> fx.GraphModule:
    """Cross-layer equalization of a traced, BatchNorm-folded float model (functional ReLU and
    pooling become modules first: Brevitas recognizes scale-invariant ops by module)."""
    with torch.no_grad():
        return EqualizeGraph(iterations=iterations).apply(TorchFunctionalToModule().apply(gm))


def _quant_layer(m: nn.Module, bits: int, weight_method: str) -> nn.Module:
    kw = {"weight_quant": Int8WeightPerChannelFloatMSE if weight_method == "mse"
          else Int8WeightPerChannelFloat, "weight_bit_width": bits,
          "bias": m.bias is not None, "return_quant_tensor": False}
    if isinstance(m, nn.Linear):
        q = qnn.QuantLinear(m.in_features, m.out_features, **kw)
    else:
        cls = qnn.QuantConv1d if isinstance(m, nn.Conv1d) else qnn.QuantConv2d
        q = cls(m.in_channels, m.out_channels, m.kernel_size, stride=m.stride, padding=m.padding,
                groups=m.groups, **kw)
    q.load_state_dict(m.state_dict(), strict=False)
    return q.eval()


def _batches(model: nn.Module, calib: torch.Tensor):
    for i in range(0, len(calib), BATCH):
        model(calib[i:i + BATCH])


def tune_weights(lowered: LoweredModel, calib: torch.Tensor, s: Settings, gptq: bool = True,
                 bias_correction: bool = True) -> dict[str, WeightOverride]:
    """Per compute op: the integer weights, scales and float bias after GPTQ / bias correction."""
    model = copy.deepcopy(lowered).eval()
    for op in model.compute_ops():
        model.layers[op.name] = _quant_layer(model.layers[op.name],
                                             s.bits(s.weight_bits, op, "weight"),
                                             s.weight_method)
    with torch.no_grad():
        model(calib[:BATCH])  # initializes the weight quantizers
        if gptq:
            with gptq_mode(model, use_quant_activations=False, act_order=True) as g:
                for _ in range(g.num_layers):
                    _batches(g.model, calib)
                    g.update()
        if bias_correction:
            with bias_correction_mode(model):
                _batches(model, calib)
    overrides = {}
    for op in model.compute_ops():
        layer = model.layers[op.name]
        qw = layer.quant_weight()
        scale = qw.scale.detach().reshape(-1).double().numpy()
        ints = torch.round(qw.value / qw.scale).detach().double().numpy().astype(np.int64)
        bias = None if layer.bias is None else layer.bias.detach().double().numpy()
        overrides[op.name] = WeightOverride(ints, scale, bias)
    return overrides
