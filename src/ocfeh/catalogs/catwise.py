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
from .registry import Reader, readers

log = logging.getLogger(__name__)

__all__: list[str] = []  # importing the module registers its readers in ocfeh.catalogs.readers


readers.register(Reader(
    "catwise", "CatWISE2020 (W1/W2 profile-fit magnitudes, Vega)",
    (
        _c("catwise_id", "source_name", "Name", kind="str"),
        _c("ra", "ra", "RA_ICRS", unit="deg"),
        _c("dec", "dec", "DE_ICRS", unit="deg"),
        _c("mag_W1", "w1mpro", "W1mproPM", sentinels=_MAG_SENTINELS),
        _c("mag_err_W1", "w1sigmpro", "e_W1mproPM", sentinels=_MAG_SENTINELS),
        _c("mag_W2", "w2mpro", "W2mproPM", sentinels=_MAG_SENTINELS),
        _c("mag_err_W2", "w2sigmpro", "e_W2mproPM", sentinels=_MAG_SENTINELS),
    ),
    epoch=CATWISE_EPOCH,
    derive=lambda df: _drop_upper_limits(df, ("W1", "W2"), "CatWISE"),
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
