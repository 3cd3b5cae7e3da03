"""Quantization-aware training of a small CNN on scikit-learn's digits, imported bit-exactly.

A CNN (conv3x3-BN-ReLU, max pool, conv3x3-BN-ReLU, average pool, dense) is trained in float,
then for each format converted to Brevitas (BatchNorm folded, power-of-two scales),
calibrated, fine-tuned with QAT, exported to QONNX and imported into edgeq's IR.
The IR golden is checked against Brevitas on every test image, and one .edgeq file per format
is written. Run: python examples/digits_cnn.py [--preset int4 int8] [--out DIR] [--force]
"""

import argparse

from edgeq.quant.qat.digits import run_examples

FORMATS = ["int4", "int8"]


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--preset", nargs="+", default=FORMATS, help="formats (intN, eXmY)")
    p.add_argument("--out", default="digits_models", help="folder for the .edgeq files")
    p.add_argument("--force", action="store_true", help="overwrite existing .edgeq files")
    p.add_argument("--float-epochs", type=int, default=30)
    p.add_argument("--qat-epochs", type=int, default=15)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    try:
        results = run_examples("cnn", args.preset, args.out, args.force, args.float_epochs,
                               args.qat_epochs, args.seed)
    except FileExistsError as e:
        print(f"error: {e}")
        return 2
    return 0 if all(r.agreement.bit_exact for r in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
