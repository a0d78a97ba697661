"""A minimal seeded, stratified train/val/test split (private; ``ocfeh.sample`` may replace it)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..exceptions import InputError

__all__ = ["stratified_split"]

_NAMES = ("train", "val", "test")


def stratified_split(
    df: pd.DataFrame,
    seed: int,
    fractions: tuple[float, float, float] = (0.7, 0.2, 0.1),
    stratify: tuple[str, ...] = ("teff", "logg", "feh"),
    n_bins: int = 4,
) -> np.ndarray:
    """Labels ``"train"``, ``"val"``, ``"test"`` for each row, stratified on label quantiles.

    Each column of ``stratify`` is cut into ``n_bins`` quantile bins; within each joint stratum
    the rows are shuffled with ``numpy.random.default_rng(seed)`` and cut in the given fractions
    (cumulative rounding, so every stratum keeps the proportions to within one star).

    Parameters
    ----------
    df : DataFrame
        Must contain the ``stratify`` columns (NaN goes to its own bin).
    seed : int
        Random seed.
    fractions : tuple of 3 floats, default=(0.7, 0.2, 0.1)
        Train, validation and test shares; must be non-negative and sum to 1.
    stratify : tuple of str
        Columns to stratify on.
    n_bins : int, default=4
        Quantile bins per column.

    Returns
    -------
    ndarray of str, shape (len(df),)
    """
    fr = np.asarray(fractions, dtype=float)
    if fr.shape != (3,) or np.any(fr < 0) or not np.isclose(fr.sum(), 1.0):
        raise InputError(
            "The 'fractions' parameter must be 3 non-negative numbers summing to 1. "
            f"Got {fractions!r} instead."
        )
    missing = [c for c in stratify if c not in df.columns]
    if missing:
        raise InputError(
            f"Cannot stratify the split: column(s) {missing} absent from the table ({len(df)} rows)"
        )
    codes = np.zeros(len(df), dtype=np.int64)
    for col in stratify:
        binned = pd.qcut(df[col].to_numpy(dtype=float), n_bins, labels=False, duplicates="drop")
        b = np.where(np.isnan(binned), n_bins, binned).astype(np.int64)
        codes = codes * (n_bins + 1) + b
    rng = np.random.default_rng(seed)
    out = np.empty(len(df), dtype=object)
    cum = np.cumsum(fr)
    for code in np.unique(codes):
        idx = rng.permutation(np.flatnonzero(codes == code))
        edges = np.rint(cum * idx.size).astype(int)
        for name, lo, hi in zip(_NAMES, np.r_[0, edges[:-1]], edges):
            out[idx[lo:hi]] = name
    return out.astype(str)
