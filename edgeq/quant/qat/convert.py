"""Float ``nn.Module`` -> Brevitas QAT model, with Brevitas' own graph utilities.

``brevitas.graph.quantize.preprocess_for_quantize`` traces the model and folds every
BatchNorm into the layer before it; ``brevitas.graph.quantize.quantize`` then swaps layers for
their quantized versions with the preset's quantizers, puts a quantizer on the input, after
every layer that has no quantized activation, and aligns the inputs of residual adds.
"""

import copy

import numpy as np

from .presets import Preset
from .presets import preset as as_preset


def fuse_batchnorm(model):
    """A traced copy of the model with every BatchNorm folded into the conv/linear before it
    (eval-mode statistics), by Brevitas' ``MergeBatchNorm``. The model itself is unchanged."""
    from brevitas.fx import symbolic_trace
    from brevitas.graph.fixed_point import MergeBatchNorm

    training = model.training
    model = copy.deepcopy(model).eval()
    graph_model = MergeBatchNorm().apply(symbolic_trace(model))
    graph_model.train(training)
    return graph_model


def layer_maps(p: Preset) -> dict:
    """The module maps ``brevitas.graph.quantize.quantize`` takes, filled from a preset."""
    import brevitas.nn as qnn
    from torch import nn

    # a minifloat layer outputs a plain tensor: only integer layers return QuantTensors
    return_qt = not p.minifloat
    layer = {"weight_quant": p.weight_quant(), "bias_quant": p.bias_quant(),
                 "return_quant_tensor": return_qt}
    # average pools stay float and get a quantizer after them: a window sum requantized once,
    # which is the IR's average pool (a TruncAvgPool2d would round twice with that quantizer)
    compute = {nn.Linear: (qnn.QuantLinear, layer), nn.Conv1d: (qnn.QuantConv1d, layer),
               nn.Conv2d: (qnn.QuantConv2d, layer), nn.AvgPool1d: None, nn.AvgPool2d: None,
               nn.AdaptiveAvgPool2d: None}
    identity = {
        "signed": (qnn.QuantIdentity, {"act_quant": p.act_quant(True), "return_quant_tensor": True}),
        "unsigned": (qnn.QuantIdentity, {"act_quant": p.act_quant(False),
                                             "return_quant_tensor": True})}
    acts = {nn.ReLU: (qnn.QuantReLU, {"act_quant": p.act_quant(False),
                                          "return_quant_tensor": True})}
    return {"quant_identity_map": identity, "compute_layer_map": compute, "quant_act_map": acts,
                "unsigned_act_tuple": (nn.ReLU,)}


def _functional_to_module():
    import torch
    from brevitas.graph.standardize import TorchFunctionalToModule
    from torch import nn

    # Brevitas' own table, plus the torch.* spellings of ReLU it does not list
    return TorchFunctionalToModule.FN_TO_MODULE_MAP + ((torch.relu, nn.ReLU),
                                                       (torch.relu_, nn.ReLU))


def _flatten_modules_to_calls(graph_model):
    """``nn.Flatten`` modules as ``torch.flatten`` calls: Brevitas' quantizer sees a quantized
    tensor through the call, but would requantize after the module."""
    import torch
    from torch import nn

    for node in list(graph_model.graph.nodes):
        if node.op == "call_module" and isinstance(graph_model.get_submodule(node.target),
                                                   nn.Flatten):
            module = graph_model.get_submodule(node.target)
            with graph_model.graph.inserting_after(node):
                call = graph_model.graph.call_function(
                    torch.flatten, (node.args[0], module.start_dim, module.end_dim))
            node.replace_all_uses_with(call)
            graph_model.graph.erase_node(node)
    graph_model.graph.eliminate_dead_code()
    graph_model.delete_all_unused_submodules()
    graph_model.recompile()
    return graph_model


def _output_node(graph_model):
    (out,) = [n for n in graph_model.graph.nodes if n.op == "output"]
    arg = out.args[0]
    if not hasattr(arg, "op"):
        raise ValueError("the model must return a single tensor")
    return arg


def quantize_model(model, preset="int8", input_signed: bool | None = None, example_input=None):
    """The Brevitas QAT version of a float model (BatchNorm folded), ready to calibrate/train.

    ``input_signed``: whether the input quantizer is signed; by default unsigned when
    ``example_input`` is non-negative. The last quantizer returns a QuantTensor, whose
    ``.int()`` the import is checked against.
    """
    import brevitas.nn as qnn
    from brevitas.fx import symbolic_trace
    from brevitas.graph.quantize import preprocess_for_quantize, quantize
    from brevitas.graph.standardize import TorchFunctionalToModule

    from ...frontends.brevitas import check_modules

    p = as_preset(preset)
    if input_signed is None:
        input_signed = example_input is None or bool(np.min(np.asarray(example_input)) < 0)
    training = model.training
    model = copy.deepcopy(model).eval()  # tracing shares modules; folding BN edits them
    graph_model = TorchFunctionalToModule(_functional_to_module()).apply(symbolic_trace(model))
    graph_model = _flatten_modules_to_calls(graph_model)
    graph_model = preprocess_for_quantize(graph_model, trace_model=False, relu6_to_relu=False,
                                          equalize_iters=0, merge_bn=True)
    try:
        graph_model = quantize(graph_model, **layer_maps(p),
                               requantize_layer_handler_output=True)
    except AttributeError as e:
        if "int_scaling_impl" in str(e):  # Brevitas aligns add inputs for integers only
            raise ValueError(f"preset {p.name}: Brevitas' graph quantizer cannot align the "
                             "inputs of a residual add in minifloat; use an integer preset for "
                             "residual models") from None
        raise
    for node in graph_model.graph.nodes:
        if node.op == "placeholder":  # the input quantizer, with the input's sign
            for user in node.users:
                if isinstance(graph_model.get_submodule(user.target), qnn.QuantIdentity):
                    setattr(graph_model, user.target, qnn.QuantIdentity(
                        act_quant=p.act_quant(input_signed), return_quant_tensor=True))
    last = _output_node(graph_model)
    module = graph_model.get_submodule(last.target) if last.op == "call_module" else None
    if isinstance(module, qnn.QuantIdentity):  # the output quantizer, in the output format
        setattr(graph_model, last.target, qnn.QuantIdentity(act_quant=p.output_quant(),
                                                            return_quant_tensor=True))
    elif module is not None and hasattr(module, "return_quant_tensor"):
        module.return_quant_tensor = True
    graph_model.recompile()
    graph_model.train(training)
    check_modules(graph_model)
    return graph_model


def calibrate(model, batches) -> None:
    """Set activation scales from data (Brevitas ``calibration_mode``) before training."""
    import torch
    from brevitas.graph.calibrate import calibration_mode

    model.eval()
    with torch.no_grad(), calibration_mode(model):
        for x in batches:
            model(torch.as_tensor(x))
