"""The adopted distance and extinction of each star, from the candidates its tables carry."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from ..exceptions import InputError

__all__ = ["DUST_SCALE_HEIGHT_PC", "adopt_distance", "adopt_extinction", "map_a0"]

DUST_SCALE_HEIGHT_PC = 125.0
"""Scale height of the dust layer that :func:`map_a0` puts between the star and the map's total column
(Bonifacio, Monai & Beers 2000, AJ 120, 2065)."""

log = logging.getLogger(__name__)


def adopt_distance(df: pd.DataFrame, source: str = "auto") -> tuple[pd.DataFrame, str]:
    """Set ``distance_pc`` (and ``distance_lo_pc``/``distance_hi_pc``) from the chosen source.

    Returns the table and the source used (``auto`` resolves to the first available of photogeo, geo,
    gspphot, parallax, column).
    """
    df = df.copy()
    options = {
        "photogeo": ("distance_photogeo_pc", "distance_photogeo_lo_pc", "distance_photogeo_hi_pc"),
        "geo": ("distance_geo_pc", "distance_geo_lo_pc", "distance_geo_hi_pc"),
        "gspphot": ("distance_gspphot_pc", None, None),
    }
    if source == "auto":
        avail = [k for k, v in options.items() if v[0] in df] + (["parallax"] if "parallax" in df else [])
        avail += ["column"] if "distance_pc" in df else []
        if not avail:
            log.info("no distance column: distance_pc left empty")
            df["distance_pc"] = np.nan
            return df, "none"
        source = avail[0]
    if source == "column":
        if "distance_pc" not in df:
            raise InputError("distance_source = 'column' but the table has no distance_pc column")
        return df, source
    if source == "parallax":
        if "parallax" not in df:
            raise InputError("distance_source = 'parallax' but the table has no parallax column")
        plx = df["parallax"].to_numpy(float)
        err = df["parallax_error"].to_numpy(float) if "parallax_error" in df else np.full(len(df), np.nan)
        with np.errstate(divide="ignore", invalid="ignore"):
            df["distance_pc"] = np.where(plx > 0, 1000.0 / plx, np.nan)
            df["distance_lo_pc"] = np.where(plx + err > 0, 1000.0 / (plx + err), np.nan)
            df["distance_hi_pc"] = np.where(plx - err > 0, 1000.0 / (plx - err), np.nan)
        return df, source
    med, lo, hi = options[source]
    if med not in df:
        raise InputError(f"distance_source = {source!r} needs the column {med!r} (from the distances/gaia_ap "
                         "source); it is absent")
    df["distance_pc"] = df[med]
    if lo and lo in df:
        df["distance_lo_pc"], df["distance_hi_pc"] = df[lo], df[hi]
    return df, source


def adopt_extinction(df: pd.DataFrame, source: str = "auto") -> tuple[pd.DataFrame, str]:
    """Set ``a0`` (mag at 541.4 nm) from GSP-Phot (the readers' ``a0``), ``3.1 * ebv``, or zero."""
    df = df.copy()
    if source == "auto":
        source = "column" if "a0" in df else ("ebv" if "ebv" in df else "none")
    if source in ("column", "gspphot"):
        if "a0" not in df:
            raise InputError(f"extinction_source = {source!r} needs an a0 column (Gaia astrophysical_parameters "
                             "azero_gspphot); it is absent")
    elif source == "ebv":
        if "ebv" not in df:
            raise InputError("extinction_source = 'ebv' needs an ebv column; it is absent")
        df["a0"] = 3.1 * df["ebv"].to_numpy(float)
    elif source == "zero":
        df["a0"] = 0.0
    else:
        df["a0"] = np.nan
    return df, source


def map_a0(ebv, b_deg, distance_pc=None, scale_height_pc: float = DUST_SCALE_HEIGHT_PC) -> np.ndarray:
    """A_0 (mag) in front of a star from a 2D map's total reddening ``ebv`` (the J-PLUS ``MWExtinction`` E(B-V)).

    The map gives the whole column; a star at distance ``d`` and latitude ``b`` sees the part of an
    exponential dust layer of scale height ``h`` below it: ``A_0 = 3.1 E(B-V) (1 - exp(-d |sin b| / h))``
    (Bonifacio et al. 2000). Without a distance (NaN or <= 0) the whole column is taken.

    >>> float(map_a0(0.1, 90.0, 1e5).round(3)), float(map_a0(0.1, 30.0, 125.0).round(3))
    (0.31, 0.122)
    """
    ebv = np.asarray(ebv, float)
    a_inf = 3.1 * ebv
    if distance_pc is None:
        return a_inf
    d = np.asarray(distance_pc, float)
    s = np.abs(np.sin(np.radians(np.asarray(b_deg, float))))
    with np.errstate(invalid="ignore", over="ignore"):
        frac = -np.expm1(-np.where(d > 0, d, np.inf) * s / scale_height_pc)
    return a_inf * np.where(np.isfinite(frac), frac, 1.0)
