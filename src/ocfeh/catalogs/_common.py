"""What every survey reader shares: reference epochs, sentinel values and a column shorthand."""

from __future__ import annotations

from .registry import Column

GAIA_EPOCH = 2016.0
"""Gaia DR3 reference epoch (Julian year)."""
JPLUS_EPOCH = 2018.0
"""Approximate mean epoch of J-PLUS DR3 observations (positions are tied to Gaia at the observing epoch)."""
CATWISE_EPOCH = 2015.4
"""CatWISE2020 reference epoch (MJD 57170)."""
LAMOST_EPOCH = 2000.0
"""LAMOST input-catalogue positions (J2000 epoch for most targets)."""
APOGEE_EPOCH = 2000.0
"""APOGEE positions come from 2MASS (epoch ~2000)."""

GAIA_ZP_ERR = {"G": 0.0027553202, "BP": 0.0027901700, "RP": 0.0037793818}
"""Gaia DR3 photometric zero-point uncertainties (mag, Riello et al. 2021), added in quadrature."""

_MAG_SENTINELS = (99.0, -99.0, 99.99, -99.99, -9999.0, 9999.0, -999.0, 999.0)
_LABEL_SENTINELS = (-9999.0, -999.0, -99.0, -9999.99)
_LAMOST_SNR_SENTINELS = (-9999.0, -999.0)


def _c(canonical, *native, **kw) -> Column:
    return Column(canonical, tuple(native), **kw)
