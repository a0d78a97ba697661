"""Synthetic photometry: filter curves, model-spectrum grids, extinction, magnitudes.

>>> from ocfeh.synthphot import magnitudes
>>> sun = magnitudes(5772, 4.44, 0.0, bands="gaia")   # doctest: +SKIP
>>> round(float(sun["BP"][0] - sun["RP"][0]), 2)      # doctest: +SKIP
0.82
"""

from .api import extinction, extinction_coefficients, magnitudes, radius_from_mass_logg
from .compare import check_colours, colour_residuals
from .filters import FilterCurve, load_curve, read_curve_file

__all__ = [
    "magnitudes",
    "extinction",
    "extinction_coefficients",
    "radius_from_mass_logg",
    "colour_residuals",
    "check_colours",
    "FilterCurve",
    "load_curve",
    "read_curve_file",
]
