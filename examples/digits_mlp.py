"""Quantization-aware training of an MLP on scikit-learn's digits, imported bit-exactly.

A 64-64-32-10 MLP is trained in float, then for each format converted to Brevitas (power-of-
two scales), calibrated, fine-tuned with QAT, exported to QONNX and imported into edgeq's IR.
The IR golden is checked against Brevitas on every test image, and one .edgeq file per format
is written. Run: python examples/digits_mlp.py [--preset int8 e4m3 ...] [--out DIR] [--force]
"""

import argparse

from edgeq.quant.qat.digits import run_examples

FORMATS = ["int8", "int6", "int4", "e4m3", "e3m2", "e2m1"]


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--preset", nargs="+", default=FORMATS, help="formats (intN, eXmY)")
    p.add_argument("--out", default="digits_models", help="folder for the .edgeq files")
    p.add_argument("--force", action="store_true", help="overwrite existing .edgeq files")
    p.add_argument("--float-epochs", type=int, default=60)
    p.add_argument("--qat-epochs", type=int, default=30)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    try:
        results = run_examples("mlp", args.preset, args.out, args.force, args.float_epochs,
                               args.qat_epochs, args.seed)
    except FileExistsError as e:
        print(f"error: {e}")
        return 2
    return 0 if all(r.agreement.bit_exact for r in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
