"""The part of parameter space the training sample covers, and which cluster members lie inside it.

A tree model cannot extrapolate: members brighter or fainter than any training star (saturated or
noisy photometry), or of a type (predicted Teff / log g) the training set barely holds, get predictions
pulled to the edge of the training labels, with errors that know nothing of it. On the mock sky such
members carry most of the bias of the cluster [Fe/H] (mean residual -0.4 to -0.6 dex for G < 13 or
G > 18, against -0.04 inside the training range), so they are left out of the cluster mean.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from ..exceptions import InputError

__all__ = ["training_box", "inside_box"]

log = logging.getLogger(__name__)


def training_box(training: pd.DataFrame, columns=("mag_G", "teff", "logg"), quantile: float = 0.005,
                 predictions: pd.DataFrame | None = None) -> dict[str, tuple[float, float]]:
    """Per-column ``[q, 1 - q]`` quantile range of the training stars.

    Parameters
    ----------
    training : DataFrame
        The training rows (e.g. ``split == "train"`` of the labelled sample), with ``source_id``.
    columns : sequence of str
        Columns to bound. Names present in ``predictions`` (e.g. ``teff``, ``logg``) are taken from the
        *predicted* values of the training stars, so members are compared like with like; the others
        (magnitudes) from ``training``.
    quantile : float, default=0.005
        Lower quantile; the upper is ``1 - quantile``. 0 gives the full range.
    predictions : DataFrame, optional
        Per-star predictions with ``source_id``.

    Returns
    -------
    dict
        ``{column: (low, high)}`` for the columns found; missing ones are logged and skipped.
    """
    if not 0.0 <= quantile < 0.5:
        raise InputError(f"coverage quantile must be in [0, 0.5), got {quantile}")
    box = {}
    pred = None
    if predictions is not None and "source_id" in training:
        pred = training[["source_id"]].merge(predictions.drop_duplicates("source_id"), on="source_id", how="inner")
    for col in columns:
        src = pred if pred is not None and col in pred else training
        if col not in src:
            log.warning("training coverage: column %s not in the training table; not used", col)
            continue
        v = src[col].to_numpy(float)
        v = v[np.isfinite(v)]
        if v.size < 10:
            log.warning("training coverage: only %d finite %s values; not used", v.size, col)
            continue
        box[col] = (float(np.quantile(v, quantile)), float(np.quantile(v, 1 - quantile)))
    log.info("training coverage: %s", {k: (round(a, 3), round(b, 3)) for k, (a, b) in box.items()})
    return box


def inside_box(table: pd.DataFrame, box: dict[str, tuple[float, float]]) -> np.ndarray:
    """Boolean mask of the rows of ``table`` inside every range of ``box`` (NaN counts as outside)."""
    ok = np.ones(len(table), dtype=bool)
    for col, (lo, hi) in box.items():
        if col not in table:
            raise InputError(f"training coverage: members table lacks column {col!r}")
        v = table[col].to_numpy(float)
        ok &= (v >= lo) & (v <= hi)
    return ok
