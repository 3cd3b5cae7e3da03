"""Constant matrix-vector products as shift-add graphs with shared subexpressions.

A fully parallel layer multiplies by constants, and a constant multiply is a few shifted adds:
each weight is written in canonical signed digits (CSD: digits -1, 0, 1, no two adjacent
non-zero), so output ``j`` is a sum of terms ``±(x_i << k)``. Sums across outputs share
pieces: whenever the pattern ``x_a ± (x_b << d)`` appears in several outputs (at any common
shift), it is computed once and reused (greedy common-subexpression elimination, most frequent
two-term pattern first, as in Hartley's method). What remains of each output is added in a
balanced tree. Every signal's width comes from its exact value range, and terms are kept with
their shift factored out so that no adder spends carry logic on constant zero bits.
"""

import heapq
from collections import Counter, defaultdict
from dataclasses import dataclass, field

import numpy as np


def csd(value: int) -> list[tuple[int, int]]:
    """Canonical signed digits of an integer: ``[(shift, ±1), ...]``, fewest non-zeros."""
    digits, k = [], 0
    while value:
        if value & 1:
            d = 2 - (value & 3)  # +1 when value % 4 == 1, -1 when value % 4 == 3
            digits.append((k, d))
            value -= d
        value >>= 1
        k += 1
    return digits


Term = tuple[int, int, int]  # (signal, shift, sign)


@dataclass
class AdderGraph:
    """Signals 0..n_inputs-1 are the inputs; each op defines the next signal as
    ``(a << sa) + sign * (b << sb)``; ``outputs[j]`` is (signal, shift, sign) or None (zero)."""

    n_inputs: int
    ranges: list[tuple[int, int]]  # exact [lo, hi] of every signal
    coeffs: list[np.ndarray]  # every signal as a weighted sum of the inputs (exact check)
    ops: list[tuple[int, int, int, int, int]] = field(default_factory=list)
    outputs: list[Term | None] = field(default_factory=list)

    def add(self, a: int, sa: int, b: int, sb: int, sign: int) -> int:
        c = (self.coeffs[a] << sa) + sign * (self.coeffs[b] << sb)
        self.ops.append((a, sa, b, sb, sign))
        self.coeffs.append(c)
        self.ranges.append(_range(c, self.ranges[: self.n_inputs]))
        return len(self.coeffs) - 1

    @property
    def adders(self) -> int:
        return len(self.ops)


def _range(c: np.ndarray, inputs: list[tuple[int, int]]) -> tuple[int, int]:
    lo = hi = 0
    for w, (a, b) in zip(c.tolist(), inputs):
        lo += min(w * a, w * b)
        hi += max(w * a, w * b)
    return lo, hi


def _pattern(t1: Term, t2: Term) -> tuple[tuple, Term]:
    """The shift- and sign-free pattern of two terms, and the term that replaces them once
    the pattern is a signal: ``s1*(a << k1) + s2*(b << k2) = s1*((a + s1*s2*(b << d)) << k1)``."""
    if (t2[1], t2[0]) < (t1[1], t1[0]):
        t1, t2 = t2, t1
    (a, k1, s1), (b, k2, s2) = t1, t2
    return (a, b, k2 - k1, s1 * s2), (k1, s1)


def build(weights: np.ndarray, input_ranges: list[tuple[int, int]]) -> AdderGraph:
    """The adder graph computing ``weights @ x`` (``weights`` is outputs x inputs)."""
    w = np.asarray(weights).astype(object)
    n_out, n_in = w.shape
    eye = [np.array([int(i == j) for j in range(n_in)], dtype=object) for i in range(n_in)]
    graph = AdderGraph(n_in, list(input_ranges), eye)
    terms: list[list[Term]] = [[(i, k, d) for i in range(n_in) for k, d in csd(int(w[j, i]))]
                               for j in range(n_out)]
    _share(graph, terms)
    graph.outputs = [_sum_tree(graph, t) for t in terms]
    for j in range(n_out):  # the graph is exact by construction; keep it that way
        sig = graph.outputs[j]
        got = np.zeros(n_in, dtype=object) if sig is None else sig[2] * (graph.coeffs[sig[0]]
                                                                         << sig[1])
        assert np.array_equal(got, w[j]), f"adder graph wrong for output {j}"
    return graph


def _share(graph: AdderGraph, terms: list[list[Term]]) -> None:
    """Greedy CSE: turn the most frequent two-term pattern into a signal until none repeats."""
    counts: Counter = Counter()
    for t in terms:
        for i in range(len(t)):
            for k in range(i + 1, len(t)):
                counts[_pattern(t[i], t[k])[0]] += 1
    heap = [(-n, p) for p, n in counts.items() if n > 1]
    heapq.heapify(heap)
    signals = [Counter(sig for sig, _, _ in t) for t in terms]  # which outputs use what
    while heap:
        n, pattern = heapq.heappop(heap)
        if -n != counts[pattern] or -n < 2:
            continue  # stale entry
        a, b, d, rel = pattern
        new = graph.add(a, 0, b, d, rel)
        changed = set()
        for t, present in zip(terms, signals):
            if not present[a] or not present[b]:
                continue
            used, made = _match(t, pattern, new)
            if not used:
                continue
            rest = [x for i, x in enumerate(t) if i not in used]
            removed = [t[i] for i in sorted(used)]
            for x in removed:  # pairs that disappear
                for y in rest:
                    changed.add(_drop(counts, _pattern(x, y)[0]))
            for i, x in enumerate(removed):
                for y in removed[i + 1:]:
                    changed.add(_drop(counts, _pattern(x, y)[0]))
            for i, x in enumerate(made):  # pairs that appear
                for y in rest + made[:i]:
                    p = _pattern(x, y)[0]
                    counts[p] += 1
                    changed.add(p)
            t[:] = rest + made
            for x in removed:
                present[x[0]] -= 1
            present[new] += len(made)
        for p in changed:
            if counts[p] > 1:
                heapq.heappush(heap, (-counts[p], p))


def _drop(counts: Counter, p: tuple) -> tuple:
    counts[p] -= 1
    if counts[p] == 0:
        del counts[p]
    return p


def _match(t: list[Term], pattern: tuple, new: int) -> tuple[set, list[Term]]:
    """Disjoint occurrences of ``pattern`` in one output's terms, and their replacements."""
    a, b, d, rel = pattern
    by_key = defaultdict(list)
    for i, (sig, k, _) in enumerate(t):
        by_key[(sig, k)].append(i)
    used: set = set()
    made: list[Term] = []
    for i, (sig, k, s) in enumerate(t):
        if i in used or sig != a:
            continue
        for j in by_key.get((b, k + d), []):
            if j != i and j not in used and t[j][2] * s == rel:
                if _pattern(t[i], t[j])[0] != pattern:
                    continue
                used.update((i, j))
                made.append((new, k, s))
                break
    return used, made


def _sum_tree(graph: AdderGraph, terms: list[Term]) -> Term | None:
    """Add terms pairwise, smallest shifts first, keeping each sum's common shift outside."""
    level = sorted(terms, key=lambda t: (t[1], t[0]))
    if not level:
        return None
    while len(level) > 1:
        nxt = []
        for i in range(0, len(level) - 1, 2):
            nxt.append(_add_terms(graph, level[i], level[i + 1]))
        if len(level) % 2:
            nxt.append(level[-1])
        level = nxt
    return level[0]


def _add_terms(graph: AdderGraph, x: Term, y: Term) -> Term:
    (a, ka, sa), (b, kb, sb) = x, y
    m = min(ka, kb)
    if sa < 0 and sb > 0:  # keep the positive operand first: a subtraction, not a negation
        (a, ka, sa), (b, kb, sb) = (b, kb, sb), (a, ka, sa)
    sig = graph.add(a, ka - m, b, kb - m, sa * sb)
    return sig, m, sa


def signed_bits(lo: int, hi: int) -> int:
    bits = 1
    while not (-(1 << (bits - 1)) <= lo and hi < (1 << (bits - 1))):
        bits += 1
    return bits


def verilog(graph: AdderGraph, name: str, in_bits: int, in_signed: bool, out_bits: int) -> str:
    """A combinational module ``name``: ``x`` packs the inputs (``in_bits`` each, element 0 in
    the LSBs), ``y`` the outputs as ``out_bits``-bit two's complement (modular: the sums are
    known to fit)."""
    n_in, n_out = graph.n_inputs, len(graph.outputs)
    lines = [
        f"// Generated by edgeq: {n_out} x {n_in} constant matrix-vector product as a shift-add",
        f"// graph, {graph.adders} adders after common-subexpression sharing. Do not edit.",
        f"module {name} (",
        f"    input  logic [{n_in * in_bits - 1}:0] x,",
        f"    output logic [{n_out * out_bits - 1}:0] y",
        ");",
    ]
    width = [signed_bits(*r) for r in graph.ranges]
    for i in range(n_in):
        src = f"x[{i * in_bits + in_bits - 1}:{i * in_bits}]"
        value = f"signed'({src})" if in_signed else f"signed'({{1'b0, {src}}})"
        lines.append(f"  logic signed [{width[i] - 1}:0] s{i};")
        lines.append(f"  assign s{i} = {width[i]}'({value});")
    used = _live(graph)
    for n, (a, sa, b, sb, sign) in enumerate(graph.ops):
        sig = n_in + n
        if sig not in used:
            continue
        w = width[sig]
        op = "+" if sign > 0 else "-"
        lines.append(f"  logic signed [{w - 1}:0] s{sig};")
        lines.append(f"  assign s{sig} = ({w}'(s{a}) <<< {sa}) {op} ({w}'(s{b}) <<< {sb});")
    for j, out in enumerate(graph.outputs):
        dst = f"y[{j * out_bits + out_bits - 1}:{j * out_bits}]"
        if out is None:
            lines.append(f"  assign {dst} = '0;")
            continue
        sig, k, s = out
        value = f"({out_bits}'(s{sig}) <<< {k})"
        lines.append(f"  assign {dst} = {'-' if s < 0 else ''}{value};")
    unused = [f"s{i}" for i in range(n_in) if i not in used]
    if unused:
        lines.append(f"  wire unused = &{{1'b0, {', '.join(unused)}}};")
    lines.append("endmodule")
    return "\n".join(lines) + "\n"


def _live(graph: AdderGraph) -> set[int]:
    live = {o[0] for o in graph.outputs if o is not None}
    for n in range(len(graph.ops) - 1, -1, -1):
        if graph.n_inputs + n in live:
            a, _, b, _, _ = graph.ops[n]
            live.update((a, b))
    return live
