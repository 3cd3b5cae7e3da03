"""Running a quantization plan in PyTorch, in the model's own (channels-first) layout.

``mode="fake"`` is the usual fake-quant float model: dequantized weights and activations, the
layer computed in float32, the result divided by the output scale and rounded, half up like
the hardware (an average pool averages the codes, so its ties stay exact ties). ``mode="integer"`` is an integer-only simulation: exact integer
accumulators and the dyadic requantization ``(acc*M + 2**(c-1)) >> c``. The integer mode must
equal the golden (which runs the IR, channels-last) on every element: it is an independent
check of the IR emission (layout, weight permutation, padding, pooling, residual alignment).
The fake mode shows how far the usual float simulation is from the hardware.
"""

from math import prod

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..numerics import dyadic_multipliers, multiplier_from_scales
from .lower import COMPUTE, FloatOp, LoweredModel
from .plan import QuantPlan

MODES = ("fake", "integer")
EXACT = 1 << 53  # float64 holds every integer below this: sums of integer products stay exact


def _channel(v, ndim: int) -> torch.Tensor:
    """A per-channel vector shaped to broadcast over (N, C, *spatial)."""
    return torch.as_tensor(np.asarray(v)).reshape((1, -1) + (1,) * (ndim - 2))


def _dyadic(m, bits: int, ndim: int):
    M, c = dyadic_multipliers(np.atleast_1d(m), bits)
    return _channel(M, ndim), _channel(c, ndim)


def _round_half_up(v: torch.Tensor) -> torch.Tensor:
    return torch.floor(v + 0.5)


def _round_shift(acc: torch.Tensor, M: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
    """``(acc*M + 2**(c-1)) >> c`` in int64 (ties toward +inf, as DESIGN.md's dyadic form)."""
    return (acc * M + (torch.ones_like(c) << (c - 1))) >> c


class SimulatedModel(nn.Module):
    """``forward`` returns the dequantized output; ``codes`` returns every op's integers."""

    def __init__(self, lowered: LoweredModel, plan: QuantPlan, mode: str = "fake"):
        super().__init__()
        if mode not in MODES:
            raise ValueError(f"simulation mode {mode!r} is not one of {MODES}")
        self.lowered, self.plan, self.mode = lowered, plan, mode

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.lowered.output
        return self.codes(x)[out.name].double() * self.plan.tensors[out.name].scale

    @torch.no_grad()
    def codes(self, x: torch.Tensor, given: dict | None = None) -> dict[str, torch.Tensor]:
        """Every op's integer codes. ``given`` (op name -> codes) replaces the simulation's own
        inputs of each op, to compare one layer at a time without errors carried along."""
        values: dict[str, torch.Tensor] = {}
        given = given or {}
        for op in self.lowered.ops:
            t = self.plan.tensors[op.name]
            if op.kind == "input":
                y = torch.round(torch.as_tensor(x, dtype=torch.float64) / t.scale)
            else:
                y = self._op(op, [torch.as_tensor(given.get(i, values[i])) for i in op.inputs])
            values[op.name] = y.clamp(t.lo, t.hi).to(torch.int64)
        return values

    def _op(self, op: FloatOp, xs: list[torch.Tensor]) -> torch.Tensor:
        x = xs[0]
        if op.kind == "maxpool":
            return (F.max_pool1d if len(op.kernel) == 1 else F.max_pool2d)(
                x.double(), op.kernel, op.stride)
        if op.kind == "flatten":
            return x.flatten(1)
        t_in = self.plan.tensors[op.inputs[0]]
        t_out = self.plan.tensors[op.name]
        if op.kind in COMPUTE:
            return self._compute(op, x, t_in.scale, t_out.scale)
        if op.kind in ("avgpool", "gap"):
            return self._average(op, x, t_in.scale, t_out.scale)
        if op.kind == "add":
            return self._add(op, xs, t_out.scale)
        raise AssertionError(op.kind)

    def _conv(self, op: FloatOp, x, w, b):
        if op.kind == "linear":
            return F.linear(x, w, b)
        conv = F.conv1d if len(op.kernel) == 1 else F.conv2d
        return conv(x, w, b, op.stride, op.padding, 1, op.groups)

    def _compute(self, op: FloatOp, x, s_in: float, s_out: float):
        lq = self.plan.layers[op.name]
        w = torch.as_tensor(lq.weight)
        if self.mode == "fake":
            w_real = w.double() * torch.as_tensor(lq.scale).reshape((-1,) + (1,) * (w.dim() - 1))
            b_real = None if lq.bias is None else torch.as_tensor(lq.bias * (s_in * lq.scale))
            y = self._conv(op, x.float() * np.float32(s_in), w_real.float(),
                           None if b_real is None else b_real.float())
            return _round_half_up(y / np.float32(s_out))
        bound = int(np.abs(lq.weight).reshape(len(lq.weight), -1).sum(axis=1).max()) * int(
            x.abs().max()) + (0 if lq.bias is None else int(np.abs(lq.bias).max()))
        if bound >= EXACT:
            raise OverflowError(f"{op.source}: accumulator bound {bound} exceeds float64's exact "
                                "integers; the integer simulation cannot run it")
        acc = self._conv(op, x.double(), w.double(), None)
        acc = acc.round().to(torch.int64)
        if lq.bias is not None:
            acc = acc + _channel(lq.bias, acc.dim())
        m = multiplier_from_scales(s_in, lq.scale, s_out)
        return _round_shift(acc, *_dyadic(m, self.plan.multiplier_bits, acc.dim()))

    def _average(self, op: FloatOp, x, s_in: float, s_out: float):
        if op.kind == "gap":
            dims = tuple(range(2, x.dim()))
            k = prod(x.shape[2:])
        else:
            dims = tuple(range(-len(op.kernel), 0))
            for axis, (kk, ss) in enumerate(zip(op.kernel, op.stride)):
                x = x.unfold(2 + axis, kk, ss)  # windows appended as trailing axes
            k = prod(op.kernel)
        if self.mode == "fake":
            return _round_half_up(x.float().mean(dim=dims) * np.float32(s_in / s_out))
        acc = x.to(torch.int64).sum(dim=dims)
        m = np.float64(s_in) / (k * np.float64(s_out))
        return _round_shift(acc, *_dyadic(np.full(acc.shape[1], m), self.plan.multiplier_bits,
                                          acc.dim()))

    def _add(self, op: FloatOp, xs, s_out: float):
        scales = [self.plan.tensors[i].scale for i in op.inputs]
        if self.mode == "fake":
            y = sum(v.float() * np.float32(s) for v, s in zip(xs, scales))
            return _round_half_up(y / np.float32(s_out))
        pairs = [dyadic_multipliers(np.float64(s) / np.float64(s_out), self.plan.multiplier_bits)
                 for s in scales]
        c = max(int(p[1][0]) for p in pairs)
        acc = sum(v.to(torch.int64) * (int(p[0][0]) << (c - int(p[1][0])))
                  for v, p in zip(xs, pairs))
        return (acc + (1 << (c - 1))) >> c
