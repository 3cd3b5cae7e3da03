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
