"""Per-star intervals: normalised split-conformal prediction with Mondrian bins, plus Monte Carlo.

How an interval is made (one target, e.g. ``feh``):

1. The validation stars (never the blind test) are split at random into two halves, A and B.
2. On half A a small LightGBM learns the *difficulty* ``d(x) ~ E|y - f(x)|`` from the features.
3. On half B each star gets the normalised score ``s = |y - f(x)| / sigma(x)`` with
   ``sigma(x) = sqrt(d(x)^2 + sigma_mc(x)^2)`` (``sigma_mc = 0`` without Monte Carlo, see below).
4. Stars are put in Mondrian bins by their *predicted* labels (default: giants ``logg < 3.5`` versus
   dwarfs, metal-poor ``feh < -1`` versus the rest); in every bin with at least ``min_bin_size``
   stars the conformal quantile ``q`` of level ``p`` is the ``ceil((n + 1) p)``-th smallest score
   (smaller bins use the quantile of all of half B).
5. A new star's interval is ``f(x) +- q sigma(x)``; ``<t>_err`` is the 68% half-width.

Because the bin of a star is a function of its features, the finite-sample guarantee of split
conformal prediction (Vovk et al. 2005; Lei et al. 2018) holds inside every bin that has its own
quantile: coverage is at least ``p`` (and at most ``p + 1/(n + 1)`` without tied scores) for stars
exchangeable with the calibration stars. A bin below ``min_bin_size`` (e.g. the few metal-poor
dwarfs of a small sample) uses the pooled quantile, so only the marginal guarantee holds for it.
The model's features, hyper-parameters and number of trees were chosen with the validation stars
among others; the final trees are fitted without them.

Monte Carlo propagation (:func:`mc_spread`): each star's magnitudes, distance and extinction are
redrawn ``n_draws`` times from their errors (seeded) and pushed through features and model; the
standard deviation of the predictions is ``sigma_mc``. It enters the normalisation of step 3, so a
star with noisier photometry than its neighbours gets a proportionally wider interval *and the
combination stays calibrated*: the conformal quantile is fitted to the scores computed with the same
``sigma``. Intervals with and without Monte Carlo are calibrated separately (two quantile tables),
so prediction may skip the (costly) Monte Carlo and still be calibrated.

References
----------
Vovk, Gammerman & Shafer 2005, *Algorithmic Learning in a Random World* (Mondrian conformal).
Lei, G'Sell, Rinaldo, Tibshirani & Wasserman 2018, JASA 113, 1094 (normalised split conformal).
Papadopoulos, Vovk & Gammerman 2011, JAIR 40, 815 (normalised nonconformity scores).
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, field_validator

from ..exceptions import InputError, NotFittedError

__all__ = [
    "LEVELS",
    "ConformalIntervals",
    "MondrianBins",
    "UncertaintyConfig",
    "coverage_metrics",
    "coverage_table",
    "interval_columns",
    "mc_spread",
]

log = logging.getLogger(__name__)

LEVELS = (0.68, 0.95)


class UncertaintyConfig(BaseModel):
    """The ``[uncertainty]`` section."""

    model_config = ConfigDict(extra="forbid")

    levels: tuple[float, float] = Field(LEVELS, description="Interval levels (68% and 95%).")
    difficulty_fraction: float = Field(
        0.5, gt=0.05, lt=0.95, description="Share of the validation stars that trains the difficulty model."
    )
    min_bin_size: int = Field(200, ge=20, description="Smallest Mondrian bin with its own quantile.")
    giant_logg: float = Field(3.5, description="Mondrian split: predicted log g below this is a giant [dex].")
    metal_poor_feh: float = Field(-1.0, description="Mondrian split: predicted [Fe/H] below this is metal-poor.")
    n_draws: int = Field(0, ge=0, description="Monte Carlo draws per star (0 = conformal only).")
    ood_k: int = Field(10, ge=1, description="Neighbours of the kNN out-of-distribution score.")
    ood_quantile: float = Field(0.995, gt=0.5, lt=1.0, description="Training quantile of the OOD threshold.")

    @field_validator("levels")
    @classmethod
    def _check_levels(cls, v):
        # the levels name the columns (<t>_lo68, <t>_hi95) and the first gives <t>_err
        if not (0 < v[0] < v[1] < 1) or _pct(v[0]) == _pct(v[1]):
            raise ValueError(f"must be two coverages in (0, 1), the smaller first, in different whole "
                             f"percents (they name the interval columns), e.g. [0.68, 0.95]; got {list(v)}")
        return v


# --------------------------------------------------------------------------------------------- bins
@dataclass(frozen=True)
class MondrianBins:
    """Mondrian taxonomy: a star's bin from cuts on columns of a frame (usually predicted labels).

    Parameters
    ----------
    cuts : mapping of column -> (threshold, low name, high name)
        Each cut splits stars into ``value < threshold`` (low name) and the rest (high name);
        the bin label joins the names, e.g. ``"dwarf/metal_poor"``. NaN values go to the high side.

    Examples
    --------
    >>> import pandas as pd
    >>> bins = MondrianBins.default()
    >>> bins.assign(pd.DataFrame({"logg": [2.0, 4.5], "feh": [-2.0, 0.0]})).tolist()
    ['giant/metal_poor', 'dwarf/metal_rich']
    """

    cuts: tuple[tuple[str, float, str, str], ...] = (
        ("logg", 3.5, "giant", "dwarf"),
        ("feh", -1.0, "metal_poor", "metal_rich"),
    )

    @classmethod
    def default(cls, giant_logg: float = 3.5, metal_poor_feh: float = -1.0) -> MondrianBins:
        """Giants versus dwarfs, metal-poor versus the rest."""
        return cls((("logg", giant_logg, "giant", "dwarf"), ("feh", metal_poor_feh, "metal_poor", "metal_rich")))

    @property
    def columns(self) -> tuple[str, ...]:
        return tuple(c[0] for c in self.cuts)

    def assign(self, frame: pd.DataFrame | Mapping[str, np.ndarray]) -> np.ndarray:
        """Bin labels (object array of str), one per row of ``frame``."""
        missing = [c for c in self.columns if c not in frame]
        if missing:
            raise InputError(f"Mondrian bins need columns {missing}; got {list(frame)[:20]}")
        labels = None
        for col, thr, low, high in self.cuts:
            v = np.asarray(frame[col], dtype=float)
            part = np.where(v < thr, low, high).astype(object)
            labels = part if labels is None else labels + "/" + part
        return labels


# ------------------------------------------------------------------------------------- conformal
def _conformal_quantile(scores: np.ndarray, level: float) -> float:
    """The ``ceil((n+1) level)``-th smallest score (inf when n is too small)."""
    n = scores.size
    k = math.ceil((n + 1) * level)
    if k > n:
        return float("inf")
    return float(np.partition(scores, k - 1)[k - 1])


def _default_difficulty_params(seed: int) -> dict[str, Any]:
    return {
        "n_estimators": 150, "learning_rate": 0.05, "num_leaves": 15, "min_child_samples": 40,
        "subsample": 0.8, "subsample_freq": 1, "colsample_bytree": 0.8, "random_state": seed,
        "n_jobs": 2, "verbose": -1,
    }


class ConformalIntervals:
    """Normalised, Mondrian split-conformal intervals for one target.

    Parameters
    ----------
    levels : sequence of float, default=(0.68, 0.95)
        Nominal coverages.
    difficulty_fraction : float, default=0.5
        Share of the calibration stars used to train the difficulty model (the rest gives scores).
    min_bin_size : int, default=200
        Bins with fewer scoring stars use the quantile of all scoring stars.
    difficulty_params : dict, optional
        Keyword arguments of the ``lightgbm.LGBMRegressor`` difficulty model.
    seed : int, default=0
        Seed of the A/B split and the difficulty model.

    Attributes
    ----------
    difficulty_ : lightgbm.Booster
        Model of ``E|y - f(x)|`` (same unit as the target).
    difficulty_features_ : list of str
        Its features, in order.
    floor_ : float
        Lower bound on the difficulty (5th percentile on half A), so no interval collapses.
    quantiles_ : dict
        ``{mode: {bin: {level: q}}}`` with mode ``"model"`` and, when fitted with Monte Carlo, ``"mc"``;
        bin ``"*"`` is the pooled quantile.
    n_bin_ : dict
        Scoring stars per bin.
    """

    def __init__(
        self,
        levels: Sequence[float] = LEVELS,
        difficulty_fraction: float = 0.5,
        min_bin_size: int = 200,
        difficulty_params: dict[str, Any] | None = None,
        seed: int = 0,
    ):
        self.levels = tuple(levels)
        self.difficulty_fraction = difficulty_fraction
        self.min_bin_size = min_bin_size
        self.difficulty_params = difficulty_params
        self.seed = seed

    # ---------------------------------------------------------------- fit
    def fit(
        self,
        X: pd.DataFrame | np.ndarray,
        y: np.ndarray,
        y_pred: np.ndarray,
        bins: np.ndarray | None = None,
        sigma_mc: np.ndarray | None = None,
    ) -> ConformalIntervals:
        """Calibrate on validation stars.

        Parameters
        ----------
        X : (n, n_features) array or DataFrame
            Features of the calibration stars (finite).
        y, y_pred : (n,) array
            True and predicted labels.
        bins : (n,) array of str, optional
            Mondrian bin of each star (from predicted labels); None = one bin.
        sigma_mc : (n,) array, optional
            Monte Carlo spread of the prediction of each star; also calibrates the ``"mc"`` mode.
        """
        import lightgbm as lgb

        for lv in self.levels:
            if not 0 < lv < 1:
                raise InputError(f"The 'levels' parameter of ConformalIntervals must be in (0, 1). Got {lv}.")
        y = np.asarray(y, dtype=float)
        y_pred = np.asarray(y_pred, dtype=float)
        n = y.size
        if n < 50:
            raise InputError(f"conformal calibration needs at least 50 stars; got {n}")
        good = np.isfinite(y) & np.isfinite(y_pred)
        if not good.all():
            raise InputError(f"calibration labels/predictions hold {int((~good).sum())} non-finite values of {n}")
        bins = np.full(n, "*", dtype=object) if bins is None else np.asarray(bins, dtype=object)
        rng = np.random.default_rng(self.seed)
        perm = rng.permutation(n)
        n_a = round(self.difficulty_fraction * n)
        idx_a, idx_b = np.sort(perm[:n_a]), np.sort(perm[n_a:])
        resid = np.abs(y - y_pred)
        Xa = X.iloc[idx_a] if isinstance(X, pd.DataFrame) else np.asarray(X)[idx_a]
        Xb = X.iloc[idx_b] if isinstance(X, pd.DataFrame) else np.asarray(X)[idx_b]

        params = self.difficulty_params or _default_difficulty_params(self.seed)
        model = lgb.LGBMRegressor(**params).fit(Xa, resid[idx_a])
        self.difficulty_, self.difficulty_features_ = model.booster_, [str(f) for f in model.feature_name_]
        self.floor_ = float(max(np.quantile(resid[idx_a], 0.05), 1e-12))
        d_b = self._difficulty(Xb)

        self.quantiles_ = {}
        self.n_bin_ = {}
        modes = {"model": d_b}
        if sigma_mc is not None:
            smc = np.nan_to_num(np.asarray(sigma_mc, dtype=float)[idx_b], nan=0.0)
            modes["mc"] = np.sqrt(d_b**2 + smc**2)
        b_bins = bins[idx_b]
        for mode, sig in modes.items():
            scores = resid[idx_b] / sig
            table = {"*": {lv: _conformal_quantile(scores, lv) for lv in self.levels}}
            for b in np.unique(b_bins):
                sel = b_bins == b
                self.n_bin_[b] = int(sel.sum())
                if sel.sum() >= self.min_bin_size:
                    table[b] = {lv: _conformal_quantile(scores[sel], lv) for lv in self.levels}
            self.quantiles_[mode] = table
        self.n_calibration_ = int(idx_b.size)
        small = [b for b, k in self.n_bin_.items() if k < self.min_bin_size]
        if small:
            log.info("conformal: bins %s have < %d calibration stars; they use the pooled quantile",
                     small, self.min_bin_size)
        return self

    def _difficulty(self, X, n_threads: int = 2) -> np.ndarray:
        # the booster on a contiguous array: same numbers as LGBMRegressor.predict, no pandas conversion
        arr = np.ascontiguousarray(X.to_numpy() if isinstance(X, pd.DataFrame) else X)
        return np.maximum(self.difficulty_.predict(arr, num_threads=n_threads), self.floor_)

    def __setstate__(self, state: dict) -> None:
        # a calibration pickled before the redesign holds the scikit-learn wrapper of the difficulty model
        model = state.get("difficulty_")
        if model is not None and hasattr(model, "booster_"):
            state = {**state, "difficulty_": model.booster_, "difficulty_features_": list(model.feature_name_)}
        self.__dict__.update(state)

    def to_dict(self) -> dict[str, Any]:
        """The fitted state as JSON-able values (the difficulty model apart, see :attr:`difficulty_`)."""
        self._check()
        return {"levels": list(self.levels), "difficulty_fraction": self.difficulty_fraction,
                "min_bin_size": self.min_bin_size, "difficulty_params": self.difficulty_params, "seed": self.seed,
                "floor": self.floor_, "difficulty_features": self.difficulty_features_,
                "quantiles": {m: {b: {repr(lv): _finite_or_str(q) for lv, q in qs.items()} for b, qs in tab.items()}
                              for m, tab in self.quantiles_.items()},
                "n_bin": self.n_bin_, "n_calibration": self.n_calibration_}

    @classmethod
    def from_dict(cls, state: dict[str, Any], difficulty) -> ConformalIntervals:
        """The inverse of :meth:`to_dict`, with the difficulty model (a LightGBM Booster)."""
        c = cls(state["levels"], state["difficulty_fraction"], state["min_bin_size"], state["difficulty_params"],
                state["seed"])
        c.difficulty_, c.difficulty_features_, c.floor_ = difficulty, list(state["difficulty_features"]), state["floor"]
        c.quantiles_ = {m: {b: {float(lv): float(q) for lv, q in qs.items()} for b, qs in tab.items()}
                        for m, tab in state["quantiles"].items()}
        c.n_bin_, c.n_calibration_ = dict(state["n_bin"]), int(state["n_calibration"])
        return c

    def _check(self) -> None:
        if not hasattr(self, "quantiles_"):
            raise NotFittedError("This ConformalIntervals is not fitted yet. Call 'fit' with validation stars first.")

    # ---------------------------------------------------------------- predict
    def half_widths(
        self,
        X: pd.DataFrame | np.ndarray,
        bins: np.ndarray | None = None,
        sigma_mc: np.ndarray | None = None,
    ) -> dict[float, np.ndarray]:
        """Half-widths ``q sigma(x)`` per level (same unit as the target)."""
        self._check()
        sig = self._difficulty(X)
        mode = "model"
        if sigma_mc is not None:
            if "mc" not in self.quantiles_:
                raise InputError(
                    "Monte Carlo intervals were requested but the calibration ran without Monte Carlo; "
                    "re-calibrate with n_draws > 0 or predict with n_draws=0."
                )
            mode = "mc"
            sig = np.sqrt(sig**2 + np.nan_to_num(np.asarray(sigma_mc, dtype=float), nan=0.0) ** 2)
        table = self.quantiles_[mode]
        n = sig.shape[0]
        out = {}
        for lv in self.levels:
            q = np.full(n, table["*"][lv])
            if bins is not None:
                bins = np.asarray(bins, dtype=object)
                for b, qs in table.items():
                    if b != "*":
                        q[bins == b] = qs[lv]
            out[lv] = q * sig
        return out


def _finite_or_str(q: float) -> float | str:
    return q if math.isfinite(q) else repr(q)  # "inf": a bin too small for the level (JSON has no inf)


def _pct(level: float) -> str:
    return f"{round(level * 100):d}"


def interval_columns(
    target: str, y_pred: np.ndarray, half: Mapping[float, np.ndarray], dtype=np.float64
) -> dict[str, np.ndarray]:
    """``<t>``, ``<t>_lo68``, ``<t>_hi68``, ``<t>_lo95``, ``<t>_hi95``, ``<t>_err`` (68% half-width)."""
    y_pred = np.asarray(y_pred, dtype=dtype)
    cols = {target: y_pred}
    for lv, h in half.items():
        cols[f"{target}_lo{_pct(lv)}"] = (y_pred - h).astype(dtype)
        cols[f"{target}_hi{_pct(lv)}"] = (y_pred + h).astype(dtype)
    first = min(half)
    cols[f"{target}_err"] = np.asarray(half[first], dtype=dtype)
    return cols


# ------------------------------------------------------------------------------------ Monte Carlo
def _perturb(table: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """One Monte Carlo draw of a canonical table: magnitudes, distance and extinction from their errors.

    Magnitudes: Gaussian with ``mag_err_<band>`` (absent/NaN error = no noise). Distance: split normal
    from ``distance_lo_pc`` / ``distance_hi_pc`` (16th/84th percentiles) when present, else Gaussian in
    parallax from ``parallax_error`` when ``parallax`` is present; kept positive. Extinction: Gaussian
    with ``a0_err``, clipped at 0.
    """
    out = table.copy()
    n = len(table)
    for col in table.columns:
        if col.startswith("mag_err_"):
            mag = "mag_" + col[len("mag_err_"):]
            if mag in table:
                err = np.nan_to_num(table[col].to_numpy(dtype=float), nan=0.0)
                out[mag] = table[mag].to_numpy(dtype=float) + err * rng.standard_normal(n)
    if "distance_pc" in table:
        d = table["distance_pc"].to_numpy(dtype=float)
        z = rng.standard_normal(n)
        if "distance_lo_pc" in table and "distance_hi_pc" in table:
            lo = np.nan_to_num(d - table["distance_lo_pc"].to_numpy(dtype=float), nan=0.0)
            hi = np.nan_to_num(table["distance_hi_pc"].to_numpy(dtype=float) - d, nan=0.0)
            new = d + np.where(z < 0, lo, hi) * z
        elif "parallax" in table and "parallax_error" in table:
            plx = table["parallax"].to_numpy(dtype=float)
            plx_new = plx + np.nan_to_num(table["parallax_error"].to_numpy(dtype=float), nan=0.0) * z
            new = np.where(np.isfinite(plx) & (plx > 0), d * plx / np.maximum(plx_new, 0.05 * plx), d)
        else:
            new = d
        out["distance_pc"] = np.maximum(new, 0.5 * d)
    if "a0" in table and "a0_err" in table:
        a0 = table["a0"].to_numpy(dtype=float)
        err = np.nan_to_num(table["a0_err"].to_numpy(dtype=float), nan=0.0)
        out["a0"] = np.maximum(a0 + err * rng.standard_normal(n), 0.0)
    return out


def mc_spread(
    table: pd.DataFrame,
    predict: Callable[[pd.DataFrame], Mapping[str, np.ndarray]],
    n_draws: int,
    rng: np.random.Generator,
) -> dict[str, np.ndarray]:
    """Monte Carlo standard deviation of each target's prediction under the star's input errors.

    Parameters
    ----------
    table : DataFrame
        Canonical star table (``mag_<band>``, ``mag_err_<band>``, ``distance_pc`` [+ lo/hi],
        ``a0`` [+ ``a0_err``]).
    predict : callable
        ``predict(table) -> {target: (n,) predictions}`` (features + model).
    n_draws : int
        Number of draws (>= 2).
    rng : numpy.random.Generator
        Source of randomness (seed it for reproducible output).

    Returns
    -------
    dict of target -> (n,) array
        Sample standard deviation over draws (same unit as the target). Memory holds one draw at a time.
    """
    if n_draws < 2:
        raise InputError(f"The 'n_draws' parameter of mc_spread must be >= 2. Got {n_draws} instead.")
    s1: dict[str, np.ndarray] = {}
    s2: dict[str, np.ndarray] = {}
    for _ in range(n_draws):
        pred = predict(_perturb(table, rng))
        for t, p in pred.items():
            p = np.asarray(p, dtype=float)
            if t not in s1:
                s1[t], s2[t] = np.zeros_like(p), np.zeros_like(p)
            s1[t] += p
            s2[t] += p * p
    return {t: np.sqrt(np.maximum(s2[t] - s1[t] ** 2 / n_draws, 0.0) / (n_draws - 1)) for t in s1}


# -------------------------------------------------------------------------------------- coverage
def coverage_table(
    frame: pd.DataFrame,
    targets: Sequence[str] = ("teff", "logg", "feh"),
    truth_suffix: str = "_true",
    bins: Mapping[str, np.ndarray] | None = None,
    levels: Sequence[float] | None = None,
) -> pd.DataFrame:
    """Empirical coverage of the intervals, overall and per bin.

    Parameters
    ----------
    frame : DataFrame
        Predictions (``<t>_lo68`` ...) and truth (``<t><truth_suffix>``) of the blind-test stars.
    targets : sequence of str
        Targets to report (those without truth or intervals are skipped).
    truth_suffix : str, default="_true"
        Suffix of the truth column.
    bins : mapping of name -> (n,) array of labels, optional
        Binnings to report, e.g. ``{"predicted": ..., "true": ...}``.
    levels : sequence of float, optional
        Default: the levels of the frame's ``<t>_lo<NN>`` columns (as calibrated; else 0.68 and 0.95).

    Returns
    -------
    DataFrame
        One row per target and bin: ``target, binning, bin, n, coverage_68, coverage_95,
        median_err`` (coverages as fractions).
    """
    if levels is None:
        found = {int(c.rsplit("_lo", 1)[1]) for c in map(str, frame.columns) if re.fullmatch(r".+_lo\d+", c)}
        levels = [p / 100 for p in sorted(found)] or LEVELS
    rows = []
    for t in targets:
        truth_col = f"{t}{truth_suffix}"
        if truth_col not in frame or f"{t}_lo{_pct(levels[0])}" not in frame:
            continue
        y = frame[truth_col].to_numpy(dtype=float)
        ok = np.isfinite(y) & np.isfinite(frame[t].to_numpy(dtype=float))
        hits = {}
        for lv in levels:
            lo = frame[f"{t}_lo{_pct(lv)}"].to_numpy(dtype=float)
            hi = frame[f"{t}_hi{_pct(lv)}"].to_numpy(dtype=float)
            hits[lv] = (y >= lo) & (y <= hi)
        err = frame[f"{t}_err"].to_numpy(dtype=float) if f"{t}_err" in frame else np.full(len(frame), np.nan)
        groups = [("all", "all", ok)]
        for name, labels in (bins or {}).items():
            labels = np.asarray(labels, dtype=object)
            for b in sorted(set(labels[ok].tolist()), key=str):
                groups.append((name, str(b), ok & (labels == b)))
        for binning, b, sel in groups:
            n = int(sel.sum())
            row = {"target": t, "binning": binning, "bin": b, "n": n}
            for lv in levels:
                row[f"coverage_{_pct(lv)}"] = float(hits[lv][sel].mean()) if n else float("nan")
            row["median_err"] = float(np.median(err[sel])) if n else float("nan")
            rows.append(row)
    return pd.DataFrame(rows)


def coverage_metrics(table: pd.DataFrame) -> dict[str, dict[str, float]]:
    """``{target: {"coverage_68": ..., "coverage_95": ..., "n": ...}}`` from the ``all`` rows (metrics.json)."""
    out = {}
    for _, row in table[table["binning"] == "all"].iterrows():
        out[row["target"]] = {k: row[k] for k in row.index if k.startswith("coverage_")} | {"n": int(row["n"])}
    return out
