"""Post-training quantization on scikit-learn's digits (bundled with scikit-learn, no download).

Two float models are trained here, seeded and in a few seconds on a CPU: an MLP (with
BatchNorm1d and Dropout, folded/removed by PTQ) and a CNN with a residual block (BatchNorm2d,
a skip connection, max pooling and a flatten feeding the classifier). ``mlp()`` and ``cnn()``
are model factories for ``edgeq quantize ptq examples/ptq_digits.py:cnn --calib ...``.

    python examples/ptq_digits.py            # the accuracy table of docs/PTQ.md
    python examples/ptq_digits.py --calib-out calib_cnn.npy --kind cnn
"""

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from torch import nn

SEED = 0
CALIB = 256  # calibration samples, drawn from the training split
VERSION = 1  # bump when a model or its training changes: names the cached weights
CACHE = Path(os.environ.get("EDGEQ_CACHE", Path.home() / ".cache" / "edgeq"))
torch.set_num_threads(1)  # small models: one thread is fastest, and much faster on a busy machine


def digits(image: bool = True):
    """Train/test split (75/25, stratified, seeded); pixels 0..16 scaled to 0..1."""
    data = load_digits()
    x = (data.images / 16.0).astype(np.float32)
    x = x[:, None] if image else x.reshape(len(x), -1)
    x_tr, x_te, y_tr, y_te = train_test_split(x, data.target, test_size=0.25,
                                              random_state=SEED, stratify=data.target)
    return (torch.from_numpy(x_tr), torch.from_numpy(y_tr), torch.from_numpy(x_te),
            torch.from_numpy(y_te))


def calibration(image: bool = True) -> np.ndarray:
    x_tr = digits(image)[0].numpy()
    return x_tr[np.random.default_rng(SEED).choice(len(x_tr), CALIB, replace=False)]


class DigitsMLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(64, 64)
        self.bn1 = nn.BatchNorm1d(64)
        self.fc2 = nn.Linear(64, 32)
        self.drop = nn.Dropout(0.1)
        self.fc3 = nn.Linear(32, 10)

    def forward(self, x):
        x = F.relu(self.bn1(self.fc1(x)))
        x = self.drop(F.relu(self.fc2(x)))
        return self.fc3(x)


class DigitsResCNN(nn.Module):
    def __init__(self, width: int = 16):
        super().__init__()
        self.stem = nn.Conv2d(1, width, 3, padding=1, bias=False)
        self.stem_bn = nn.BatchNorm2d(width)
        self.res_a = nn.Conv2d(width, width, 3, padding=1, bias=False)
        self.res_a_bn = nn.BatchNorm2d(width)
        self.res_b = nn.Conv2d(width, width, 3, padding=1, bias=False)
        self.res_b_bn = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, 2 * width, 3, padding=1, bias=False)
        self.conv2_bn = nn.BatchNorm2d(2 * width)
        self.fc = nn.Linear(2 * width * 2 * 2, 10)

    def forward(self, x):
        h = F.relu(self.stem_bn(self.stem(x)))
        r = F.relu(self.res_a_bn(self.res_a(h)))
        r = self.res_b_bn(self.res_b(r))
        h = F.max_pool2d(F.relu(h + r), 2)
        h = F.max_pool2d(F.relu(self.conv2_bn(self.conv2(h))), 2)
        return self.fc(torch.flatten(h, 1))


def train(model: nn.Module, x, y, epochs: int = 40, lr: float = 3e-3, seed: int = SEED):
    torch.manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, epochs)
    model.train()
    for _ in range(epochs):
        for idx in torch.randperm(len(x)).split(64):
            opt.zero_grad()
            F.cross_entropy(model(x[idx]), y[idx]).backward()
            opt.step()
        sched.step()
    return model.eval()


def accuracy(predict, x, y) -> float:
    with torch.no_grad():
        logits = np.asarray(predict(x))
    return float(np.mean(logits.argmax(axis=1) == np.asarray(y))) * 100


def trained(name: str, make, fit, version: int = VERSION) -> nn.Module:
    """``make()`` trained by ``fit(model)``, cached in ``$EDGEQ_CACHE`` (default ~/.cache/edgeq)."""
    path = CACHE / f"{name}-v{version}.pt"
    torch.manual_seed(SEED)
    model = make()
    if path.exists():
        model.load_state_dict(torch.load(path, weights_only=True))
        return model.eval()
    fit(model)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), path)
    return model.eval()


def mlp() -> nn.Module:
    """The trained digits MLP (deterministic)."""
    x, y, _, _ = digits(image=False)
    return trained("digits_mlp", DigitsMLP, lambda m: train(m, x, y))


def cnn() -> nn.Module:
    """The trained digits residual CNN (deterministic)."""
    x, y, _, _ = digits(image=True)
    return trained("digits_cnn", DigitsResCNN, lambda m: train(m, x, y, epochs=30))


SETTINGS = {  # name: keyword arguments of edgeq.quant.ptq.quantize
    "W8A8 (defaults)": {},
    "W8A8, round to nearest (no GPTQ)": {"gptq": False},
    "W4A8 (defaults)": {"weight_bits": 4},
    "W4A8, round to nearest (no GPTQ)": {"weight_bits": 4, "gptq": False},
    "W4A8 + bias correction": {"weight_bits": 4, "bias_correction": True},
    "W4A4 (defaults)": {"weight_bits": 4, "act_bits": 4},
}


def evaluate(settings: dict = SETTINGS, kinds=("mlp", "cnn")) -> list[dict]:
    from edgeq.quant.ptq import quantize

    rows = []
    for kind in kinds:
        image = kind == "cnn"
        model = {"mlp": mlp, "cnn": cnn}[kind]()
        _, _, x_te, y_te = digits(image)
        calib = calibration(image)
        ref = accuracy(model, x_te, y_te)
        rows.append({"model": kind, "setting": "float", "accuracy": ref})
        print(_row(rows[-1]), flush=True)
        for name, kw in settings.items():
            t0 = time.perf_counter()
            result = quantize(model, calib, **kw)
            seconds = time.perf_counter() - t0
            x = x_te.numpy()
            golden_acc = accuracy(result.run, x, y_te)
            fake_acc = accuracy(result.fake_quant, x_te, y_te)
            out = result.lowered.output.name
            chained = result.agreement(x)
            layered = result.agreement(x, per_layer=True)
            near = result.agreement(x, per_layer=True, tolerance=1)
            exact = min(result.agreement(x, result.integer_model).values())
            hidden = [k for k in chained if k not in ("output", out)]
            rows.append({"model": kind, "setting": name, "accuracy": golden_acc,
                         "delta": golden_acc - ref, "fake_quant": fake_acc,
                         "hidden_chained": min(chained[k] for k in hidden),
                         "hidden_layered": min(layered[k] for k in hidden),
                         "output_layered": layered["output"], "output_near": near["output"],
                         "integer_sim_exact": exact == 1.0, "seconds": seconds})
            print(_row(rows[-1]), flush=True)
    return rows


def _row(r: dict) -> str:
    if "delta" not in r:
        return f"| {r['model']} | {r['setting']} | {r['accuracy']:.2f} |" + " |" * 7
    pct = [f"{100 * r[k]:.2f}" for k in ("hidden_chained", "hidden_layered", "output_layered",
                                          "output_near")]
    return (f"| {r['model']} | {r['setting']} | {r['accuracy']:.2f} | {r['delta']:+.2f} | "
            f"{r['fake_quant']:.2f} | {' | '.join(pct)} | "
            f"{'yes' if r['integer_sim_exact'] else 'NO'} |")


HEADER = ("| model | setting | golden accuracy % | vs float | fake-quant accuracy % | hidden codes "
          "equal %, end to end (worst layer) | hidden codes equal %, layer by layer (worst) | "
          "output codes equal %, layer by layer | output codes within 1 % | integer sim "
          "bit-exact |\n|---|---|---|---|---|---|---|---|---|---|")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--calib-out", help="write the calibration batch of --kind to this .npy")
    p.add_argument("--kind", choices=["mlp", "cnn"], default="cnn")
    args = p.parse_args(argv)
    if args.calib_out:
        np.save(Path(args.calib_out), calibration(args.kind == "cnn"))
        print(f"wrote {args.calib_out}")
        return 0
    print(HEADER)
    evaluate()
    return 0


if __name__ == "__main__":
    sys.exit(main())
