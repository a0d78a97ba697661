"""Spectroscopic label readers: LAMOST LRS (any release; the poster's DR8 and the VizieR copies fetched
by ``ocfeh fetch``) and APOGEE DR17.

References
----------
LAMOST DR8 LRS: Luo et al. 2015, RAA 15, 1095. APOGEE DR17: Abdurro'uf et al. 2022, ApJS 259, 35.
"""

from __future__ import annotations

import logging

from ._common import _LABEL_SENTINELS, _LAMOST_SNR_SENTINELS, APOGEE_EPOCH, LAMOST_EPOCH, _c
from .registry import Reader, readers

log = logging.getLogger(__name__)

__all__: list[str] = []  # importing the module registers its readers in ocfeh.catalogs.readers


readers.register(Reader(
    "lamost", "LAMOST LRS stellar parameters, LAMOST's own names (DR8 catalogue file from the LAMOST release, "
              "or DR5 from ocfeh fetch / VizieR V/164)",
    (
        _c("lamost_obsid", "obsid", kind="id"),
        _c("ra", "ra", unit="deg"),
        _c("dec", "dec", unit="deg"),
        _c("teff", "teff", unit="K", sentinels=_LABEL_SENTINELS),
        _c("teff_err", "teff_err", unit="K", sentinels=_LABEL_SENTINELS),
        _c("logg", "logg", sentinels=_LABEL_SENTINELS),
        _c("logg_err", "logg_err", sentinels=_LABEL_SENTINELS),
        _c("feh", "feh", sentinels=_LABEL_SENTINELS),
        _c("feh_err", "feh_err", sentinels=_LABEL_SENTINELS),
        _c("snr", "snrg", sentinels=_LAMOST_SNR_SENTINELS),
    ),
    epoch=LAMOST_EPOCH, constants={"label_source": "lamost"},
))

readers.register(Reader(
    "apogee", "APOGEE DR17 allStar (ASPCAP Teff, log g, [Fe/H])",
    (
        _c("apogee_id", "APOGEE_ID", kind="str"),
        _c("source_id", "GAIAEDR3_SOURCE_ID", required=False, kind="id"),
        _c("ra", "RA", unit="deg"),
        _c("dec", "DEC", unit="deg"),
        _c("teff", "TEFF", unit="K", sentinels=_LABEL_SENTINELS),
        _c("teff_err", "TEFF_ERR", unit="K", sentinels=_LABEL_SENTINELS),
        _c("logg", "LOGG", sentinels=_LABEL_SENTINELS),
        _c("logg_err", "LOGG_ERR", sentinels=_LABEL_SENTINELS),
        _c("feh", "FE_H", sentinels=_LABEL_SENTINELS),
        _c("feh_err", "FE_H_ERR", sentinels=_LABEL_SENTINELS),
        _c("snr", "SNR", sentinels=_LABEL_SENTINELS),
        _c("aspcapflag", "ASPCAPFLAG", required=False),
    ),
    epoch=APOGEE_EPOCH, constants={"label_source": "apogee"},
))
