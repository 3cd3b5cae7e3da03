"""Hessian traces by Hutchinson's estimator (HAWQ-V2): ``Tr(H) = E[v^T H v]`` for Rademacher
``v``, each ``H v`` a Hessian-vector product by double backpropagation.

One product per iteration serves every block at once: the estimate for a block (one layer's
weights, one activation tensor) is the dot product of its part of ``v`` with its part of
``H v``. A block's estimate is final at the first iteration (after ``min_iter``) where its
running mean changes by less than ``tol`` relative to the previous mean, as in HAWQ;
iterations stop when every block is final, or at ``max_iter``.
"""

from collections.abc import Callable
from dataclasses import dataclass

import torch


@dataclass
class TraceEstimate:
    traces: dict[str, float]
    iterations: int
    converged: bool


def hutchinson_traces(loss_fn: Callable[[], torch.Tensor], blocks: dict[str, torch.Tensor],
                      tol: float = 1e-3, max_iter: int = 500, min_iter: int = 10,
                      seed: int = 0) -> TraceEstimate:
    """Hessian trace of ``loss_fn()`` with respect to each tensor in ``blocks``.

    ``blocks`` are leaf tensors requiring grad that ``loss_fn`` depends on (parameters, or
    zero perturbations added to activations).
    """
    names = list(blocks)
    tensors = [blocks[n] for n in names]
    loss = loss_fn()
    grads = torch.autograd.grad(loss, tensors, create_graph=True)
    gen = torch.Generator().manual_seed(seed)
    sums = dict.fromkeys(names, 0.0)
    means: dict[str, float] = {}
    final: dict[str, float] = {}
    for it in range(1, max_iter + 1):
        vs = [torch.randint(0, 2, t.shape, generator=gen).to(t.dtype) * 2 - 1 for t in tensors]
        hvs = torch.autograd.grad(grads, tensors, grad_outputs=vs, retain_graph=True)
        for n, v, hv in zip(names, vs, hvs):
            if n in final:
                continue
            previous = means.get(n)
            sums[n] += float(torch.sum(v * hv))
            means[n] = sums[n] / it
            if it >= min_iter and abs(means[n] - previous) <= tol * (abs(previous) + 1e-30):
                final[n] = means[n]
        if len(final) == len(names):
            return TraceEstimate(final, it, True)
    return TraceEstimate({**means, **final}, max_iter, False)
