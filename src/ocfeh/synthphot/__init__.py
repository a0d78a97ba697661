"""Synthetic photometry: filter curves, model-spectrum grids, extinction, magnitudes."""

from .filters import FilterCurve, load_curve, read_curve_file

__all__ = ["FilterCurve", "load_curve", "read_curve_file"]
