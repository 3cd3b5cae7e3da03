"""A 1-D CNN regressing a detector pulse's amplitude and arrival time, float vs integer-only.

The waveforms come from ``pulse_model.py`` (CR-RC^4 shaping, pedestal, shaped noise, pile-up,
12-bit ADC). The network sees ADC codes / 4096, so a 12-bit unsigned IR input with scale
1/4096 carries the ADC codes exactly. It predicts ``A / 1000`` and ``(t0 - 150 ns) / 100 ns``.
Resolutions are RMS errors on held-out events, time in ns and amplitude in ADC counts, over
every event and over the events without pile-up.

    python examples/ptq_pulses.py            # the resolution table of docs/PTQ.md
    edgeq quantize ptq examples/ptq_pulses.py:model --calib pulses_calib.npy ...
"""

import argparse
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ptq_digits import SEED, trained
from pulse_model import FrontEnd, generate

TRAIN, TEST, CALIB = 20000, 5000, 512
FE = FrontEnd()
INPUT_SCALE = 1.0 / (1 << FE.adc_bits)
PTQ_INPUT = {"input_bits": FE.adc_bits, "input_scale": INPUT_SCALE, "input_signed": False}


def targets(amp, t0) -> np.ndarray:
    return np.stack([amp / 1000.0, (t0 - 150.0) / 100.0], axis=1).astype(np.float32)


def decode(y) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y, dtype=np.float64)
    return y[:, 0] * 1000.0, y[:, 1] * 100.0 + 150.0


def dataset(events: int, seed: int):
    codes, amp, t0, piled = generate(events, seed, FE)
    return (codes[:, None] * INPUT_SCALE).astype(np.float32), amp, t0, piled


class PulseCNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv1d(1, 8, 5, padding=2, bias=False)
        self.bn1 = nn.BatchNorm1d(8)
        self.conv2 = nn.Conv1d(8, 16, 5, stride=2, padding=2, bias=False)
        self.bn2 = nn.BatchNorm1d(16)
        self.conv3 = nn.Conv1d(16, 16, 3, padding=1, bias=False)
        self.bn3 = nn.BatchNorm1d(16)
        self.fc1 = nn.Linear(16 * 16, 32)
        self.fc2 = nn.Linear(32, 2)

    def forward(self, x):
        h = F.relu(self.bn1(self.conv1(x)))
        h = F.relu(self.bn2(self.conv2(h)))
        h = F.max_pool1d(F.relu(self.bn3(self.conv3(h))), 2)
        return self.fc2(F.relu(self.fc1(torch.flatten(h, 1))))


def fit(model: nn.Module, epochs: int = 60):
    x, amp, t0, _ = dataset(TRAIN, SEED)
    x, y = torch.from_numpy(x), torch.from_numpy(targets(amp, t0))
    torch.manual_seed(SEED)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, epochs)
    model.train()
    for _ in range(epochs):
        for idx in torch.randperm(len(x)).split(128):
            opt.zero_grad()
            F.mse_loss(model(x[idx]), y[idx]).backward()
            opt.step()
        sched.step()
    return model.eval()


def model() -> nn.Module:
    """The trained pulse regressor (deterministic, cached like the digits models)."""
    return trained("pulse_cnn", PulseCNN, fit, version=2)


def calibration() -> np.ndarray:
    return dataset(CALIB, SEED + 2)[0]


def resolution(pred, amp, t0, piled) -> dict:
    a, t = decode(pred)
    da, dt = a - amp, t - t0
    clean = ~piled

    def rms(v):
        return float(np.sqrt(np.mean(v ** 2)))

    return {"time_ns": rms(dt), "time_ns_clean": rms(dt[clean]),
            "amp": rms(da), "amp_clean": rms(da[clean])}


SETTINGS = {
    "W8A8 (defaults)": {},
    "W8A8, round to nearest (no GPTQ)": {"gptq": False},
    "W8A8, percentile activation ranges": {"method": "percentile"},
    "W8A8, 16-bit activations after conv1": {
        "act_bits": {"conv1": 16, "conv2": 8, "conv3": 8, "fc1": 8}},
    "W4A8 (defaults)": {"weight_bits": 4},
    "W4A8, round to nearest (no GPTQ)": {"weight_bits": 4, "gptq": False},
    "W4A8 + equalization": {"weight_bits": 4, "equalize": True},
}


def hawq_at_w4_memory() -> dict:
    """Mixed weight widths (activations 8 bits) within uniform W4A8's weight memory."""
    from edgeq.quant import mixed

    calib = dataset(CALIB, SEED + 2)
    sens = mixed.sensitivity(model(), calib[0], targets(calib[1], calib[2]), loss="mse",
                             input_bits=FE.adc_bits)
    budget = mixed.WeightMemory(mixed.total_cost(mixed.WeightMemory(0), sens.layers,
                                                 mixed.uniform(sens, 4, 8)))
    return mixed.solve(sens, [budget], act_choices=(8,)).ptq_kwargs()


def evaluate(settings: dict = SETTINGS, hawq: bool = True) -> list[dict]:
    from edgeq.quant.ptq import quantize

    net = model()
    x, amp, t0, piled = dataset(TEST, SEED + 1)
    with torch.no_grad():
        ref = net(torch.from_numpy(x)).numpy()
    rows = [{"setting": "float", **resolution(ref, amp, t0, piled)}]
    print(_row(rows[-1]), flush=True)
    if hawq:
        kw = hawq_at_w4_memory()
        bits = "/".join(str(b) for b in kw["weight_bits"].values())
        settings = {**settings, f"HAWQ at W4A8's weight memory (weights {bits})": kw}
    for name, kw in settings.items():
        result = quantize(net, calibration(), **PTQ_INPUT, **kw)
        pred = result.run(x)
        exact = min(result.agreement(x[:500], result.integer_model).values()) == 1.0
        layered = result.agreement(x[:500], per_layer=True)
        near = result.agreement(x[:500], per_layer=True, tolerance=1)
        rows.append({"setting": name, **resolution(pred, amp, t0, piled),
                     "output_layered": layered["output"], "output_near": near["output"],
                     "integer_sim_exact": exact})
        print(_row(rows[-1]), flush=True)
    return rows


def _row(r: dict) -> str:
    tail = ("| | | |" if "output_layered" not in r else
            f"| {100 * r['output_layered']:.2f} | {100 * r['output_near']:.2f} | "
            f"{'yes' if r['integer_sim_exact'] else 'NO'} |")
    return (f"| {r['setting']} | {r['time_ns']:.3f} | {r['time_ns_clean']:.3f} | "
            f"{r['amp']:.2f} | {r['amp_clean']:.2f} {tail}")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--calib-out", help="write the calibration batch to this .npy and stop")
    args = p.parse_args(argv)
    if args.calib_out:
        np.save(Path(args.calib_out), calibration())
        print(f"wrote {args.calib_out}")
        return 0
    print("| model | time RMS (ns) | time RMS, no pile-up (ns) | amplitude RMS (counts) | "
          "amplitude RMS, no pile-up (counts) | output codes equal to fake-quant %, layer by "
          "layer | within 1 % | integer sim bit-exact |")
    print("|---|---|---|---|---|---|---|---|")
    evaluate()
    return 0


if __name__ == "__main__":
    sys.exit(main())
