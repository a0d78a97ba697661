"""The predictor's response to the true [Fe/H], measured on held-out labelled stars.

A regression model pulls its predictions towards the mean of its training labels: on held-out stars
the predicted [Fe/H] follows ``pred = alpha + beta * [Fe/H] + noise`` with ``beta < 1``. A cluster mean
computed from raw predictions inherits that bias (too low for metal-rich clusters, too high for
metal-poor ones). :func:`fit_calibration` measures ``alpha`` and ``beta`` on the validation/test rows
of the labelled sample (slope corrected for the label noise, as in Deming regression with known label
errors) and a *cluster-level systematic error*: the spread of the mean calibrated residual between
groups of similar stars (bins in spectroscopic Teff, log g and [Fe/H]) beyond what the per-bin noise
explains. Stars of one cluster share type, distance, extinction and photometric calibration, so their
errors do not average down below this floor. It also measures ``err_scale``: the per-star ``feh_err``
are 68% half-widths against the noisy labels, so they hold the label noise and the regression towards
the mean, which the response removes; scaled by ``err_scale``, 68% of the held-out predictions lie
within them of ``alpha + beta * [Fe/H]``. :func:`ocfeh.clusters.fit_cluster_feh` uses all three.

Only held-out rows may be used: the fit rows of the model are over-fitted.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from ..exceptions import InputError

__all__ = ["FehCalibration", "fit_calibration", "calibration_from_sample"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FehCalibration:
    """Linear response of the predicted [Fe/H] to the true value, and a cluster-level systematic.

    Attributes
    ----------
    alpha, beta : float
        ``E[pred | feh] = alpha + beta * feh`` (dex, dimensionless).
    cov : tuple of float
        ``(var_alpha, var_beta, cov_alpha_beta)`` from a bootstrap of the held-out stars.
    sigma_sys : float
        Cluster-level systematic error of a mean prediction (dex), from the spread of binned residuals.
    n : int
        Held-out stars used.
    n_bins : int
        Bins used for ``sigma_sys``.
    err_scale : float
        Factor turning the per-star ``feh_err`` (a 68% interval half-width against the noisy labels,
        which holds the label noise and the regression towards the mean) into the 1-sigma scatter of
        the predictions about ``alpha + beta * feh``, the error the cluster model needs.
    """

    alpha: float = 0.0
    beta: float = 1.0
    cov: tuple[float, float, float] = (0.0, 0.0, 0.0)
    sigma_sys: float = 0.0
    n: int = 0
    n_bins: int = 0
    err_scale: float = 1.0

    def systematic(self, mu) -> np.ndarray:
        """Total systematic error of the cluster mean in *prediction* units at true [Fe/H] ``mu`` (dex).

        ``sigma_sys`` and the propagated uncertainty of ``alpha + beta * mu`` in quadrature.
        """
        mu = np.asarray(mu, dtype=float)
        va, vb, cab = self.cov
        var = self.sigma_sys**2 + va + mu**2 * vb + 2 * mu * cab
        return np.sqrt(np.maximum(var, 0.0))

    def to_dict(self) -> dict:
        """A JSON-friendly dict."""
        d = asdict(self)
        d["cov"] = list(self.cov)
        return d


def _err_scale(resid: np.ndarray, pred_err: np.ndarray, label_term: np.ndarray, level: float = 0.6827) -> float:
    """``k`` such that a fraction ``level`` of ``|resid|`` lies within ``sqrt((k pred_err)^2 + label_term^2)``
    (the residuals about ``alpha + beta * label`` hold ``beta`` times the label noise, ``label_term``)."""
    def covered(k: float) -> float:
        return float(np.mean(np.abs(resid) <= np.sqrt((k * pred_err) ** 2 + label_term**2)))

    lo, hi = 0.02, 10.0
    if covered(lo) >= level:
        return lo
    for _ in range(50):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if covered(mid) < level else (lo, mid)
    return 0.5 * (lo + hi)


def _slope(pred: np.ndarray, label: np.ndarray, label_var: float) -> tuple[float, float]:
    lab_var = float(np.var(label, ddof=1)) - label_var
    if lab_var <= 0.1 * float(np.var(label, ddof=1)):  # labels dominated by noise: do not divide by ~0
        lab_var = 0.1 * float(np.var(label, ddof=1))
    beta = float(np.cov(pred, label, ddof=1)[0, 1] / lab_var)
    return float(np.mean(pred) - beta * np.mean(label)), beta


def fit_calibration(
    pred,
    label,
    label_err=None,
    groups: pd.DataFrame | None = None,
    n_per_axis: int = 3,
    min_bin: int = 30,
    n_bootstrap: int = 200,
    seed: int | np.random.Generator = 0,
    pred_err=None,
) -> FehCalibration:
    """Measure the predictor's response and the cluster-level systematic on held-out stars.

    Parameters
    ----------
    pred, label : array_like
        Predicted and spectroscopic [Fe/H] of held-out labelled stars (dex).
    label_err : array_like, optional
        1-sigma label errors (dex): their mean variance is removed from the label variance so the
        slope is not attenuated by label noise.
    groups : DataFrame, optional
        Columns to bin the stars by for ``sigma_sys``: the labels (``teff``, ``logg``, ``feh``), not the
        predictions, whose bins select on the noise the residuals hold; each is cut into
        ``n_per_axis`` quantile bins. Without it ``sigma_sys`` is 0.
    n_per_axis : int, default=3
        Quantile bins per grouping column.
    min_bin : int, default=30
        Bins with fewer stars are ignored.
    n_bootstrap : int, default=200
        Resamples for the covariance of ``(alpha, beta)``.
    seed : int or numpy.random.Generator
    pred_err : array_like, optional
        The stars' per-star [Fe/H] errors (``feh_err``): with it, ``err_scale`` is measured.

    Returns
    -------
    FehCalibration

    Raises
    ------
    InputError
        Fewer than 30 usable stars, or inputs of different length.
    """
    x = np.asarray(pred, dtype=float).ravel()
    y = np.asarray(label, dtype=float).ravel()
    if x.shape != y.shape:
        raise InputError(f"pred and label differ in length: {x.size} and {y.size}")
    e = np.zeros_like(y) if label_err is None else np.asarray(label_err, dtype=float).ravel()
    if e.shape != y.shape:
        raise InputError(f"label and label_err differ in length: {y.size} and {e.size}")
    pe = np.full_like(y, np.nan) if pred_err is None else np.asarray(pred_err, dtype=float).ravel()
    if pe.shape != y.shape:
        raise InputError(f"pred and pred_err differ in length: {x.size} and {pe.size}")
    ok = np.isfinite(x) & np.isfinite(y) & np.isfinite(e)
    if groups is not None:
        if len(groups) != x.size:
            raise InputError(f"groups has {len(groups)} rows, pred has {x.size}")
        ok &= groups.notna().all(axis=1).to_numpy()
    n = int(ok.sum())
    if n < 30:
        raise InputError(f"[Fe/H] calibration needs at least 30 held-out stars with prediction and label, got {n}")
    x, y, e, pe = x[ok], y[ok], e[ok], pe[ok]
    lv = float(np.mean(e**2))
    alpha, beta = _slope(x, y, lv)
    has_err = np.isfinite(pe) & (pe > 0)
    err_scale = (_err_scale((x - alpha - beta * y)[has_err], pe[has_err], beta * e[has_err])
                 if has_err.sum() >= 30 else 1.0)
    rng = np.random.default_rng(seed)
    boot = np.array([_slope(x[i], y[i], lv) for i in rng.integers(0, n, size=(n_bootstrap, n))])
    c = np.cov(boot.T)
    sigma_sys, n_bins = 0.0, 0
    if groups is not None and groups.shape[1]:
        g = groups[ok].reset_index(drop=True)
        keys = pd.DataFrame({col: pd.qcut(g[col].rank(method="first"), n_per_axis, labels=False) for col in g})
        r = pd.Series(x - (alpha + beta * y))
        stats = r.groupby([keys[col] for col in keys]).agg(["mean", "var", "count"])
        stats = stats[stats["count"] >= min_bin]
        n_bins = int(len(stats))
        if n_bins >= 3:
            se2 = stats["var"] / stats["count"]
            excess = float(np.var(stats["mean"], ddof=1) - se2.mean())
            sigma_sys = float(np.sqrt(max(excess, 0.0)))
    cal = FehCalibration(alpha=alpha, beta=beta, cov=(float(c[0, 0]), float(c[1, 1]), float(c[0, 1])),
                         sigma_sys=sigma_sys, n=n, n_bins=n_bins, err_scale=err_scale)
    log.info("[Fe/H] calibration on %d held-out stars: pred = %.3f + %.3f feh, sigma_sys %.3f dex (%d bins), "
             "per-star errors x %.2f", n, cal.alpha, cal.beta, cal.sigma_sys, n_bins, cal.err_scale)
    return cal


def calibration_from_sample(
    sample: pd.DataFrame,
    predictions: pd.DataFrame,
    splits=("val", "test"),
    group_by=("teff", "logg", "feh"),
    n_per_axis: int = 3,
    min_bin: int = 30,
    seed: int | np.random.Generator = 0,
) -> FehCalibration:
    """:func:`fit_calibration` on the held-out rows of a labelled sample.

    Parameters
    ----------
    sample : DataFrame
        The labelled sample (``source_id``, ``feh``, optional ``feh_err``, ``split``).
    predictions : DataFrame
        Per-star predictions (``source_id``, ``feh``).
    splits : sequence of str
        Rows of ``sample`` used (held out from the model fit).
    group_by : sequence of str
        Label columns of the held-out stars (spectroscopic ``teff``, ``logg``, ``feh``) whose quantile
        bins give ``sigma_sys``. Bins of the *predicted* values would select on the prediction noise
        that the residuals hold, and find a systematic where there is none.

    Raises
    ------
    InputError
        ``sample`` lacks ``source_id``/``feh``/``split``, or too few held-out stars have predictions.
    """
    missing = [c for c in ("source_id", "feh", "split") if c not in sample]
    if missing:
        raise InputError(f"labelled sample lacks column(s) {missing} needed for the [Fe/H] calibration")
    held = sample[sample["split"].isin(list(splits))]
    by = [c for c in (group_by or ()) if c in held]
    lab = held[["source_id", "feh", *(["feh_err"] if "feh_err" in held else []), *[c for c in by if c != "feh"]]]
    lab = lab.rename(columns={"feh": "label", "feh_err": "label_err", **{c: f"{c}_label" for c in by if c != "feh"}})
    pcols = ["source_id", "feh", *(["feh_err"] if "feh_err" in predictions else [])]
    df = lab.merge(predictions[pcols].drop_duplicates("source_id"), on="source_id", how="inner")
    log.info("[Fe/H] calibration: %d of %d held-out labelled stars (splits %s) have predictions",
             len(df), len(held), ",".join(splits))
    groups = df[["label" if c == "feh" else f"{c}_label" for c in by]] if by else None
    return fit_calibration(df["feh"], df["label"], df.get("label_err"), groups=groups, n_per_axis=n_per_axis,
                           min_bin=min_bin, seed=seed, pred_err=df.get("feh_err"))
