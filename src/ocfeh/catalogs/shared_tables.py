"""Readers of the real labelled tables of ../shared/data (J-PLUS x SEGUE, Green et al. 2021, ingot).

References
----------
Whitten et al. 2019 (J-PLUS x SEGUE), Green et al. 2021 (LAMOST/APOGEE/GALAH x Gaia x unWISE),
Davenport (ingot, APOGEE x Gaia x AllWISE).
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from ..bands import JPLUS_BANDS
from ._common import _LABEL_SENTINELS, _MAG_SENTINELS, _c
from .registry import Reader, readers

log = logging.getLogger(__name__)

__all__: list[str] = []  # importing the module registers its readers in ocfeh.catalogs.readers


_SEGUE_BANDS = tuple(b for b in JPLUS_BANDS if b != "zSDSS")


def _segue_derive(df: pd.DataFrame) -> pd.DataFrame:
    """The SEGUE tables give dereddened magnitudes: record that (a0 = 0) and drop unmatched errors."""
    df["a0"] = 0.0
    for b in _SEGUE_BANDS:
        gone = df[f"mag_err_{b}"].isna() | df[f"mag_{b}"].isna()
        df.loc[gone, [f"mag_{b}", f"mag_err_{b}"]] = np.nan
    return df


readers.register(Reader(
    "jplus_segue",
    "J-PLUS x SEGUE SSPP (Whitten et al. 2019; shared/data/jplus_segue): dereddened 6-arcsec AB mags, "
    "11 bands (no zSDSS)",
    (
        _c("ra", "RA", unit="deg"),
        _c("dec", "DEC", unit="deg"),
        _c("jplus_tile_id", "TILE_ID", kind="int"),
        _c("jplus_number", "NUMBER", kind="int"),
        _c("teff", "TEFF_ADOP", sentinels=_LABEL_SENTINELS),
        _c("teff_err", "TEFF_ADOP_ERR", sentinels=_LABEL_SENTINELS),
        _c("logg", "LOGG_ADOP", sentinels=_LABEL_SENTINELS),
        _c("logg_err", "LOGG_ADOP_ERR", sentinels=_LABEL_SENTINELS),
        _c("feh", "FEH_ADOP", sentinels=_LABEL_SENTINELS),
        _c("feh_err", "FEH_BIW_ERR", required=False, sentinels=_LABEL_SENTINELS),
        _c("snr", "SNR"),
        _c("ebv_sfd", "EBV_SFD", required=False),
    )
    + tuple(_c(f"mag_{b}", f"{b}_0", sentinels=_MAG_SENTINELS, max_abs=90.0) for b in _SEGUE_BANDS)
    + tuple(_c(f"mag_err_{b}", f"ERR_MAG_6_{b}", sentinels=_MAG_SENTINELS) for b in _SEGUE_BANDS),
    derive=_segue_derive, constants={"label_source": "segue"},
))

_UNWISE_AB_TO_VEGA = {"W1": -2.699, "W2": -3.339}
BAYESTAR19_TO_EBV = 0.884
"""E(B-V) (SFD scale) per unit of Bayestar19 reddening (Green et al. 2019, ApJ 887, 93; argonaut.skymaps.info)."""


def _green_derive(df: pd.DataFrame) -> pd.DataFrame:
    """``ebv`` from the Bayestar19 reddening ``E``; 2MASS J/H/Ks stay Vega (features take them). PS1 grizy
    are not read: the project has no PS1 filter curves."""
    if "_bayestar19" in df:
        df["ebv"] = BAYESTAR19_TO_EBV * df.pop("_bayestar19").to_numpy(float)
    return df


readers.register(Reader(
    "green2020",
    "LAMOST/APOGEE/GALAH labels x Gaia DR2 x unWISE (Green et al. 2021; shared/data/lamost_gaia_wise); "
    "no positions; unWISE AB converted to Vega",
    (
        _c("teff", "teff", sentinels=_LABEL_SENTINELS),
        _c("teff_err", "teff_err"),
        _c("logg", "logg", sentinels=_LABEL_SENTINELS),
        _c("logg_err", "logg_err"),
        _c("feh", "feh", sentinels=_LABEL_SENTINELS),
        _c("feh_err", "feh_err"),
        _c("parallax", "parallax", unit="mas"),
        _c("parallax_error", "parallax_err", unit="mas"),
        _c("label_source", "atm_source", kind="str"),
        _c("mag_G", "G", sentinels=_MAG_SENTINELS),
        _c("mag_err_G", "G_err"),
        _c("mag_BP", "BP", sentinels=_MAG_SENTINELS),
        _c("mag_err_BP", "BP_err"),
        _c("mag_RP", "RP", sentinels=_MAG_SENTINELS),
        _c("mag_err_RP", "RP_err"),
        _c("mag_W1", "W1_unwise_AB", sentinels=_MAG_SENTINELS, offset=_UNWISE_AB_TO_VEGA["W1"]),
        _c("mag_err_W1", "W1_unwise_AB_err"),
        _c("mag_W2", "W2_unwise_AB", sentinels=_MAG_SENTINELS, offset=_UNWISE_AB_TO_VEGA["W2"]),
        _c("mag_err_W2", "W2_unwise_AB_err"),
    )
    + tuple(c for b in ("J", "H", "Ks") for c in (_c(f"mag_{b}", b, required=False, sentinels=_MAG_SENTINELS),
                                                  _c(f"mag_err_{b}", f"{b}_err", required=False)))
    + (_c("_bayestar19", "E_reddening", required=False),),
    derive=_green_derive,
))

readers.register(Reader(
    "ingot",
    "APOGEE DR14 [Fe/H] x Gaia DR2 G x AllWISE (Davenport's ingot; shared/data/apogee_gaia_wise)",
    (
        _c("feh", "FE_H", sentinels=_LABEL_SENTINELS),
        _c("mag_G", "phot_g_mean_mag", sentinels=_MAG_SENTINELS),
        _c("abs_mag_G", "M_G"),
        _c("mag_W1", "w1", sentinels=_MAG_SENTINELS),
        _c("mag_W2", "w2", sentinels=_MAG_SENTINELS),
        _c("mag_2mass_J", "Jmag", required=False, sentinels=_MAG_SENTINELS),
    ),
    constants={"label_source": "apogee"},
))
