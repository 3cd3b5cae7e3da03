"""edgeq: quantized networks to verified integer hardware."""
__version__ = "0.1.0"
