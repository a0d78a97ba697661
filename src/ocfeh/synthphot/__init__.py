"""Synthetic photometry: model spectra through the ocfeh bands, extinction, and BaSTI-IAC isochrones.

>>> from ocfeh.synthphot import magnitudes
>>> sun = magnitudes(5772, 4.44, 0.0, bands="gaia")   # doctest: +SKIP
>>> round(float(sun["BP"][0] - sun["RP"][0]), 2)      # doctest: +SKIP
0.82
"""

from .colour_check import check_colours, colour_residuals
from .isochrone_mags import IsochroneMagnitudes, MagnitudeTable
from .isochrones import Isochrones, load_isochrones
from .stellar import extinction, extinction_coefficients, magnitudes, radius_from_mass_logg

__all__ = [
    "magnitudes",
    "extinction",
    "extinction_coefficients",
    "radius_from_mass_logg",
    "colour_residuals",
    "check_colours",
    "Isochrones",
    "load_isochrones",
    "IsochroneMagnitudes",
    "MagnitudeTable",
]
