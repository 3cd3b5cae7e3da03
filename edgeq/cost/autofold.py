"""``--fold auto --device NAME``: the folding with the highest throughput that fits the device.

Candidate intervals are the cycle counts some layer can reach (as in the RTL backend's own
``auto``); for each, every layer gets the fewest multipliers meeting it. Resources only shrink
as the interval grows, so a binary search finds the shortest interval whose estimate fits.
"""

from ..backends.rtl.folding import Fold, auto_folding, divisors, fold_shape
from ..ir import Graph


class DoesNotFit(ValueError):
    """Even the most folded design exceeds the device: the message has the numbers."""


def candidate_intervals(graph: Graph) -> list[int]:
    shapes = [s for n in graph if (s := fold_shape(n, graph)) is not None]
    return sorted({s.cycles(Fold(p, q)) for s in shapes
                   for p in divisors(s.mh) for q in divisors(s.mw)})


def fit_folding(graph: Graph, device: str, **options) -> dict[str, Fold]:
    """Per-layer folds of the fastest design whose estimate fits ``device``."""
    from ..backends.rtl import generate
    from .estimate import estimate_design

    def trial(interval):
        folds = auto_folding(graph, interval)
        return folds, estimate_design(generate(graph, {**options, "fold": folds}), device)

    folds, est = trial(None)  # fully parallel
    if est.fits:
        return folds
    cands = candidate_intervals(graph)
    lo, hi = 0, len(cands) - 1
    folds_hi, est_hi = trial(cands[hi])
    if not est_hi.fits:
        raise DoesNotFit(f"'{graph.name}' does not fit {est_hi.device['name']} even fully "
                         f"folded ({cands[hi]} cycles per sample): {est_hi.verdict()}")
    best = folds_hi
    while lo < hi:
        mid = (lo + hi) // 2
        f, e = trial(cands[mid])
        if e.fits:
            best, hi = f, mid
        else:
            lo = mid + 1
    return best
