"""The cross-match of :mod:`ocfeh.catalogs.matching` through LSDB/HATS partitions on Dask (the ``scale`` extra)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .matching import CrossmatchResult, _mutual_result, _positions

__all__ = ["crossmatch_lsdb"]


def crossmatch_lsdb(
    left: pd.DataFrame,
    right: pd.DataFrame,
    radius_arcsec: float = 1.0,
    *,
    epoch_left: float | None = None,
    epoch_right: float | None = None,
    n_jobs: int = 1,
    partition_rows: int = 200_000,
) -> CrossmatchResult:
    """The same match as :func:`crossmatch`, through LSDB/HATS partitions on Dask.

    Positions are propagated first, then both tables become HEALPix-partitioned LSDB catalogues
    (with margins wider than the radius) and are matched both ways with LSDB's KD-tree algorithm
    (two nearest neighbours); the mutual-best rule is applied to the result. Worth it only beyond
    memory or for catalogues already in HATS form: each call costs seconds of Dask overhead.

    Parameters
    ----------
    left, right, radius_arcsec, epoch_left, epoch_right
        As in :func:`crossmatch`.
    n_jobs : int, default=1
        Dask threads.
    partition_rows : int, default=200000
        Rows per HEALPix partition.

    Returns
    -------
    CrossmatchResult
        Identical pairs to :func:`crossmatch` (ties at exactly equal distance aside).
    """
    radius, (ra_l, dec_l, ok_l), (ra_r, dec_r, ok_r) = _positions(left, right, radius_arcsec, epoch_left, epoch_right)
    cat_l = _lsdb_catalog(ra_l, dec_l, radius, partition_rows)
    cat_r = _lsdb_catalog(ra_r, dec_r, radius, partition_rows)
    best_lr, d_lr, amb_l = _lsdb_nearest_two(cat_l, cat_r, len(ok_l), radius, n_jobs)
    best_rl, _, amb_r = _lsdb_nearest_two(cat_r, cat_l, len(ok_r), radius, n_jobs)
    return _mutual_result(ok_l, ok_r, (best_lr, d_lr, amb_l), (best_rl, amb_r), radius)


def _lsdb_catalog(ra: np.ndarray, dec: np.ndarray, radius: float, partition_rows: int):
    import warnings

    import lsdb

    df = pd.DataFrame({"row": np.arange(len(ra), dtype=np.int64), "ra": ra, "dec": dec})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pandas deprecations inside lsdb / nested-pandas
        return lsdb.from_dataframe(
            df, ra_column="ra", dec_column="dec", partition_rows=partition_rows,
            margin_threshold=max(5.0, 2.0 * radius), use_pyarrow_types=False,
        )


def _lsdb_nearest_two(cat_from, cat_to, n_from: int, radius: float, n_jobs: int):
    import warnings

    import dask

    best = np.full(n_from, -1, np.int64)
    chord = np.full(n_from, np.inf)
    second = np.zeros(n_from, bool)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        xm = cat_from.crossmatch(cat_to, n_neighbors=2, radius_arcsec=radius, suffixes=("_a", "_b"),
                                 suffix_method="all_columns", log_changes=False)
        with dask.config.set(scheduler="threads", num_workers=max(1, n_jobs)):
            out = xm.compute()
    if len(out) == 0:
        return best, chord, second
    out = pd.DataFrame({"a": out["row_a"].to_numpy(np.int64), "b": out["row_b"].to_numpy(np.int64),
                        "d": out["_dist_arcsec"].to_numpy(float)}).sort_values(["a", "d", "b"], kind="stable")
    first = ~out["a"].duplicated()
    a0 = out.loc[first, "a"].to_numpy()
    best[a0] = out.loc[first, "b"].to_numpy()
    theta = np.deg2rad(out.loc[first, "d"].to_numpy() / 3600.0)
    chord[a0] = 2.0 * np.sin(theta / 2.0)
    counts = out.groupby("a").size()
    second[counts.index.to_numpy()[counts.to_numpy() > 1]] = True
    return best, chord, second
