"""The CatWISE2020 reader (W1/W2 profile-fit magnitudes, Vega).

References
----------
CatWISE2020: Marocco et al. 2021, ApJS 253, 8.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from ._common import _MAG_SENTINELS, CATWISE_EPOCH, _c
from .archive_columns import ARCHIVE
from .registry import Reader, readers

log = logging.getLogger(__name__)

__all__: list[str] = []  # importing the module registers its readers in ocfeh.catalogs.readers


_W = ARCHIVE["catwise"]
_PM_FIT = (
    "this CatWISE2020 table holds the proper-motion fit (W1mproPM / w1mpro_pm, as VizieR's II/365 does), "
    "not the stationary fit w1mpro/w2mpro that ocfeh trains and predicts on; mixing the two would shift W1 and W2 "
    "without a word. Fetch catwise_2020 from IRSA (ocfeh fetch --survey catwise), or rename the columns to "
    "w1mpro, w1sigmpro, w2mpro, w2sigmpro if you mean to use the motion fit for training and prediction alike."
)

readers.register(Reader(
    "catwise", f"CatWISE2020 stationary-fit W1/W2 (Vega), {_W.release}",
    (
        _c("catwise_id", *_W.file_names("source_name"), "Name", kind="str"),
        _c("ra", *_W.file_names("ra"), "RA_ICRS", unit="deg"),
        _c("dec", *_W.file_names("dec"), "DE_ICRS", unit="deg"),
        _c("mag_W1", *_W.file_names("w1"), sentinels=_MAG_SENTINELS),
        _c("mag_err_W1", *_W.file_names("w1_err"), sentinels=_MAG_SENTINELS),
        _c("mag_W2", *_W.file_names("w2"), sentinels=_MAG_SENTINELS),
        _c("mag_err_W2", *_W.file_names("w2_err"), sentinels=_MAG_SENTINELS),
    ),
    epoch=CATWISE_EPOCH,
    derive=lambda df: _drop_upper_limits(df, ("W1", "W2"), "CatWISE"),
    other_kind={name: _PM_FIT for name in ("W1mproPM", "w1mpro_pm", "W2mproPM", "w2mpro_pm")},
))

def _drop_upper_limits(df: pd.DataFrame, bands, survey: str) -> pd.DataFrame:
    """A WISE magnitude without an error (null or sentinel w?sigmpro) is a 95% upper limit, not a
    measurement: set it to NaN and log how many."""
    for b in bands:
        limit = df[f"mag_err_{b}"].isna() & df[f"mag_{b}"].notna()
        if limit.any():
            log.info("%s: %d %s magnitudes without an error are upper limits: set to NaN", survey, int(limit.sum()), b)
            df.loc[limit, f"mag_{b}"] = np.nan
    return df
