"""Positional cross-match: one-to-one mutual nearest neighbours within a radius.

Gaia positions (epoch 2016.0) are first moved to the other survey's epoch with their proper motions.
Two implementations give the same pairs: :func:`crossmatch` (in memory, a KD-tree on unit vectors)
and :func:`crossmatch_lsdb` (LSDB/HATS on Dask, for catalogues that do not fit in memory).

>>> import pandas as pd
>>> left = pd.DataFrame({"ra": [10.0, 10.01], "dec": [20.0, 20.0]})
>>> right = pd.DataFrame({"ra": [10.0001, 10.02], "dec": [20.0, 20.0]})
>>> res = crossmatch(left, right, radius_arcsec=1.0)
>>> res.idx_left.tolist(), res.idx_right.tolist(), round(float(res.sep_arcsec[0]), 3)
([0], [0], 0.338)

References
----------
Lindegren et al. 2021, A&A 649, A2 (Gaia EDR3 astrometry, epoch J2016.0). LSDB: Caplar et al. 2025.
"""

from __future__ import annotations

import logging
from typing import NamedTuple

import numpy as np
import pandas as pd

from ..exceptions import InputError

__all__ = ["CrossmatchResult", "crossmatch", "join_matches", "propagate_positions", "unit_vectors"]

log = logging.getLogger(__name__)

_MAS_PER_DEG = 3.6e6


class CrossmatchResult(NamedTuple):
    """The one-to-one pairs of a cross-match.

    Attributes
    ----------
    idx_left : ndarray of int64
        Row positions (0-based, not index labels) in the left table, one per pair, increasing.
    idx_right : ndarray of int64
        Row positions in the right table.
    sep_arcsec : ndarray of float64
        Separation of each pair (arcsec), after propagating positions to the common epoch.
    n_ambiguous : int
        Left rows with more than one right source within the radius (plus right rows with more than
        one left source): the pair kept is the mutual nearest one.
    n_rejected : int
        Left rows whose nearest right source within the radius prefers another left row (not mutual).
    radius_arcsec : float
        The matching radius.
    """

    idx_left: np.ndarray
    idx_right: np.ndarray
    sep_arcsec: np.ndarray
    n_ambiguous: int
    n_rejected: int
    radius_arcsec: float

    @property
    def n_pairs(self) -> int:
        """Number of pairs."""
        return len(self.idx_left)


def propagate_positions(
    ra: np.ndarray, dec: np.ndarray, pmra: np.ndarray, pmdec: np.ndarray, from_epoch: float, to_epoch: float
) -> tuple[np.ndarray, np.ndarray]:
    """Move positions linearly with their proper motions (rows with NaN motion stay put).

    Parameters
    ----------
    ra, dec : array_like
        deg.
    pmra, pmdec : array_like
        mas/yr; ``pmra`` includes the cos(dec) factor (Gaia convention).
    from_epoch, to_epoch : float
        Julian years.

    Returns
    -------
    ra, dec : ndarray
        deg at ``to_epoch``. A tangent-plane step, accurate to well under a mas for a few years.
    """
    ra, dec = np.asarray(ra, float), np.asarray(dec, float)
    dt = float(to_epoch) - float(from_epoch)
    pmra = np.nan_to_num(np.asarray(pmra, float))
    pmdec = np.nan_to_num(np.asarray(pmdec, float))
    if dt == 0.0:
        return ra.copy(), dec.copy()
    cosd = np.cos(np.deg2rad(dec))
    with np.errstate(divide="ignore", invalid="ignore"):
        dra = np.where(cosd > 1e-9, pmra * dt / _MAS_PER_DEG / cosd, 0.0)
    new_dec = np.clip(dec + pmdec * dt / _MAS_PER_DEG, -90.0, 90.0)
    return np.mod(ra + dra, 360.0), new_dec


def _coords(df: pd.DataFrame, name: str, epoch: float | None, to_epoch: float | None) -> tuple[np.ndarray, np.ndarray]:
    for col in ("ra", "dec"):
        if col not in df:
            raise InputError(f"cross-match: the {name} table has no {col!r} column (has {', '.join(map(str, df.columns[:8]))})")
    ra, dec = df["ra"].to_numpy(float), df["dec"].to_numpy(float)
    if epoch is not None and to_epoch is not None and epoch != to_epoch and {"pmra", "pmdec"} <= set(df.columns):
        ra, dec = propagate_positions(ra, dec, df["pmra"].to_numpy(float), df["pmdec"].to_numpy(float), epoch, to_epoch)
    bad = ~(np.isfinite(ra) & np.isfinite(dec)) | (np.abs(dec) > 90)
    if bad.any():
        log.info("cross-match: %d of %d %s rows without a valid position are not matched", int(bad.sum()), len(ra), name)
        ra, dec = ra.copy(), dec.copy()
        ra[bad], dec[bad] = np.nan, np.nan
    return ra, dec


def _epochs(left: pd.DataFrame, right: pd.DataFrame, epoch_left, epoch_right):
    """Which side moves: the one with proper motions (the right one if both have them)."""
    epoch_left = epoch_left if epoch_left is not None else left.attrs.get("epoch")
    epoch_right = epoch_right if epoch_right is not None else right.attrs.get("epoch")
    if epoch_left is None or epoch_right is None or epoch_left == epoch_right:
        return None, None, None, None
    if {"pmra", "pmdec"} <= set(right.columns):
        return None, None, epoch_right, epoch_left
    if {"pmra", "pmdec"} <= set(left.columns):
        return epoch_left, epoch_right, None, None
    log.info("cross-match: epochs %s and %s differ but neither table has proper motions", epoch_left, epoch_right)
    return None, None, None, None


def unit_vectors(ra: np.ndarray, dec: np.ndarray) -> np.ndarray:
    """(n, 3) Cartesian unit vectors of positions in degrees."""
    r, d = np.deg2rad(ra), np.deg2rad(dec)
    cd = np.cos(d)
    return np.column_stack([cd * np.cos(r), cd * np.sin(r), np.sin(d)])


def _check_radius(radius_arcsec: float) -> float:
    try:
        radius = float(radius_arcsec)
    except (TypeError, ValueError):
        raise InputError(f"radius_arcsec must be a positive number of arcsec; got {radius_arcsec!r}") from None
    if not np.isfinite(radius) or radius <= 0:
        raise InputError(f"radius_arcsec must be a positive number of arcsec; got {radius_arcsec!r}")
    return radius


def _nearest_two(xyz_from: np.ndarray, xyz_to: np.ndarray, chord: float, n_jobs: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For each row of ``xyz_from``: nearest row of ``xyz_to`` within chord (or -1), its chord, and
    whether a second one lies within the chord."""
    from scipy.spatial import cKDTree

    n = len(xyz_from)
    if n == 0 or len(xyz_to) == 0:
        return np.full(n, -1, np.int64), np.full(n, np.inf), np.zeros(n, bool)
    tree = cKDTree(xyz_to)
    k = 2 if len(xyz_to) > 1 else 1
    d, j = tree.query(xyz_from, k=k, distance_upper_bound=chord, workers=n_jobs)
    d, j = d.reshape(n, k), j.reshape(n, k)
    best = np.where(np.isfinite(d[:, 0]), j[:, 0], -1).astype(np.int64)
    second = np.isfinite(d[:, 1]) if k == 2 else np.zeros(n, bool)
    return best, d[:, 0], second


def _positions(left: pd.DataFrame, right: pd.DataFrame, radius_arcsec, epoch_left, epoch_right):
    """The checked radius and, per table, the usable positions (at a common epoch) with their row numbers."""
    radius = _check_radius(radius_arcsec)
    el_from, el_to, er_from, er_to = _epochs(left, right, epoch_left, epoch_right)
    ra_l, dec_l = _coords(left, "left", el_from, el_to)
    ra_r, dec_r = _coords(right, "right", er_from, er_to)
    ok_l = np.flatnonzero(np.isfinite(ra_l))
    ok_r = np.flatnonzero(np.isfinite(ra_r))
    return radius, (ra_l[ok_l], dec_l[ok_l], ok_l), (ra_r[ok_r], dec_r[ok_r], ok_r)


def _mutual_result(ok_l: np.ndarray, ok_r: np.ndarray, left_to_right, right_to_left, radius: float,
                   count_left: np.ndarray | None = None, count_right: np.ndarray | None = None) -> CrossmatchResult:
    """The mutual best pairs of two nearest-neighbour searches (``(best, chord, has_second)`` left to right,
    ``(best, has_second)`` right to left), as rows of the original tables; the statistics count only the
    rows that ``count_left`` / ``count_right`` (boolean, over all rows of each table) mark."""
    best_lr, chord_lr, amb_l = left_to_right
    best_rl, amb_r = right_to_left
    il = np.flatnonzero(best_lr >= 0)
    ir = best_lr[il]
    mutual = best_rl[ir] == il
    sep = np.rad2deg(2.0 * np.arcsin(np.clip(chord_lr[il[mutual]] / 2.0, 0.0, 1.0))) * 3600.0
    w_l = np.ones(len(ok_l), bool) if count_left is None else np.asarray(count_left, bool)[ok_l]
    w_r = np.ones(len(ok_r), bool) if count_right is None else np.asarray(count_right, bool)[ok_r]
    return CrossmatchResult(ok_l[il[mutual]], ok_r[ir[mutual]], sep, int((amb_l & w_l).sum() + (amb_r & w_r).sum()),
                            int((~mutual & w_l[il]).sum()), radius)


def crossmatch(
    left: pd.DataFrame,
    right: pd.DataFrame,
    radius_arcsec: float = 1.0,
    *,
    epoch_left: float | None = None,
    epoch_right: float | None = None,
    n_jobs: int = 1,
    count_left: np.ndarray | None = None,
    count_right: np.ndarray | None = None,
) -> CrossmatchResult:
    """One-to-one mutual nearest-neighbour match of two tables, in memory.

    A pair (i, j) is kept when j is the nearest right source to left row i within the radius and i is
    the nearest left source to j. When the epochs differ, the table with proper motions (``pmra``,
    ``pmdec`` in mas/yr; Gaia) is moved to the other's epoch first.

    Parameters
    ----------
    left, right : pandas.DataFrame
        Tables with ``ra``, ``dec`` (deg); rows with NaN positions are never matched.
    radius_arcsec : float, default=1.0
        Matching radius (arcsec).
    epoch_left, epoch_right : float, optional
        Julian years of the positions; default ``df.attrs["epoch"]`` (set by the readers).
    n_jobs : int, default=1
        Threads for the KD-tree queries.
    count_left, count_right : array of bool, optional
        The rows each table's ambiguous and rejected counts include (default all). A partition's own
        rows, when its neighbours' margin rows are matched with it.

    Returns
    -------
    CrossmatchResult
    """
    radius, (ra_l, dec_l, ok_l), (ra_r, dec_r, ok_r) = _positions(left, right, radius_arcsec, epoch_left, epoch_right)
    xyz_l, xyz_r = unit_vectors(ra_l, dec_l), unit_vectors(ra_r, dec_r)
    chord = 2.0 * np.sin(np.deg2rad(radius / 3600.0) / 2.0)
    best_lr, d_lr, amb_l = _nearest_two(xyz_l, xyz_r, chord, n_jobs)
    best_rl, _, amb_r = _nearest_two(xyz_r, xyz_l, chord, n_jobs)
    res = _mutual_result(ok_l, ok_r, (best_lr, d_lr, amb_l), (best_rl, amb_r), radius, count_left, count_right)
    log.debug("cross-match: %d pairs within %.2f arcsec (%d left, %d right rows; %d ambiguous, %d not mutual)",
             res.n_pairs, radius, len(left), len(right), res.n_ambiguous, res.n_rejected)
    return res


def join_matches(
    left: pd.DataFrame, right: pd.DataFrame, result: CrossmatchResult, how: str = "inner",
    suffix: str = "_right", sep_column: str = "sep_arcsec",
) -> pd.DataFrame:
    """Join the matched rows of two tables side by side.

    Parameters
    ----------
    left, right : pandas.DataFrame
        The tables given to the cross-match.
    result : CrossmatchResult
        Its pairs.
    how : {"inner", "left"}, default="inner"
        ``left`` keeps unmatched left rows (right columns NaN).
    suffix : str, default="_right"
        Added to right columns whose names the left table already has.
    sep_column : str, default="sep_arcsec"
        Name of the separation column (arcsec).

    Returns
    -------
    pandas.DataFrame
        A fresh 0..n-1 index.
    """
    if how not in ("inner", "left"):
        raise InputError(f"join_matches: how must be 'inner' or 'left'; got {how!r}")
    r = right.iloc[result.idx_right].reset_index(drop=True)
    r = r.rename(columns={c: f"{c}{suffix}" for c in r.columns if c in left.columns})
    r[sep_column] = result.sep_arcsec
    if how == "inner":
        out = pd.concat([left.iloc[result.idx_left].reset_index(drop=True), r], axis=1)
    else:
        r.index = result.idx_left
        out = pd.concat([left.reset_index(drop=True), r.reindex(np.arange(len(left)))], axis=1)
    out.attrs = dict(left.attrs)
    return out
