"""Gaia DR3 readers: ``gaia_source``, ``astrophysical_parameters`` and the Bailer-Jones EDR3 distances.

References
----------
Gaia DR3: Gaia Collaboration, Vallenari et al. 2023, A&A 674, A1; magnitude zero-point uncertainties from
Riello et al. 2021, A&A 649, A3. Distances: Bailer-Jones et al. 2021, AJ 161, 147.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from ._common import _LABEL_SENTINELS, _MAG_SENTINELS, GAIA_EPOCH, GAIA_ZP_ERR, _c
from .registry import Reader, readers

log = logging.getLogger(__name__)

__all__: list[str] = []  # importing the module registers its readers in ocfeh.catalogs.readers


def _gaia_derive(df: pd.DataFrame) -> pd.DataFrame:
    """Magnitude errors from flux-over-error (1.0857 / foe, plus the zero-point term in quadrature)."""
    for band in ("G", "BP", "RP"):
        foe = f"_foe_{band}"
        if foe in df:
            f = df[foe].to_numpy(float)
            with np.errstate(divide="ignore", invalid="ignore"):
                err = np.hypot(2.5 / np.log(10) / f, GAIA_ZP_ERR[band])
            bad = ~(f > 0)
            df[f"mag_err_{band}"] = np.where(bad, np.nan, err)
            df.loc[bad, f"mag_{band}"] = np.nan
    return df


readers.register(Reader(
    "gaia", "Gaia DR3 gaia_source (Vega G/BP/RP, astrometry, ruwe)",
    (
        _c("source_id", "source_id", "Source", "GaiaDR3", kind="id"),
        _c("ra", "ra", "RA_ICRS", unit="deg"),
        _c("dec", "dec", "DE_ICRS", unit="deg"),
        _c("parallax", "parallax", "Plx", unit="mas"),
        _c("parallax_error", "parallax_error", "e_Plx", unit="mas"),
        _c("pmra", "pmra", "pmRA", unit="mas / yr"),
        _c("pmdec", "pmdec", "pmDE", unit="mas / yr"),
        _c("mag_G", "phot_g_mean_mag", "Gmag", sentinels=_MAG_SENTINELS),
        _c("mag_BP", "phot_bp_mean_mag", "BPmag", sentinels=_MAG_SENTINELS),
        _c("mag_RP", "phot_rp_mean_mag", "RPmag", sentinels=_MAG_SENTINELS),
        _c("_foe_G", "phot_g_mean_flux_over_error", "RFG"),
        _c("_foe_BP", "phot_bp_mean_flux_over_error", "RFBP"),
        _c("_foe_RP", "phot_rp_mean_flux_over_error", "RFRP"),
        _c("ruwe", "ruwe", "RUWE", required=False),
    ),
    epoch=GAIA_EPOCH, derive=_gaia_derive,
))


def _ap_derive(df: pd.DataFrame) -> pd.DataFrame:
    if "_a0_lo" in df and "_a0_hi" in df:
        df["a0_err"] = (df["_a0_hi"] - df["_a0_lo"]) / 2.0
    return df


readers.register(Reader(
    "gaia_ap", "Gaia DR3 astrophysical_parameters (GSP-Phot A0, A_G, E(BP-RP), distance)",
    (
        _c("source_id", "source_id", "Source", kind="id"),
        _c("a0", "azero_gspphot", "A0", sentinels=_LABEL_SENTINELS),
        _c("_a0_lo", "azero_gspphot_lower", required=False),
        _c("_a0_hi", "azero_gspphot_upper", required=False),
        _c("ag", "ag_gspphot", "AG", required=False),
        _c("ebpminrp", "ebpminrp_gspphot", "E(BP-RP)", required=False),
        _c("distance_gspphot_pc", "distance_gspphot", "Dist", required=False, unit="pc"),
    ),
    derive=_ap_derive,
))

readers.register(Reader(
    "bailer_jones", "Bailer-Jones et al. 2021 EDR3 distances (archive or VizieR I/352 names), pc",
    (
        _c("source_id", "source_id", "Source", kind="id"),
        _c("distance_geo_pc", "r_med_geo", "rgeo", unit="pc"),
        _c("distance_geo_lo_pc", "r_lo_geo", "b_rgeo", required=False, unit="pc"),
        _c("distance_geo_hi_pc", "r_hi_geo", "B_rgeo", required=False, unit="pc"),
        _c("distance_photogeo_pc", "r_med_photogeo", "rpgeo", required=False, unit="pc"),
        _c("distance_photogeo_lo_pc", "r_lo_photogeo", "b_rpgeo", required=False, unit="pc"),
        _c("distance_photogeo_hi_pc", "r_hi_photogeo", "B_rpgeo", required=False, unit="pc"),
    ),
))
