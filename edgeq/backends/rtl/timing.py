"""Cycle timeline of the first sample through an idle design, input at full rate and output
always ready: when each stream's beats are handshaked. The top's latency is the time of the
first output beat, counted from the first input beat (cycle 0). Each model mirrors the RTL's
pipeline exactly; docs/RTL.md derives them."""


def mvu_schedule(arrivals: list[int], nf: int, sf: int, vectors: int = 1) -> list[int]:
    """Output beat times of edgeq_mvu given its input beat times (``sf`` beats per vector).

    NF == 1 issues each beat as it is handshaked; NF > 1 writes it into the ping-pong buffer
    and issues it from there one cycle later. The output beat of a fold leaves 6 cycles after
    the issue of its last block (operands, dot, accumulate, multiply, round, skid).
    """
    out, issue = [], -1
    for v in range(vectors):
        beats = arrivals[v * sf:(v + 1) * sf]
        for f in range(nf):
            for s in range(sf):
                if nf == 1:
                    issue = max(issue + 1, beats[s])
                elif f == 0:
                    issue = max(issue + 1, beats[s] + 1)
                else:
                    issue += 1
            out.append(issue + 6)
    return out


def regroup(arrivals: list[int], elems_in: int, elems_out: int) -> list[int]:
    """Beat times after edgeq_width_conv: an output beat leaves the cycle after its last
    element arrived, at most one per cycle; equal widths are plain wires."""
    if elems_in == elems_out:
        return list(arrivals)
    total = len(arrivals) * elems_in
    out, last = [], -1
    for j in range(total // elems_out):
        src = ((j + 1) * elems_out - 1) // elems_in
        last = max(last + 1, arrivals[src] + 1)
        out.append(last)
    return out


def swg_schedule(arrivals: list[int], geometry: dict, beats_per_pixel: int) -> list[int]:
    """Beat times out of edgeq_swg: an output pixel's beats are issued, one per cycle, from the
    cycle after the last word its window needs was written; each leaves 2 cycles after issue."""
    H, W, CG = geometry["H"], geometry["W"], geometry["CG"]
    KH, KW, SH, SW, PH, PW = (geometry[k] for k in ("KH", "KW", "SH", "SW", "PH", "PW"))
    OH, OW = (H + 2 * PH - KH) // SH + 1, (W + 2 * PW - KW) // SW + 1
    out, issue = [], -1
    for oy in range(OH):
        for ox in range(OW):
            y_last = min(oy * SH - PH + KH - 1, H - 1)
            x_last = min(ox * SW - PW + KW - 1, W - 1)
            needed = (y_last * W + x_last + 1) * CG
            ready = arrivals[needed - 1] + 1
            for _ in range(beats_per_pixel):
                issue = max(issue + 1, ready)
                out.append(issue + 2)
    return out


def reduce_schedule(arrivals: list[int], beats_per_output: int, depth: int) -> list[int]:
    """Units that take every beat as it comes and emit one beat per ``beats_per_output``
    consecutive input beats, ``depth`` cycles after the last (edgeq_vvu: 6)."""
    out, issue = [], -1
    for i, t in enumerate(arrivals):
        issue = max(issue + 1, t)
        if i % beats_per_output == beats_per_output - 1:
            out.append(issue + depth)
    return out


def gap_schedule(arrivals: list[int], groups: int, positions: int) -> list[int]:
    """edgeq_gap: the beats of the last position leave 5 cycles after they are taken."""
    out, issue = [], -1
    for i, t in enumerate(arrivals):
        issue = max(issue + 1, t)
        if i >= (positions - 1) * groups:
            out.append(issue + 5)
    return out


def join_schedule(a: list[int], b: list[int], depth: int = 5) -> list[int]:
    """edgeq_add: a beat pair is taken when both are there, and leaves ``depth`` cycles later."""
    out, issue = [], -1
    for ta, tb in zip(a, b):
        issue = max(issue + 1, ta, tb)
        out.append(issue + depth)
    return out


def fifo_schedule(arrivals: list[int]) -> list[int]:
    """edgeq_fifo: a beat can leave the cycle after it was pushed."""
    out, last = [], -1
    for t in arrivals:
        last = max(last + 1, t + 1)
        out.append(last)
    return out
