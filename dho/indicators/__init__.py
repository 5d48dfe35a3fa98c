"""Indicators: definitions over platform data, the engine that computes them, exports."""

from dho.indicators import epoch as _epoch  # noqa: F401  (installs the data-epoch hook)
