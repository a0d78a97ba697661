"""Tile-by-tile zero-point offsets of J-PLUS photometry, measured on the labelled stars.

Each J-PLUS tile carries its own calibration error (about 1% per band). A predictor trained on many
tiles averages these out for single stars, but every member of an open cluster sits in the same tile,
so the tile's offsets shift the whole cluster's [Fe/H] together (0.05 mag in a blue band moves [Fe/H]
by a few tenths of a dex).

The offsets are measured band by band on the labelled training stars: a gradient-boosted model
predicts each star's colour ``band - G`` from its spectroscopic Teff, log g and [Fe/H], its Gaia and
WISE colours and its extinction, cross-fitted so that no tile predicts itself. Gaia G, BP, RP and WISE
are calibrated over the whole sky and the labels fix the star's metallicity, so the median residual of a
tile, minus the median over all tiles, is that tile's offset; other J-PLUS bands are not used, so one
band's offset cannot leak into another's. Each offset is shrunk towards zero by its own noise against
the spread between tiles (empirical Bayes), so tiles with few labelled stars are barely changed.

Offsets are relative to the mean of the tiles: the model learns the survey's global zero points.
The labels are taken as one consistent scale: labels from surveys with different [Fe/H] zero points in
different parts of the sky would be read as offsets of the metallicity-sensitive blue bands.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from ..bands import JPLUS_BANDS
from ..exceptions import InputError

log = logging.getLogger(__name__)

__all__ = ["TILE_COLUMN", "ZeroPointConfig", "apply_tile_offsets", "fit_tile_offsets", "read_tile_offsets",
           "summarize_offsets"]

TILE_COLUMN = "jplus_tile_id"
_REFERENCE = "G"
_HELPERS = ("BP", "RP", "W1", "W2")
_LABELS = ("teff", "logg", "feh")


class ZeroPointConfig(BaseModel):
    """``[sample.zero_points]``: per-tile J-PLUS zero-point offsets measured on the labelled stars."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = Field(True, description="Measure and remove per-tile offsets (needs jplus_tile_id, "
                          "Gaia G and labels; skipped with a warning otherwise).")
    max_mag_err: float = Field(0.05, gt=0, description="Stars used in a band have an error below this (mag).")
    min_stars: int = Field(5, ge=2, description="Tiles with fewer usable stars in a band keep offset 0.")
    min_tiles: int = Field(10, ge=3, description="Fewer tiles with min_stars labelled stars: skipped (the colour "
                           "models would learn from too few tiles).")
    n_estimators: int = Field(300, ge=10, description="Trees of each colour model.")


def _out_of_fold(X: np.ndarray, y: np.ndarray, groups: np.ndarray, seed: int, n_estimators: int,
                 n_jobs: int) -> np.ndarray:
    """Predictions of ``y`` by models that never saw the star's tile (up to 5 folds split by tile)."""
    import lightgbm as lgb
    from sklearn.model_selection import GroupKFold

    pred = np.full(len(y), np.nan)
    params = {"objective": "huber", "alpha": 0.05, "learning_rate": 0.1, "num_leaves": 31,
              "min_child_samples": 40, "verbose": -1, "seed": seed, "num_threads": n_jobs}
    n_folds = min(5, len(np.unique(groups)))
    for fit_idx, out_idx in GroupKFold(n_splits=n_folds).split(X, y, groups):
        booster = lgb.train(params, lgb.Dataset(X[fit_idx], y[fit_idx]), n_estimators)
        pred[out_idx] = booster.predict(X[out_idx])
    return pred


def _shrunk_tile_medians(res: np.ndarray, tiles: np.ndarray, min_stars: int) -> pd.DataFrame:
    """Per-tile median residual, its error, and the empirical-Bayes estimate shrunk towards zero."""
    s = pd.Series(res)
    grp = s.groupby(tiles)
    n = grp.size()
    tile_median = grp.median()
    med = tile_median - s.median()
    mad = (s - tile_median.reindex(tiles).to_numpy()).abs().groupby(tiles).median()
    err = 1.2533 * 1.4826 * mad / np.sqrt(n)  # error of a median of n normal values
    ok = (n >= min_stars) & (err > 0)
    tau2 = max(float(np.var(med[ok]) - np.mean(err[ok] ** 2)), 0.0) if ok.sum() > 2 else 0.0
    weight = (tau2 / (tau2 + err**2)).where(ok, 0.0)
    return pd.DataFrame({"offset_mag": med * weight, "offset_err": np.sqrt(weight) * err.where(ok, 0.0),
                         "raw_offset_mag": med.where(ok), "n_stars": n.where(ok, 0).astype(int)})


def fit_tile_offsets(labelled: pd.DataFrame, config: ZeroPointConfig | None = None, seed: int = 0,
                     n_jobs: int = 1) -> pd.DataFrame:
    """Measure per-tile J-PLUS zero-point offsets on labelled stars.

    Parameters
    ----------
    labelled : DataFrame
        Labelled stars: ``jplus_tile_id``, ``teff``, ``logg``, ``feh``, ``mag_G``, J-PLUS ``mag_<band>``
        and ``mag_err_<band>``; optional ``mag_BP``, ``mag_RP``, ``mag_W1``, ``mag_W2`` and ``a0``. With a
        ``split`` column only the ``train`` and ``val`` rows are used (the blind test stays blind).
    config : ZeroPointConfig, optional
    seed : int
        Seeds the colour models.
    n_jobs : int
        Threads for LightGBM.

    Returns
    -------
    DataFrame
        One row per tile and band: ``jplus_tile_id``, ``band``, ``offset_mag`` (to subtract from the
        catalogue magnitude), ``offset_err``, ``raw_offset_mag`` (before shrinkage) and ``n_stars``
        (0 where the tile had fewer than ``min_stars`` and keeps offset 0).

    Raises
    ------
    InputError
        When a needed column is absent or no star is usable.
    """
    cfg = config or ZeroPointConfig()
    bands = [b for b in JPLUS_BANDS if f"mag_{b}" in labelled and f"mag_err_{b}" in labelled]
    missing = [c for c in (TILE_COLUMN, f"mag_{_REFERENCE}", *_LABELS) if c not in labelled]
    if missing or not bands:
        raise InputError(f"tile zero points need {TILE_COLUMN}, mag_{_REFERENCE}, labels and J-PLUS magnitudes "
                         f"with errors; the table ({len(labelled)} rows) lacks {missing or 'every J-PLUS band'}")
    stars = labelled
    if "split" in stars:
        stars = stars.loc[stars["split"].isin(["train", "val"])]
    stars = stars.loc[stars[TILE_COLUMN].notna() & np.isfinite(stars[f"mag_{_REFERENCE}"])]
    if stars.empty:
        raise InputError("tile zero points: no labelled star has a tile and a G magnitude")
    tiles = stars[TILE_COLUMN].to_numpy()
    n_tiles = int((stars[TILE_COLUMN].value_counts() >= cfg.min_stars).sum())
    if n_tiles < cfg.min_tiles:
        raise InputError(f"tile zero points need at least {cfg.min_tiles} tiles with {cfg.min_stars} or more "
                         f"labelled stars (offsets are measured against the other tiles); the sample has {n_tiles}")
    ref = stars[f"mag_{_REFERENCE}"].to_numpy(float)
    cols = [stars[c].to_numpy(float) for c in _LABELS]
    cols += [stars[f"mag_{h}"].to_numpy(float) - ref for h in _HELPERS if f"mag_{h}" in stars]
    if "a0" in stars:
        cols.append(stars["a0"].to_numpy(float))
    X = np.column_stack(cols)
    t0 = time.perf_counter()
    rows = []
    for b in bands:
        y = stars[f"mag_{b}"].to_numpy(float) - ref
        u = np.isfinite(y) & (stars[f"mag_err_{b}"].to_numpy(float) < cfg.max_mag_err)
        if u.sum() < 4 * cfg.min_stars:
            log.warning("tile zero points: %s has only %d usable stars; offsets 0", b, int(u.sum()))
            continue
        pred = _out_of_fold(X[u], y[u], tiles[u], seed, cfg.n_estimators, n_jobs)
        t = _shrunk_tile_medians(y[u] - pred, tiles[u], cfg.min_stars)
        rows.append(t.rename_axis(TILE_COLUMN).reset_index().assign(band=b))
        log.info("tile zero points: %s from %d stars in %d tiles, spread %.4f mag (%.0f s)", b, int(u.sum()),
                 int((t.n_stars > 0).sum()), float(t.offset_mag.std()), time.perf_counter() - t0)
    if not rows:
        raise InputError("tile zero points: no J-PLUS band had enough usable labelled stars")
    out = pd.concat(rows, ignore_index=True)
    return out[[TILE_COLUMN, "band", "offset_mag", "offset_err", "raw_offset_mag", "n_stars"]]


def apply_tile_offsets(table: pd.DataFrame, offsets: pd.DataFrame) -> pd.DataFrame:
    """Subtract per-tile offsets (from :func:`fit_tile_offsets`) from a copy of the J-PLUS magnitudes.

    Stars in tiles without an offset keep their magnitudes.
    """
    if TILE_COLUMN not in table:
        raise InputError(f"the table lacks {TILE_COLUMN}: cannot apply tile zero points")
    out = table.copy()
    wide = offsets.pivot(index=TILE_COLUMN, columns="band", values="offset_mag")
    for b in wide.columns:
        col = f"mag_{b}"
        if col in out:
            out[col] = out[col] - wide[b].reindex(out[TILE_COLUMN]).fillna(0.0).to_numpy()
    return out


def read_tile_offsets(path: str | Path) -> pd.DataFrame:
    """A ``zero_points.csv`` (``jplus_tile_id``, ``band``, ``offset_mag``), checked."""
    try:
        df = pd.read_csv(path)
    except (OSError, ValueError) as err:
        raise InputError(f"cannot read the zero points {path}: {err}") from err
    need = [c for c in (TILE_COLUMN, "band", "offset_mag") if c not in df]
    if need or not np.isfinite(df.get("offset_mag", pd.Series([np.nan]))).all():
        raise InputError(f"{path} is not a zero_points.csv of ocfeh: it lacks {need} or has non-finite offsets")
    return df[[TILE_COLUMN, "band", "offset_mag"]]


def summarize_offsets(offsets: pd.DataFrame) -> dict:
    """Per band: tiles measured, robust spread of the offsets and median error (mag)."""
    out = {}
    for b, g in offsets.groupby("band", sort=False):
        m = g.loc[g.n_stars > 0]
        if m.empty:
            out[b] = {"n_tiles": 0, "spread_mag": 0.0, "median_err_mag": 0.0}
            continue
        out[b] = {"n_tiles": len(m), "spread_mag": round(float(1.4826 * np.median(np.abs(m.offset_mag))), 5),
                  "median_err_mag": round(float(m.offset_err.median()), 5)}
    return out
