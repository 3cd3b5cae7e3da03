"""Digitized detector pulses from a physical front-end model (no data download).

A particle deposits a charge at time ``t0``; a charge-sensitive preamplifier followed by a
CR-RC^n shaper turns it into the semi-Gaussian pulse

    v(t) = A * (x / n)**n * exp(n - x),   x = (t - t0) / tau,   for t > t0 (0 before),

which peaks at ``A`` a time ``n*tau`` after ``t0``. An ADC samples the shaper output every
``ts`` nanoseconds on top of a pedestal (baseline) that differs from event to event. The
electronic noise is white noise passed through the same shaper (so it is correlated over the
shaping time), scaled to ``noise_rms`` ADC counts. A fraction ``pileup`` of the events carry a
second, later pulse (pile-up) at a random delay and amplitude; the targets stay those of the
first pulse. The ADC rounds to integer codes and clips to
``adc_bits``. The targets are the primary pulse's amplitude ``A`` (ADC counts) and arrival
time ``t0`` (ns, from the start of the window).

Defaults: CR-RC^4 with tau = 25 ns (100 ns peaking time), 100 MS/s, 64 samples (640 ns), a
12-bit ADC, pedestal 200 +- 20 counts, 4 counts RMS noise, amplitudes uniform in 50..3000
counts, t0 uniform in 50..250 ns, 10 % pile-up 40..400 ns after t0.
"""

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class FrontEnd:
    samples: int = 64
    ts: float = 10.0  # ns between ADC samples
    order: int = 4  # n of CR-RC^n
    tau: float = 25.0  # ns, shaping time constant
    adc_bits: int = 12
    pedestal: float = 200.0  # ADC counts
    pedestal_spread: float = 20.0  # RMS from event to event
    noise_rms: float = 4.0  # ADC counts, after shaping
    amplitude: tuple[float, float] = (50.0, 3000.0)
    t0: tuple[float, float] = (50.0, 250.0)  # ns
    pileup: float = 0.1  # fraction of events with a second pulse
    pileup_dt: tuple[float, float] = (40.0, 400.0)  # ns, second pulse after t0

    def shape(self, t) -> np.ndarray:
        """CR-RC^n response with unit peak, t in ns after the charge arrives."""
        x = np.maximum(np.asarray(t, dtype=np.float64), 0.0) / self.tau
        n = self.order
        return np.where(x > 0, (x / n) ** n * np.exp(n - x), 0.0)

    @property
    def times(self) -> np.ndarray:
        return np.arange(self.samples) * self.ts


def _shaped_noise(fe: FrontEnd, rng, events: int) -> np.ndarray:
    """White noise through the shaper's impulse response, scaled to ``noise_rms``."""
    kernel = fe.shape(np.arange(0, 12 * fe.tau, fe.ts))
    kernel /= np.sqrt(np.sum(kernel ** 2))
    white = rng.standard_normal((events, fe.samples + len(kernel) - 1))
    return np.stack([np.convolve(w, kernel, mode="valid") for w in white]) * fe.noise_rms


def generate(events: int, seed: int = 0, fe: FrontEnd = FrontEnd()):
    """``(waveforms, amplitude, t0, piled_up)``: ADC codes (events, samples) as float32."""
    rng = np.random.default_rng(seed)
    amp = rng.uniform(*fe.amplitude, events)
    t0 = rng.uniform(*fe.t0, events)
    wave = amp[:, None] * fe.shape(fe.times[None] - t0[:, None])
    piled = rng.random(events) < fe.pileup
    amp2 = rng.uniform(*fe.amplitude, events)
    t2 = t0 + rng.uniform(*fe.pileup_dt, events)
    wave += np.where(piled, amp2, 0.0)[:, None] * fe.shape(fe.times[None] - t2[:, None])
    wave += fe.pedestal + fe.pedestal_spread * rng.standard_normal(events)[:, None]
    wave += _shaped_noise(fe, rng, events)
    codes = np.clip(np.rint(wave), 0, (1 << fe.adc_bits) - 1)
    return codes.astype(np.float32), amp.astype(np.float32), t0.astype(np.float32), piled
