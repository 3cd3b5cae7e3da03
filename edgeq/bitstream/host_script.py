"""Send samples to the board over its serial port and check every answer with the golden.

Shipped by `edgeq bitstream` as OUT/<board>/host.py; it reads the model and the beat layout
from the design folder above it. Needs edgeq and pyserial (pip install 'edgeq[board]').

    python host.py --port /dev/ttyUSB1 [--samples 100] [--input X.npy] [--baud 115200]

It first sends a break (the line held low for 20 ms), which resets the design, so a board
left half-way through a sample starts clean. Samples then go one at a time (the board answers
each before the next is sent, so its receive FIFO never overflows). Prints `bit-exact: K/K outputs` and the first difference; exit status
0 only when every output integer matches.
"""

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

DESIGN = Path(__file__).resolve().parent.parent


def load_design(design: Path = DESIGN):
    from edgeq.ir import load

    manifest = json.loads((design / "manifest.json").read_text())
    return manifest, load(design / "model.edgeq")


def requests(x: np.ndarray, manifest: dict) -> list[bytes]:
    """One message per sample, in the board's byte format."""
    from edgeq.bitstream.protocol import encode

    return [encode(sample[None], manifest["io"]["input"]) for sample in x]


def answer_size(manifest: dict) -> int:
    from edgeq.bitstream.protocol import sample_bytes

    return sample_bytes(manifest["io"]["output"])


def answers(data: bytes, manifest: dict, graph) -> np.ndarray:
    """The board's bytes back to output integers (N, *output_shape)."""
    from edgeq.bitstream.protocol import decode

    return decode(data, manifest["io"]["output"], graph.output.out.shape)


def check(x: np.ndarray, received: bytes, manifest: dict, graph):
    """A VerifyResult: every output integer against the golden."""
    from edgeq import golden
    from edgeq.backends import compare_outputs

    expected = golden.run(graph, x)
    got = answers(received, manifest, graph)
    if len(got) < len(expected):
        pad = np.full((len(expected) - len(got),) + expected.shape[1:], np.iinfo(np.int64).min)
        got = np.concatenate([got, pad]) if len(got) else pad
    return compare_outputs("board", expected, got)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--port", required=True, help="serial port, e.g. /dev/ttyUSB1 or COM5")
    p.add_argument("--baud", type=int, default=115200)
    p.add_argument("--samples", type=int, default=100)
    p.add_argument("--input", help=".npy of input integers (default: random)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--timeout", type=float, default=2.0, help="seconds to wait for an answer")
    args = p.parse_args(argv)

    import serial  # pyserial

    from edgeq import golden
    from edgeq.golden.interpreter import check_input

    manifest, graph = load_design()
    if args.input:
        x = np.load(args.input, allow_pickle=False)
    else:
        x = golden.random_inputs(graph, args.samples, args.seed)
    x = check_input(graph, x[None] if x.shape == graph.input.out.shape else x)
    size = answer_size(manifest)
    received = bytearray()
    with serial.Serial(args.port, args.baud, timeout=args.timeout) as link:
        link.send_break(duration=0.02)  # resets the design (edgeq_uart_reset.sv)
        time.sleep(0.01)
        link.reset_input_buffer()
        for i, message in enumerate(requests(x, manifest)):
            link.write(message)
            answer = link.read(size)
            received += answer
            if len(answer) < size:
                print(f"sample {i}: {len(answer)} of {size} bytes before the timeout "
                      f"(reset the board: power-cycle or reflash)", file=sys.stderr)
                break
    result = check(x, bytes(received), manifest, graph)
    print(result.summary())
    if result.difference is not None:
        print(f"first difference: {result.difference}")
    return 0 if result.bit_exact else 1


if __name__ == "__main__":
    sys.exit(main())
