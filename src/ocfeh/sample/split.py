"""The train / validation / blind-test split, stratified in label space."""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["SPLITS", "stratified_split"]


SPLITS = ("train", "val", "test")


def _strata(labels: pd.DataFrame, n_bins: int, min_stratum: int) -> np.ndarray:
    """Cell keys in label space: quantile bins of each label; cells smaller than ``min_stratum`` fall back
    to the bins of fewer labels (dropping the last label first), down to one pooled cell."""
    codes = []
    for c in labels.columns:
        v = labels[c].to_numpy(float)
        edges = np.unique(np.nanquantile(v, np.linspace(0, 1, n_bins + 1)[1:-1])) if np.isfinite(v).any() else []
        codes.append(np.searchsorted(edges, v, side="right"))
    n = len(labels)
    key = np.full(n, "", dtype=object)
    assigned = np.zeros(n, bool)
    for depth in range(len(codes), 0, -1):
        k = pd.Series(["|".join(map(str, t)) for t in zip(*codes[:depth])], dtype=object).to_numpy()
        k = np.char.add(f"{depth}:", k.astype(str))
        counts = pd.Series(k[~assigned]).value_counts()
        big = counts.index[counts.to_numpy() >= min_stratum]
        take = ~assigned & np.isin(k, big)
        key[take] = k[take]
        assigned |= take
    key[~assigned] = "0:rest"
    return key


def stratified_split(
    labels: pd.DataFrame,
    fractions: tuple[float, float, float] = (0.7, 0.2, 0.1),
    n_bins: int = 5,
    min_stratum: int = 20,
    seed: int = 0,
) -> np.ndarray:
    """Assign ``train``/``val``/``test`` stratified in label space.

    Each star falls in a cell of quantile bins of the labels (e.g. Teff x [Fe/H] x log g); small cells are
    merged into coarser ones, so every cell has at least ``min_stratum`` stars and rare regions of label
    space appear in all three parts. Within a cell, stars are shuffled and the counts are allocated by
    the largest-remainder rule, with at least one star per non-zero fraction.

    Parameters
    ----------
    labels : pandas.DataFrame
        One column per stratification label, most important first.
    fractions : tuple of 3 float, default=(0.7, 0.2, 0.1)
        train, val, test.
    n_bins : int, default=5
        Quantile bins per label.
    min_stratum : int, default=20
        Smallest cell.
    seed : int, default=0
        Seed of the numpy Generator.

    Returns
    -------
    ndarray of str
        ``"train"``, ``"val"`` or ``"test"`` per row.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> lab = pd.DataFrame({"feh": np.random.default_rng(0).normal(size=1000)})
    >>> s = stratified_split(lab, seed=1)
    >>> [int((s == k).sum()) for k in ("train", "val", "test")]
    [700, 200, 100]
    """
    fr = np.asarray(fractions, float)
    rng = np.random.default_rng(seed)
    keys = _strata(labels, n_bins, min_stratum)
    out = np.empty(len(labels), dtype=object)
    for key in np.unique(keys):
        idx = np.flatnonzero(keys == key)
        idx = idx[rng.permutation(len(idx))]
        n = len(idx)
        raw = fr * n
        counts = np.floor(raw).astype(int)
        if n >= int((fr > 0).sum()):
            counts[(fr > 0) & (counts == 0)] = 1
        while counts.sum() > n:
            counts[np.argmax(counts)] -= 1
        rem = raw - counts
        for j in np.argsort(-rem, kind="stable")[: n - counts.sum()]:
            counts[j] += 1
        out[idx] = np.repeat(np.array(SPLITS, dtype=object), counts)
    return out.astype(str)
