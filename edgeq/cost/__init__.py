"""FPGA cost model: per-layer LUT, FF, DSP and BRAM of the RTL backend's designs for Xilinx
7-series, iCE40 UltraPlus and ECP5, calibrated on Yosys synthesis (``cost_models/``), with the
generator's own cycles per sample and latency."""

from .autofold import DoesNotFit, fit_folding
from .estimate import Estimate, estimate, estimate_design
from .model import device_info, devices
from .report import estimate_table, synth_table
from .synth import synthesize_design

__all__ = ["DoesNotFit", "Estimate", "device_info", "devices", "estimate", "estimate_design",
           "estimate_table", "fit_folding", "synth_table", "synthesize_design"]
