"""Samples per second of the bit-exact golden against a float32 PyTorch forward of the same
architecture (same layer sizes, random weights), measured side by side in one process.

    python benchmarks/golden_throughput.py [--rounds 7] [--batches 1 64 1024] [--threads 1]
                                           [--markdown]

Each round times ``golden.run`` (numpy), a prepared graph (``golden.prepare(graph).run``:
validated once, constants made once, layers as compiled kernels) and torch on the same batch
size, each call repeated until it has
run for at least --min-time seconds; the table gives the medians over rounds and the ratios
golden / torch (above 1: the golden is faster). ``--threads`` sets both torch's intra-op
threads and numpy's BLAS threads (default 1: on a shared machine, multi-threaded runtimes
stall waiting for busy cores and the figures become noise).
"""

import argparse
import os
import platform
import statistics
import time

import numpy as np
import torch
from torch import nn

from edgeq import golden, zoo
from edgeq.ir import Add, Conv, Dense, Flatten, GlobalAvgPool, Pool, Reshape


class TorchTwin(nn.Module):
    """The graph's architecture in float32 PyTorch (channels first), with random weights."""

    def __init__(self, graph):
        super().__init__()
        self.graph = graph
        self.layers = nn.ModuleDict()
        for node in graph.nodes:
            layer = self._layer(node)
            if layer is not None:
                self.layers[node.name] = layer

    @staticmethod
    def _layer(node):
        if isinstance(node, Dense):
            return nn.Linear(node.weight.shape[1], node.weight.shape[0],
                             bias=node.bias is not None)
        if isinstance(node, Conv):
            nd = len(node.kernel)
            conv = nn.Conv1d if nd == 1 else nn.Conv2d
            c_in = node.weight.shape[-1] * node.groups
            return conv(c_in, node.weight.shape[0], node.kernel, node.stride, node.padding,
                        groups=node.groups, bias=node.bias is not None)
        if isinstance(node, Pool):
            nd = len(node.kernel)
            pools = {("max", 1): nn.MaxPool1d, ("max", 2): nn.MaxPool2d,
                     ("avg", 1): nn.AvgPool1d, ("avg", 2): nn.AvgPool2d}
            return pools[node.mode, nd](node.kernel, node.stride)
        return None

    def forward(self, x):
        values = {self.graph.input.name: x}
        for node in self.graph.nodes[1:]:
            ins = [values[name] for name in node.inputs]
            if isinstance(node, Add):
                y = ins[0] + ins[1]
            elif isinstance(node, GlobalAvgPool):
                y = ins[0].mean(dim=tuple(range(2, ins[0].dim())))
            elif isinstance(node, (Flatten, Reshape)):
                y = ins[0].flatten(1)
            else:
                y = self.layers[node.name](ins[0])
            if getattr(getattr(node, "requant", None), "relu", False):
                y = torch.relu(y)
            values[node.name] = y
        return values[self.graph.output.name]


def channels_first(shape):
    return shape if len(shape) == 1 else (shape[-1],) + tuple(shape[:-1])


CLOCKS = {"wall": time.perf_counter, "cpu": time.thread_time}


def seconds_per_call(fn, min_time: float, clock) -> float:
    fn()  # warm up caches and allocators
    calls, start = 0, clock()
    while True:
        fn()
        calls += 1
        elapsed = clock() - start
        if elapsed >= min_time:
            return elapsed / calls


def measure(graph, batch: int, rounds: int, min_time: float, clock) -> dict:
    """Median samples/s of ``golden.run``, of a prepared graph's ``run`` and of torch."""
    x = golden.random_inputs(graph, batch, seed=batch)
    prepared = golden.prepare(graph)
    assert np.array_equal(prepared.run(x), golden.run(graph, x))
    twin = TorchTwin(graph).eval()
    xt = torch.randn((batch,) + channels_first(graph.input.out.shape))
    contenders = {"run": lambda: golden.run(graph, x), "prepared": lambda: prepared.run(x),
                  "torch": lambda: twin(xt)}
    times = {name: [] for name in contenders}
    with torch.inference_mode():
        assert twin(xt).shape[-1] == graph.output.out.shape[-1]
        for _ in range(rounds):  # interleaved, so all see the same machine load
            for name, fn in contenders.items():
                times[name].append(seconds_per_call(fn, min_time, clock))
    return {name: batch / statistics.median(t) for name, t in times.items()}


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if "model name" in line)
    except (OSError, StopIteration):
        pass
    return f"{cpu}, {os.cpu_count()} logical CPUs, {platform.system()}"


def blas_threads() -> str:
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return "unknown"
    pools = [f"{p['internal_api']} {p['num_threads']}" for p in threadpool_info()
             if p["user_api"] == "blas"]
    return ", ".join(pools) or "none"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 64, 1024])
    parser.add_argument("--min-time", type=float, default=0.2)
    parser.add_argument("--threads", type=int, default=1,
                        help="torch and BLAS threads (0: leave both at their defaults)")
    parser.add_argument("--clock", choices=CLOCKS, default="wall",
                        help="wall time, or this thread's CPU time (fair on a busy machine "
                             "when --threads is 1)")
    parser.add_argument("--markdown", action="store_true", help="print a docs table")
    args = parser.parse_args()
    models = {"MLP 16-64-32-32-5 int8 dyadic (zoo.mlp)": zoo.mlp(),
              "MLP 16-64-32-32-5 int8 fixed-point": zoo.mlp(per_channel=False),
              "residual CNN 8x8x1 int8 (zoo.residual_cnn)": zoo.residual_cnn()}
    for graph in models.values():  # compile the kernels first: numba loads scipy's BLAS
        golden.prepare(graph).run(golden.random_inputs(graph, 2))
    if args.threads:
        from threadpoolctl import threadpool_limits

        torch.set_num_threads(args.threads)
        threadpool_limits(args.threads, user_api="blas")
    rows = []
    for name, graph in models.items():
        for batch in args.batches:
            r = measure(graph, batch, args.rounds, args.min_time, CLOCKS[args.clock])
            rows.append((name, batch, r))
            if not args.markdown:
                print(f"{name:44s} batch {batch:5d}: golden.run {r['run']:11,.0f}/s  "
                      f"prepared {r['prepared']:11,.0f}/s  torch fp32 {r['torch']:11,.0f}/s  "
                      f"ratios {r['run'] / r['torch']:.2f} {r['prepared'] / r['torch']:.2f}",
                      flush=True)
    print(f"\nMachine: {machine()}; torch {torch.__version__} with {torch.get_num_threads()} "
          f"thread(s); numpy {np.__version__}, BLAS threads: {blas_threads()}; {args.clock} "
          f"clock, median of {args.rounds} rounds, each at least {args.min_time} s per "
          "contender.\n")
    if args.markdown:
        print("| model | batch | golden.run /s | prepared /s | torch fp32 /s | run / torch "
              "| prepared / torch |")
        print("|---|---:|---:|---:|---:|---:|---:|")
        for name, batch, r in rows:
            print(f"| {name} | {batch} | {r['run']:,.0f} | {r['prepared']:,.0f} | "
                  f"{r['torch']:,.0f} | {r['run'] / r['torch']:.2f} | "
                  f"{r['prepared'] / r['torch']:.2f} |")


if __name__ == "__main__":
    main()
