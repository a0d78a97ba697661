"""Public synthetic-photometry functions: magnitudes, extinctions, extinction coefficients."""

from __future__ import annotations

import logging
from typing import Iterable, Sequence, Union

import numpy as np
import pandas as pd

from ..bands import BANDS, Band, band_set, get_band
from ..datafiles import cache_dir
from ..exceptions import InputError
from .interp import TableInterpolator
from .table import load_table, table_key

__all__ = ["magnitudes", "extinction", "extinction_coefficients", "radius_from_mass_logg", "get_interpolator",
           "R_SUN_CM", "PC_CM"]

log = logging.getLogger(__name__)

R_SUN_CM = 6.957e10
"""Nominal solar radius [cm] (IAU 2015 B3)."""
PC_CM = 3.0856775814913673e18
"""Parsec [cm]."""
_G_CGS = 6.6743e-8
_M_SUN_G = 1.98840987e33  # GM_sun / G (IAU 2015 B3 nominal GM_sun)

BandsArg = Union[str, Band, Iterable[Union[str, Band]]]
_INTERPOLATORS: dict[tuple[str, str], TableInterpolator] = {}


def _resolve_bands(bands: BandsArg) -> list[Band]:
    if isinstance(bands, Band):
        return [bands]
    if isinstance(bands, str):
        return [get_band(b) for b in band_set(bands)]
    if isinstance(bands, dict):
        bands = list(bands.values())
    out = [b if isinstance(b, Band) else get_band(b) for b in bands]
    if not out:
        raise InputError("bands is empty; give a band set name ('all', 'jplus', 'gaia', 'wise') or band names")
    return out


def get_interpolator(bands: Sequence[Band]) -> TableInterpolator:
    """The (cached) interpolator of the table for these bands; registered bands share one table."""
    bands = list(bands)
    registered = all(BANDS.get(b.name) == b for b in bands)
    table_bands = list(BANDS.values()) if registered else bands
    key = (str(cache_dir()), table_key(table_bands))
    if key not in _INTERPOLATORS:
        _INTERPOLATORS[key] = TableInterpolator(load_table(table_bands))
    return _INTERPOLATORS[key]


def _broadcast(**arrays) -> tuple[tuple[int, ...], list[np.ndarray]]:
    try:
        vals = np.broadcast_arrays(*[np.asarray(v, dtype=float) for v in arrays.values()])
    except ValueError as exc:
        shapes = ", ".join(f"{k}{np.shape(v)}" for k, v in arrays.items())
        raise InputError(f"cannot broadcast the inputs together: {shapes}") from exc
    return vals[0].shape, [v.ravel() for v in vals]


def _evaluate(teff, logg, feh, a0, bands, extinction_only=False):
    blist = _resolve_bands(bands)
    shape, (t, g, f, a) = _broadcast(teff=teff, logg=logg, feh=feh, a0=a0)
    interp = get_interpolator(blist)
    idx = [interp.bands.index(b.name) for b in blist]
    vals, ok = interp.evaluate(t, g, f, a, idx, extinction_only=extinction_only)
    n_out = int((~ok).sum())
    if n_out:
        log.debug("synthphot: %d of %d stars outside the model grid (NaN)", n_out, ok.size)
    _warn_invalid(a, "a0", "a negative A_0", lambda v: v >= 0)
    return blist, shape, vals, ok


def _warn_invalid(values: np.ndarray, name: str, what: str, valid) -> None:
    """Log a warning counting the stars whose finite ``name`` fails ``valid`` (their results are NaN;
    NaN inputs are missing values, not counted)."""
    with np.errstate(invalid="ignore"):
        n_bad = int((np.isfinite(values) & ~valid(values)).sum())
    if n_bad:
        log.warning("synthphot: %d of %d stars have %s (%s); their values are NaN and in_grid is False",
                    n_bad, values.size, what, name)


def magnitudes(teff, logg, feh, a0=0.0, radius=1.0, distance=10.0, bands: BandsArg = "all") -> pd.DataFrame:
    """Apparent synthetic magnitudes of stars from the merged Kurucz + PHOENIX grid.

    AB magnitudes for J-PLUS, Vega magnitudes for Gaia DR3 and WISE (photon-counting integrals),
    reddened by the G23 law at ``a0`` before integration. Inputs broadcast against each other.

    Parameters
    ----------
    teff : float or array_like
        Effective temperature [K] (grid 2300-50,000 K).
    logg : float or array_like
        log10 surface gravity [cm s^-2] (grid 0-5.5; hot stars start at higher log g).
    feh : float or array_like
        [Fe/H] [dex] (grid -4 to +1), solar-scaled alpha.
    a0 : float or array_like, default=0.0
        Monochromatic extinction at 541.4 nm [mag] (Gaia GSP-Phot A_0; R_V = 3.1), 0-10.
    radius : float or array_like, default=1.0
        Stellar radius [R_sun].
    distance : float or array_like, default=10.0
        Distance [pc] (10 pc gives absolute magnitudes).
    bands : str, Band or list, default="all"
        Band set name, band names, or :class:`~ocfeh.bands.Band` objects (e.g. S-PLUS).

    Returns
    -------
    pandas.DataFrame
        One float column per band (named by band) and a boolean ``in_grid``; one row per star
        (the broadcast inputs flattened). Stars outside the grid, or with a distance or radius <= 0
        or a negative ``a0``, get NaN and ``in_grid`` False; the latter are counted in a logged warning.

    Raises
    ------
    UnknownBandError
        A band name is not registered (the message lists the known bands).
    """
    blist, shape, vals, ok = _evaluate(teff, logg, feh, a0, bands)
    _, (r, d) = _broadcast(radius=np.broadcast_to(np.asarray(radius, float), shape),
                           distance=np.broadcast_to(np.asarray(distance, float), shape))
    with np.errstate(divide="ignore", invalid="ignore"):
        dm = -5.0 * np.log10(r * R_SUN_CM / (d * PC_CM))
    _warn_invalid(d, "distance", "a distance <= 0 pc", lambda v: v > 0)
    _warn_invalid(r, "radius", "a radius <= 0 R_sun", lambda v: v > 0)
    bad = ~(np.isfinite(dm))
    vals = vals + dm[:, None]
    vals[bad] = np.nan
    ok = ok & ~bad
    df = pd.DataFrame(vals, columns=[b.name for b in blist])
    df["in_grid"] = ok
    return df


def extinction(teff, logg, feh, a0, bands: BandsArg = "all") -> pd.DataFrame:
    """Extinction A_band [mag] for stars of the given parameters behind A_0 of dust (G23, R_V = 3.1).

    Parameters are as in :func:`magnitudes`. Returns one column per band and ``in_grid``.
    """
    blist, _, vals, ok = _evaluate(teff, logg, feh, a0, bands, extinction_only=True)
    df = pd.DataFrame(vals, columns=[b.name for b in blist])
    df["in_grid"] = ok
    return df


def extinction_coefficients(teff, logg, feh, a0=1.0, bands: BandsArg = "all") -> pd.DataFrame:
    """A_band / A_0 (dimensionless) at the given parameters; ``a0 = 0`` gives the small-A_0 limit.

    Parameters are as in :func:`magnitudes`. Returns one column per band and ``in_grid``.
    """
    blist, shape, (t, g, f, a) = _resolve_bands(bands), *_broadcast(teff=teff, logg=logg, feh=feh, a0=a0)
    interp = get_interpolator(blist)
    idx = [interp.bands.index(b.name) for b in blist]
    a_eval = np.where(a == 0, 1.0e-6, a)  # A_band/A_0 is stored at A_0 = 0 as the small-A_0 limit
    vals, ok = interp.evaluate(t, g, f, a_eval, idx, extinction_only=True)
    vals = vals / a_eval[:, None]
    ok &= np.isfinite(a)
    df = pd.DataFrame(vals, columns=[b.name for b in blist])
    df["in_grid"] = ok
    return df


def radius_from_mass_logg(mass_msun, logg):
    """Stellar radius [R_sun] from mass [M_sun] and log g [cgs]: R = sqrt(G M / g).

    >>> round(float(radius_from_mass_logg(1.0, 4.438)), 3)
    1.0
    """
    m = np.asarray(mass_msun, dtype=float)
    g = 10.0 ** np.asarray(logg, dtype=float)
    return np.sqrt(_G_CGS * m * _M_SUN_G / g) / R_SUN_CM
