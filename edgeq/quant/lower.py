"""Lowering a float PyTorch model to the short op list that post-training quantization works on.

The model is traced with torch.fx, BatchNorm is folded into the Conv/Linear before it
(``torch.fx.experimental.optimization.fuse``), ReLU/ReLU6 are fused into the op producing their
input, Dropout/Identity vanish. What remains is a ``LoweredModel``: ops in topological order,
still float and still in PyTorch's channels-first layout, runnable as an ``nn.Module``. Anything
outside the supported set is a ``LoweringError`` naming the op.
"""

import operator
from dataclasses import dataclass
from math import prod

import torch
import torch.nn.functional as F
from torch import fx, nn
from torch.fx.experimental.optimization import fuse
from torch.fx.passes.shape_prop import ShapeProp

SUPPORTED = ("Linear, Conv1d, Conv2d (any groups), BatchNorm after a Conv/Linear (folded), ReLU, "
             "ReLU6, MaxPool1d/2d, AvgPool1d/2d, AdaptiveAvgPool1d/2d, mean over the spatial "
             "axes, flatten/view(N, -1), residual add, Dropout, Identity")

COMPUTE = ("linear", "conv")
REQUANTIZING = ("linear", "conv", "add", "avgpool", "gap")  # ops whose output has a new scale


class LoweringError(ValueError):
    """A model PTQ cannot lower: the message names the op and what is supported."""


@dataclass(eq=False)
class FloatOp:
    """One op of the lowered model. ``shape`` is the PyTorch output shape without the batch axis
    (a global average pool gives ``(C,)``); ``ir_shape`` is the channels-last shape of the IR."""

    name: str
    kind: str  # input | linear | conv | maxpool | avgpool | gap | add | flatten
    inputs: tuple[str, ...]
    shape: tuple[int, ...]
    ir_shape: tuple[int, ...]
    source: str  # what the op was in the model, for messages
    kernel: tuple[int, ...] = ()
    stride: tuple[int, ...] = ()
    padding: tuple[int, ...] = ()  # conv: symmetric zero padding per spatial axis
    groups: int = 1
    act: str | None = None  # None | "relu" | "relu6"
    flatten_from: tuple[int, ...] | None = None  # flatten: the channels-first shape flattened
    nonnegative: bool = False  # known >= 0 from the structure (after a ReLU, a sum of those)


def channels_last(shape: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(shape[1:]) + tuple(shape[:1]) if len(shape) > 1 else tuple(shape)


class LoweredModel(nn.Module):
    """The float model as an op list. Conv/Linear modules live in ``layers`` (keyed by op name),
    so tools that swap modules (Brevitas) and autograd (Hessians) see ordinary layers."""

    def __init__(self, ops: list[FloatOp], layers: dict[str, nn.Module], name: str = "model"):
        super().__init__()
        self.ops = ops
        self.layers = nn.ModuleDict(layers)
        self.model_name = name
        self.by_name = {op.name: op for op in ops}
        self.hooks: dict[str, callable] = {}  # op name -> fn(tensor) -> tensor, after the op

    @property
    def output(self) -> FloatOp:
        return self.ops[-1]

    def compute_ops(self) -> list[FloatOp]:
        return [op for op in self.ops if op.kind in COMPUTE]

    def run_op(self, op: FloatOp, xs: list[torch.Tensor]) -> torch.Tensor:
        x = xs[0]
        if op.kind in COMPUTE:
            y = self.layers[op.name](x)
        elif op.kind == "maxpool":
            y = (F.max_pool1d if len(op.kernel) == 1 else F.max_pool2d)(x, op.kernel, op.stride)
        elif op.kind == "avgpool":
            y = (F.avg_pool1d if len(op.kernel) == 1 else F.avg_pool2d)(x, op.kernel, op.stride)
        elif op.kind == "gap":
            y = x.mean(dim=tuple(range(2, x.dim())))
        elif op.kind == "add":
            y = xs[0] + xs[1]
        elif op.kind == "flatten":
            y = x.flatten(1)
        else:
            raise AssertionError(op.kind)
        if op.act == "relu":
            y = F.relu(y)
        elif op.act == "relu6":
            y = F.relu6(y)
        return y

    def forward_all(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        values = {}
        for op in self.ops:
            y = x if op.kind == "input" else self.run_op(op, [values[i] for i in op.inputs])
            if op.name in self.hooks:
                y = self.hooks[op.name](y)
            values[op.name] = y
        return values

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_all(x)[self.output.name]


def trace(model: nn.Module) -> fx.GraphModule:
    """torch.fx trace of ``model`` in eval mode with BatchNorm folded and dead code removed."""
    model = model.eval()
    try:
        gm = fx.symbolic_trace(model)
    except Exception as e:  # fx raises many kinds (TraceError, TypeError, ...)
        raise LoweringError(f"{type(model).__name__} cannot be traced by torch.fx: {e}") from e
    gm = fuse(gm, no_trace=True)
    gm.graph.eliminate_dead_code()
    gm.recompile()
    return gm


def _pair(v, nd: int) -> tuple[int, ...]:
    return tuple(int(a) for a in v) if isinstance(v, (tuple, list)) else (int(v),) * nd


def _first_arg(node: fx.Node):
    return node.args[0] if node.args else next(iter(node.kwargs.values()), None)


_RELU_FNS = (F.relu, torch.relu, torch.relu_)
_ADD_FNS = (operator.add, operator.iadd, torch.add)
_POOL_FNS = {F.max_pool1d: "maxpool", F.max_pool2d: "maxpool", F.avg_pool1d: "avgpool",
             F.avg_pool2d: "avgpool"}
_POOL_PARAMS = {  # positional parameters of the functional pools
    "maxpool": ("input", "kernel_size", "stride", "padding", "dilation", "ceil_mode",
                "return_indices"),
    "avgpool": ("input", "kernel_size", "stride", "padding", "ceil_mode", "count_include_pad",
                "divisor_override"),
}
_IDENTITY_MODULES = (nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Identity)
_FLATTEN_METHODS = ("flatten", "view", "reshape")


class _Lowering:
    def __init__(self, gm: fx.GraphModule, example: torch.Tensor):
        self.gm = gm
        self.modules = dict(gm.named_modules())
        ShapeProp(gm).propagate(example[:1])
        self.ops: list[FloatOp] = []
        self.layers: dict[str, nn.Module] = {}
        self.value: dict[fx.Node, str] = {}  # fx node -> the op holding its value
        self.by_name: dict[str, FloatOp] = {}
        self.origin: dict[str, fx.Node] = {}  # op name -> the fx node that created it
        self.out_name: str | None = None

    # ---- helpers
    def _describe(self, node: fx.Node) -> str:
        if node.op == "call_module":
            return f"{type(self.modules[node.target]).__name__} '{node.target}'"
        target = getattr(node.target, "__name__", str(node.target))
        return f"{node.op} {target} '{node.name}'"

    def _fail(self, node: fx.Node, problem: str):
        raise LoweringError(f"{self._describe(node)}: {problem}")

    def _shape(self, node: fx.Node) -> tuple[int, ...]:
        meta = node.meta.get("tensor_meta")
        if meta is None or not hasattr(meta, "shape"):
            self._fail(node, "does not produce a single tensor")
        return tuple(meta.shape[1:])

    def _input(self, node: fx.Node, arg) -> FloatOp:
        if not isinstance(arg, fx.Node) or arg not in self.value:
            self._fail(node, f"takes {arg!r}, which is not a tensor computed by a supported op")
        return self.by_name[self.value[arg]]

    def _append(self, node: fx.Node, kind: str, inputs, shape, ir_shape=None, **kw) -> FloatOp:
        op = FloatOp(node.name, kind, tuple(i.name for i in inputs), tuple(shape),
                     tuple(ir_shape if ir_shape is not None else channels_last(shape)),
                     self._describe(node), **kw)
        for i in inputs:
            if i.flatten_from is not None and kind != "linear":
                self._fail(node, f"takes the flatten '{i.name}' of a {i.flatten_from} tensor; the "
                           "IR flattens channels-last, which only a following Linear can undo")
        if kind in ("maxpool", "avgpool", "gap", "flatten", "add"):
            op.nonnegative = all(i.nonnegative for i in inputs)
        self.ops.append(op)
        self.by_name[op.name] = op
        self.value[node] = op.name
        self.origin[op.name] = node
        return op

    def _alias(self, node: fx.Node, op: FloatOp):
        self.value[node] = op.name

    def _arg(self, node: fx.Node, index: int, name: str, default=None):
        if len(node.args) > index:
            return node.args[index]
        return node.kwargs.get(name, default)

    # ---- activations
    def _activation(self, node: fx.Node, act: str):
        op = self._input(node, _first_arg(node))
        self._fuse(node, op, act)
        self._alias(node, op)

    def _sole_consumer(self, op: FloatOp, consumer: fx.Node) -> bool:
        """Whether ``consumer`` is the only node using ``op``'s value (through any alias)."""
        nodes = {n for n, v in self.value.items() if v == op.name}
        return {u for n in nodes for u in n.users} - nodes == {consumer}

    def _fuse(self, node: fx.Node, op: FloatOp, act: str):
        if op.act == "relu6" or (act == "relu" and op.nonnegative):
            return  # already clamped at least as tightly
        if op.kind == "input":
            self._fail(node, "an activation on the model input is not supported")
        if not self._sole_consumer(op, node):
            self._fail(node, f"its input '{op.name}' is also used elsewhere, so the activation "
                       "cannot be fused into it")
        if op.kind in ("maxpool", "flatten"):  # ReLU commutes with max and with reordering
            self._fuse(self.origin[op.name], self.by_name[op.inputs[0]], act)
        elif op.kind not in REQUANTIZING:
            self._fail(node, f"cannot be fused into {op.source}")
        op.act, op.nonnegative = act, True

    # ---- ops
    def lower(self) -> "LoweredModel":
        for node in self.gm.graph.nodes:
            if node.op == "placeholder":
                if self.ops:
                    self._fail(node, "a second model input: only one input tensor is supported")
                self._append(node, "input", [], self._shape(node))
            elif node.op == "output":
                out = node.args[0]
                if not isinstance(out, fx.Node):
                    self._fail(node, "the model must return a single tensor")
                op = self._input(node, out)
                if op.flatten_from is not None:
                    self._fail(node, f"the model returns the flatten '{op.name}' of a "
                               f"{op.flatten_from} tensor, which the IR orders channels-last")
                self.out_name = op.name
            elif node.op == "call_module":
                self._module(node, self.modules[node.target])
            elif node.op == "call_function":
                self._function(node)
            elif node.op == "call_method":
                self._method(node)
            else:
                self._fail(node, f"is not supported (get_attr: use parameters only inside "
                           f"modules); supported ops: {SUPPORTED}")
        if self.out_name != self.ops[-1].name:
            raise LoweringError(f"the model output '{self.out_name}' is not its last op "
                                f"'{self.ops[-1].name}'")
        return LoweredModel(self.ops, self.layers, type(self.gm).__name__)

    def _module(self, node: fx.Node, m: nn.Module):
        x = self._input(node, _first_arg(node))
        shape = self._shape(node) if node.meta.get("tensor_meta") is not None else None
        if isinstance(m, _IDENTITY_MODULES):
            return self._alias(node, x)
        if isinstance(m, nn.ReLU):
            return self._activation(node, "relu")
        if isinstance(m, nn.ReLU6) or (isinstance(m, nn.Hardtanh) and m.min_val == 0
                                       and m.max_val == 6):
            return self._activation(node, "relu6")
        if isinstance(m, nn.Linear):
            if len(x.shape) != 1:
                self._fail(node, f"applied to a {x.shape} input; only (N, features) is supported")
            self.layers[node.name] = m
            return self._append(node, "linear", [x], shape)
        if isinstance(m, (nn.Conv1d, nn.Conv2d)):
            return self._conv(node, m, x, shape)
        if isinstance(m, (nn.MaxPool1d, nn.MaxPool2d)):
            return self._pool(node, "maxpool", x, shape, m.kernel_size, m.stride, m.padding,
                              m.dilation, m.ceil_mode, m.return_indices)
        if isinstance(m, (nn.AvgPool1d, nn.AvgPool2d)):
            if getattr(m, "divisor_override", None):
                self._fail(node, "divisor_override is not supported")
            return self._pool(node, "avgpool", x, shape, m.kernel_size, m.stride, m.padding, 1,
                              m.ceil_mode, False)
        if isinstance(m, (nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d)):
            return self._adaptive(node, x, shape)
        if isinstance(m, nn.Flatten):
            return self._flatten(node, x, shape)
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            self._fail(node, "must directly follow a Conv/Linear whose output only it uses, to be "
                       "folded into it")
        self._fail(node, f"is not supported; supported ops: {SUPPORTED}")

    def _function(self, node: fx.Node):
        f = node.target
        if f in _RELU_FNS:
            return self._activation(node, "relu")
        if f is F.relu6:
            return self._activation(node, "relu6")
        if f is F.hardtanh:
            lo, hi = self._arg(node, 1, "min_val", -1.0), self._arg(node, 2, "max_val", 1.0)
            if (lo, hi) == (0, 6):
                return self._activation(node, "relu6")
        if f in (torch.clamp, torch.clip):
            return self._clamp(node)
        if f in _ADD_FNS:
            return self._add(node)
        if f is F.dropout or f is torch.dropout:
            return self._alias(node, self._input(node, node.args[0]))
        if f is torch.flatten:
            return self._flatten(node, self._input(node, node.args[0]), self._shape(node))
        if f is torch.mean:
            return self._mean(node)
        if f is operator.getitem and node.meta.get("tensor_meta") is None:
            return  # e.g. x.size()[0] feeding a view: shapes come from ShapeProp
        if f in _POOL_FNS:
            kind = _POOL_FNS[f]
            a = dict(zip(_POOL_PARAMS[kind], node.args)) | dict(node.kwargs)
            if a.get("divisor_override"):
                self._fail(node, "divisor_override is not supported")
            return self._pool(node, kind, self._input(node, a["input"]), self._shape(node),
                              a["kernel_size"], a.get("stride"), a.get("padding", 0),
                              a.get("dilation", 1), a.get("ceil_mode", False),
                              a.get("return_indices", False))
        if f in (F.adaptive_avg_pool1d, F.adaptive_avg_pool2d):
            return self._adaptive(node, self._input(node, node.args[0]), self._shape(node))
        self._fail(node, f"is not supported; supported ops: {SUPPORTED}")

    def _method(self, node: fx.Node):
        name = node.target
        if node.meta.get("tensor_meta") is None and name == "size":
            return  # only shapes: the view/reshape using it is checked on its own
        if name in ("relu", "relu_"):
            return self._activation(node, "relu")
        if name in ("clamp", "clip", "clamp_"):
            return self._clamp(node)
        if name in ("add", "add_"):
            return self._add(node)
        if name in _FLATTEN_METHODS:
            return self._flatten(node, self._input(node, node.args[0]), self._shape(node))
        if name == "mean":
            return self._mean(node)
        if name == "contiguous":
            return self._alias(node, self._input(node, node.args[0]))
        self._fail(node, f"is not supported; supported ops: {SUPPORTED}")

    def _clamp(self, node: fx.Node):
        lo, hi = self._arg(node, 1, "min"), self._arg(node, 2, "max")
        if lo == 0 and hi is None:
            return self._activation(node, "relu")
        if lo == 0 and hi == 6:
            return self._activation(node, "relu6")
        self._fail(node, f"clamp({lo}, {hi}) is not supported; only clamp(0) (ReLU) and "
                   "clamp(0, 6) (ReLU6)")

    def _add(self, node: fx.Node):
        if len(node.args) != 2 or node.kwargs.get("alpha", 1) != 1:
            self._fail(node, "only a plain add of two tensors is supported")
        a, b = (self._input(node, v) for v in node.args)
        if a.shape != b.shape:
            self._fail(node, f"adds shapes {a.shape} and {b.shape}; broadcasting is not supported")
        return self._append(node, "add", [a, b], a.shape, a.ir_shape)

    def _conv(self, node: fx.Node, m: nn.Module, x: FloatOp, shape):
        nd = 1 if isinstance(m, nn.Conv1d) else 2
        if len(x.shape) != nd + 1:
            self._fail(node, f"needs a (C, {'L' if nd == 1 else 'H, W'}) input, got {x.shape}")
        if m.padding_mode != "zeros":
            self._fail(node, f"padding_mode={m.padding_mode!r}; only 'zeros' is supported")
        if any(d != 1 for d in _pair(m.dilation, nd)):
            self._fail(node, f"dilation={m.dilation} is not supported")
        padding = m.padding
        if isinstance(padding, str):
            if padding == "valid":
                padding = 0
            elif any(k % 2 == 0 for k in _pair(m.kernel_size, nd)):
                self._fail(node, "padding='same' with an even kernel pads asymmetrically")
            else:
                padding = tuple(k // 2 for k in _pair(m.kernel_size, nd))
        self.layers[node.name] = m
        return self._append(node, "conv", [x], shape, kernel=_pair(m.kernel_size, nd),
                            stride=_pair(m.stride, nd), padding=_pair(padding, nd),
                            groups=m.groups)

    def _pool(self, node, kind, x: FloatOp, shape, kernel, stride, padding, dilation, ceil,
              return_indices):
        nd = len(x.shape) - 1
        if nd not in (1, 2):
            self._fail(node, f"needs a (C, L) or (C, H, W) input, got {x.shape}")
        if any(p != 0 for p in _pair(padding, nd)):
            self._fail(node, f"padding={padding} is not supported (IR pools do not pad)")
        if any(d != 1 for d in _pair(dilation, nd)) or return_indices:
            self._fail(node, "dilation and return_indices are not supported")
        kernel = _pair(kernel, nd)
        stride = _pair(stride, nd) if stride not in (None, ()) else kernel
        floor = tuple((n - k) // s + 1 for n, k, s in zip(x.shape[1:], kernel, stride))
        if ceil and floor != tuple(shape[1:]):
            self._fail(node, "ceil_mode=True adds a partial window the IR does not have")
        return self._append(node, kind, [x], shape, kernel=kernel, stride=stride)

    def _adaptive(self, node: fx.Node, x: FloatOp, shape):
        spatial_in, spatial_out = x.shape[1:], shape[1:]
        if all(s == 1 for s in spatial_out):
            return self._append(node, "gap", [x], shape[:1], shape[:1])
        if any(i % o for i, o in zip(spatial_in, spatial_out)):
            self._fail(node, f"output size {spatial_out} does not divide the input {spatial_in}")
        kernel = tuple(i // o for i, o in zip(spatial_in, spatial_out))
        return self._append(node, "avgpool", [x], shape, kernel=kernel, stride=kernel)

    def _mean(self, node: fx.Node):
        x = self._input(node, node.args[0])
        dims = self._arg(node, 1, "dim")
        dims = (dims,) if isinstance(dims, int) else tuple(dims or ())
        rank = len(x.shape) + 1
        if len(x.shape) < 2 or sorted(d % rank for d in dims) != list(range(2, rank)):
            self._fail(node, f"mean over dims {dims} of a {x.shape} tensor; only the mean over "
                       "every spatial axis (global average pooling) is supported")
        return self._append(node, "gap", [x], x.shape[:1], x.shape[:1])

    def _flatten(self, node: fx.Node, x: FloatOp, shape):
        if shape != (prod(x.shape),):
            self._fail(node, f"reshapes {x.shape} to {shape}; only flattening every axis but the "
                       "batch is supported")
        if len(x.ir_shape) == 1:
            return self._alias(node, x)  # already a vector in both layouts
        reorders = len(x.shape) > 1 and prod(x.shape[1:]) > 1 and x.shape[0] > 1
        return self._append(node, "flatten", [x], shape, shape,
                            flatten_from=x.shape if reorders else None)


def lower(model: nn.Module, example: torch.Tensor) -> LoweredModel:
    """Trace, fold and lower ``model``; ``example`` is one batch in the model's input layout."""
    return lower_traced(trace(model), example)


def lower_traced(gm: fx.GraphModule, example: torch.Tensor) -> LoweredModel:
    return _Lowering(gm, torch.as_tensor(example, dtype=torch.float32)).lower()
