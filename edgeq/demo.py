"""``edgeq demo``: the end-to-end flow on scikit-learn's bundled digits.

A 64-64-32-10 MLP is trained in float and then with Brevitas quantization-aware training
(int8, power-of-two scales), imported into the IR through QONNX and checked bit-exact against
Brevitas on every test image. The ``.edgeq`` file is saved, reloaded and inspected; then each
hardware target is generated from it and simulated on the test images, every output integer
compared with the golden.
"""

import tempfile
import time
import warnings
from pathlib import Path

# target -> build options; each is generated from the same .edgeq file and verified
TARGETS = {"hls": {}, "mcu": {}, "rtl": {"fold": "auto"}}


def run_demo(console, workdir: Path | None = None) -> int:
    from . import backends
    from .cli import inspect_table
    from .frontends.brevitas import input_integers
    from .ir import load, save
    from .quant.qat.digits import load_digits, train_digits_mlp

    def say(message: str) -> None:
        console.print(message, soft_wrap=True, highlight=False, markup=False)

    warnings.filterwarnings("ignore", message="fast_hadamard_transform")  # Brevitas' import note
    workdir = Path(workdir or tempfile.mkdtemp(prefix="edgeq-demo-"))
    workdir.mkdir(parents=True, exist_ok=True)
    say("training a digits MLP in float, then int8 QAT with Brevitas, importing it via QONNX")
    result = train_digits_mlp("int8")
    say(result.summary())
    path = save(result.graph, workdir / "digits_mlp.edgeq", force=True)
    graph = load(path)
    console.print(inspect_table(graph))
    say(f"model: {path}")

    x_test = input_integers(graph, load_digits().x_test)
    failures = 0 if result.agreement.bit_exact else 1
    for target, options in TARGETS.items():
        start = time.perf_counter()
        out = backends.build(graph, target, workdir / target, force=True, **options)
        verdict = backends.verify(out, inputs=x_test)
        seconds = time.perf_counter() - start
        say(f"{target:>4}: {verdict.summary()} on {len(x_test)} test images "
            f"(build + simulate {seconds:.1f} s) -> {out}")
        if verdict.difference is not None:
            say(f"      first difference: {verdict.difference}")
        failures += not verdict.bit_exact
    return 1 if failures else 0
