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

A straight line does not hold far from the bulk of the training labels (real metal-poor stars:
:mod:`ocfeh.clusters.response`). With ``response="binned"`` the response is a monotone broken line
through knots in [Fe/H], its bootstrap covariance in the systematic; ``alpha`` and ``beta`` are still
measured and reported.

Only held-out rows may be used: the fit rows of the model are over-fitted.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, replace

import numpy as np
import pandas as pd

from ..exceptions import InputError
from .response import expected_true_labels, fit_response, hat_basis, response_knots

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
        the predictions about the response, the error the cluster model needs.
    knots, values : tuple of float
        A binned response: ``E[pred | feh]`` is the broken line through ``(knots, values)``, continued
        straight beyond the end knots. Empty: the straight line ``alpha + beta * feh``.
    values_cov : tuple of tuple of float
        Bootstrap covariance of ``values``.
    """

    alpha: float = 0.0
    beta: float = 1.0
    cov: tuple[float, float, float] = (0.0, 0.0, 0.0)
    sigma_sys: float = 0.0
    n: int = 0
    n_bins: int = 0
    err_scale: float = 1.0
    knots: tuple[float, ...] = ()
    values: tuple[float, ...] = ()
    values_cov: tuple[tuple[float, ...], ...] = ()

    @property
    def kind(self) -> str:
        """``"binned"`` (a broken line) or ``"linear"``."""
        return "binned" if len(self.knots) >= 2 else "linear"

    def response(self, mu) -> np.ndarray:
        """``E[pred | feh = mu]`` (dex)."""
        mu = np.asarray(mu, dtype=float)
        if self.kind == "linear":
            return self.alpha + self.beta * mu
        return hat_basis(mu, self.knots) @ np.asarray(self.values)

    def slope(self, mu) -> np.ndarray:
        """``d E[pred | feh] / d feh`` at ``mu``."""
        mu = np.asarray(mu, dtype=float)
        if self.kind == "linear":
            return np.full(mu.shape, self.beta)
        k, v = np.asarray(self.knots), np.asarray(self.values)
        s = np.diff(v) / np.diff(k)
        return s[np.clip(np.searchsorted(k, mu, side="right") - 1, 0, s.size - 1)]

    def invert(self, pred) -> np.ndarray:
        """The [Fe/H] whose expected prediction is ``pred`` (dex)."""
        x = np.asarray(pred, dtype=float)
        if self.kind == "linear":
            return (x - self.alpha) / self.beta
        k, v = np.asarray(self.knots), np.asarray(self.values)
        s = np.diff(v) / np.diff(k)
        out = np.interp(x, v, k)
        return np.where(x < v[0], k[0] + (x - v[0]) / s[0], np.where(x > v[-1], k[-1] + (x - v[-1]) / s[-1], out))

    def correct_median(self, median: float, err: float) -> tuple[float, float]:
        """A median of members' predictions and its error (dex) as a cluster [Fe/H]: the response inverted
        at the median; the error with the systematic added, both divided by the local slope."""
        m = float(self.invert(median))
        return m, float(np.hypot(err, self.systematic(m)) / self.slope(m))

    def systematic(self, mu) -> np.ndarray:
        """Total systematic error of the cluster mean in *prediction* units at true [Fe/H] ``mu`` (dex).

        ``sigma_sys`` and the propagated uncertainty of the response at ``mu`` in quadrature.
        """
        mu = np.asarray(mu, dtype=float)
        if self.kind == "linear":
            va, vb, cab = self.cov
            var = self.sigma_sys**2 + va + mu**2 * vb + 2 * mu * cab
        else:
            b = hat_basis(mu, self.knots)
            var = self.sigma_sys**2 + np.einsum("...i,ij,...j->...", b, np.asarray(self.values_cov), b)
        return np.sqrt(np.maximum(var, 0.0))

    def to_dict(self) -> dict:
        """A JSON-friendly dict."""
        d = asdict(self)
        d.update(cov=list(self.cov), knots=list(self.knots), values=list(self.values),
                 values_cov=[list(r) for r in self.values_cov], kind=self.kind)
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
    response: str = "linear",
    knot_step: float = 0.25,
    min_stars: int = 50,
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
    response : {"linear", "binned"}, default="linear"
        The response's form: a straight line, or a monotone broken line with knots every ``knot_step``
        dex and at least ``min_stars`` stars between knots (:mod:`ocfeh.clusters.response`). Too few
        stars for two knots: the straight line, with a warning.

    Returns
    -------
    FehCalibration

    Raises
    ------
    InputError
        Fewer than 30 usable stars, inputs of different length, or an unknown ``response``.
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
    if response not in ("linear", "binned"):
        raise InputError(f"response must be 'linear' or 'binned', got {response!r}")
    x, y, e, pe = x[ok], y[ok], e[ok], pe[ok]
    lv = float(np.mean(e**2))
    alpha, beta = _slope(x, y, lv)
    rng = np.random.default_rng(seed)
    resamples = rng.integers(0, n, size=(n_bootstrap, n))
    boot = np.array([_slope(x[i], y[i], lv) for i in resamples])
    c = np.cov(boot.T)
    cal = FehCalibration(alpha=alpha, beta=beta, cov=(float(c[0, 0]), float(c[1, 1]), float(c[0, 1])), n=n)
    t = y  # where each star's residual is taken
    if response == "binned":
        t = expected_true_labels(y, e)
        knots = response_knots(t, knot_step, min_stars)
        if knots.size >= 2:
            values = fit_response(x, t, knots)
            vb = np.array([fit_response(x[i], t[i], knots) for i in resamples])
            cal = replace(cal, knots=tuple(map(float, knots)), values=tuple(map(float, values)),
                          values_cov=tuple(tuple(map(float, r)) for r in np.atleast_2d(np.cov(vb.T))))
        else:
            log.warning("[Fe/H] calibration: %d held-out stars are too few for a binned response (%d between "
                        "knots); the straight line is used", n, min_stars)
            t = y
    resid = x - cal.response(t)
    has_err = np.isfinite(pe) & (pe > 0)
    err_scale = (_err_scale(resid[has_err], pe[has_err], (cal.slope(t) * e)[has_err])
                 if has_err.sum() >= 30 else 1.0)
    sigma_sys, n_bins = 0.0, 0
    if groups is not None and groups.shape[1]:
        g = groups[ok].reset_index(drop=True)
        keys = pd.DataFrame({col: pd.qcut(g[col].rank(method="first"), n_per_axis, labels=False) for col in g})
        r = pd.Series(resid)
        stats = r.groupby([keys[col] for col in keys]).agg(["mean", "var", "count"])
        stats = stats[stats["count"] >= min_bin]
        n_bins = int(len(stats))
        if n_bins >= 3:
            se2 = stats["var"] / stats["count"]
            excess = float(np.var(stats["mean"], ddof=1) - se2.mean())
            sigma_sys = float(np.sqrt(max(excess, 0.0)))
    cal = replace(cal, sigma_sys=sigma_sys, n_bins=n_bins, err_scale=err_scale)
    shape = ""
    if cal.kind == "binned":
        slopes = cal.slope(np.asarray(cal.knots[:-1]))
        shape = f" (binned: {len(cal.knots)} knots, slopes {slopes.min():.2f}-{slopes.max():.2f})"
    log.info("[Fe/H] calibration on %d held-out stars: pred = %.3f + %.3f feh%s, sigma_sys %.3f dex (%d bins), "
             "per-star errors x %.2f", n, cal.alpha, cal.beta, shape, cal.sigma_sys, n_bins, cal.err_scale)
    return cal


def calibration_from_sample(
    sample: pd.DataFrame,
    predictions: pd.DataFrame,
    splits=("val", "test"),
    group_by=("teff", "logg", "feh"),
    n_per_axis: int = 3,
    min_bin: int = 30,
    seed: int | np.random.Generator = 0,
    response: str = "linear",
    knot_step: float = 0.25,
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
    response, knot_step
        The response's form and knot spacing (dex), as in :func:`fit_calibration`.

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
                           min_bin=min_bin, seed=seed, pred_err=df.get("feh_err"), response=response,
                           knot_step=knot_step)
