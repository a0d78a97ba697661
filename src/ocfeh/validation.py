"""Validation on independent labels: cross-survey offsets and label-scale calibration.

Cross-survey validation (:func:`cross_survey`): a regressor learns the labels of one survey (for
example LAMOST) and predicts stars labelled by another (APOGEE, GALAH). The median of
``prediction - label`` is the *offset* between the scales, ``1.4826 MAD`` the *robust scatter*; both
are reported per label and per region of the HR diagram (dwarfs/giants x Teff bins, from the test
survey's own labels), beside a *control*: a seeded held-out share of the training survey, predicted
the same way. An offset on the other survey that the control does not show is a scale difference
(or a population difference: read it per region).

Label-scale calibration (:func:`fit_label_scale`): a low-order polynomial ``y = sum_k c_k (x -
x0)^k [+ c_t (teff - 5000 K)/1000 K]`` from one scale (``x``) to another (``y``), with
bootstrap errors on the coefficients. Two routes, named in the result:

- ``overlap``: stars that carry both labels (a cross-match of two surveys, or the mock sky's labels
  against its truth). With per-star label errors on both sides and degree 1 the fit is a Deming
  regression (errors in both variables; ordinary least squares would flatten the slope by
  ``var(x_true) / var(x)``); otherwise ordinary least squares.
- ``predictions``: no star has both labels (``shared/data/lamost_gaia_wise`` gives one
  ``atm_source`` per star). A model trained on the source scale predicts the stars labelled on the
  target scale, and ``y_target = f(prediction)`` is fitted. The map then also absorbs the model's own
  shrinkage toward its training mean, so it belongs to that model and must be refitted with it.
  Which fit depends on the use. Least squares gives E[y | prediction], right for one star but it
  compresses averages (per-star prediction noise of ~0.2 dex against a label spread of ~0.3 dex halves
  the slope). For cluster [Fe/H], a mean over members in which that noise averages out, pass
  ``x_err`` (the model's per-star scatter) and ``y_err`` (the target labels' errors): the Deming line
  is the structural relation, close to inverting E[prediction | y] when the labels are precise.

:func:`apply_label_scale` puts cluster [Fe/H] values (or any label column) on the target scale with
propagated errors; :func:`cluster_offsets` compares cluster values with a reference.

>>> import numpy as np
>>> rng = np.random.default_rng(1)
>>> x = rng.normal(-0.3, 0.3, 2000)
>>> m = fit_label_scale(x, 1.1 * x + 0.05, degree=1, n_boot=20, seed=0)
>>> [round(float(c), 3) for c in m.polynomial()]
[0.05, 1.1]

References
----------
Deming 1943, *Statistical Adjustment of Data*; Cornbleet & Gochman 1979, Clin. Chem. 25, 432
(Deming regression); Green et al. 2021, ApJ 907, 57 (LAMOST/APOGEE/GALAH x Gaia x PS1 x 2MASS x
unWISE); Green et al. 2019, ApJ 887, 93 (Bayestar19 extinction coefficients).
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from itertools import combinations, pairwise
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from .exceptions import InputError, OcfehWarning
from .schema import LABELS

__all__ = [
    "GREEN2020_BANDS",
    "MAD_TO_SIGMA",
    "TEFF_EDGES",
    "CrossSurveyResult",
    "LabelScaleMapping",
    "apply_label_scale",
    "cluster_offsets",
    "colour_features",
    "cross_survey",
    "fit_label_scale",
    "hr_regions",
    "offset_stats",
    "offset_table",
    "read_green2020",
]

log = logging.getLogger(__name__)

MAD_TO_SIGMA = 1.4826
"""Robust scatter = 1.4826 x median absolute deviation (equals sigma for a Gaussian)."""

TEFF_EDGES = (4500.0, 5500.0)
"""Default Teff bin edges [K] of the HR-diagram regions: <4500, 4500-5500, >=5500."""


# ------------------------------------------------------------------------------------- statistics
def hr_regions(teff, logg, giant_logg: float = 3.5, teff_edges: Sequence[float] = TEFF_EDGES) -> np.ndarray:
    """HR-diagram region of each star: ``"giant|dwarf/<Teff bin>"``.

    Parameters
    ----------
    teff : array, K
    logg : array, dex
    giant_logg : float, default=3.5
        Stars with ``logg < giant_logg`` are giants.
    teff_edges : sequence of float, K
        Inner edges of the Teff bins.

    Returns
    -------
    (n,) object array
        E.g. ``"giant/4500-5500"``; ``"unknown"`` where teff or logg is NaN.

    Examples
    --------
    >>> hr_regions([4000.0, 6000.0], [2.0, 4.4]).tolist()
    ['giant/<4500', 'dwarf/>=5500']
    """
    teff = np.asarray(teff, dtype=float)
    logg = np.asarray(logg, dtype=float)
    edges = [float(e) for e in teff_edges]
    names = [f"<{edges[0]:.0f}"] + [f"{a:.0f}-{b:.0f}" for a, b in pairwise(edges)] + [f">={edges[-1]:.0f}"]
    k = np.searchsorted(edges, teff, side="right")
    kind = np.where(logg < giant_logg, "giant", "dwarf")
    out = np.array([f"{kind[i]}/{names[k[i]]}" for i in range(teff.size)], dtype=object)
    out[~(np.isfinite(teff) & np.isfinite(logg))] = "unknown"
    return out


def offset_stats(reference, predicted) -> dict[str, float]:
    """Offset (median of predicted - reference), its error, robust scatter, MAE, mean bias and n.

    ``offset_err`` = 1.2533 x scatter / sqrt(n) (the standard error of a Gaussian median).
    """
    r = np.asarray(predicted, dtype=float) - np.asarray(reference, dtype=float)
    r = r[np.isfinite(r)]
    n = int(r.size)
    if n == 0:
        return {"n": 0, "offset": np.nan, "offset_err": np.nan, "scatter": np.nan, "mae": np.nan, "bias": np.nan}
    med = float(np.median(r))
    scatter = float(MAD_TO_SIGMA * np.median(np.abs(r - med)))
    return {"n": n, "offset": med, "offset_err": float(1.2533 * scatter / np.sqrt(n)), "scatter": scatter,
            "mae": float(np.mean(np.abs(r))), "bias": float(np.mean(r))}


def offset_table(reference: pd.DataFrame, predicted: pd.DataFrame, targets: Sequence[str] = LABELS,
                 regions: np.ndarray | None = None, min_n: int = 5) -> pd.DataFrame:
    """Offsets and scatter per label, overall (``region="all"``) and per region.

    Parameters
    ----------
    reference, predicted : DataFrame
        Labels and predictions of the same stars (same length, columns ``targets``).
    regions : (n,) array of str, optional
        Region of each star (e.g. :func:`hr_regions` of the reference labels).
    min_n : int, default=5
        Regions with fewer stars are left out.

    Returns
    -------
    DataFrame
        ``label, region, n, offset, offset_err, scatter, mae, bias`` (label units: K, dex, dex).
    """
    if len(reference) != len(predicted):
        raise InputError(f"reference has {len(reference)} rows but predicted has {len(predicted)}")
    rows = []
    for t in targets:
        if t not in reference or t not in predicted:
            continue
        ref, pred = reference[t].to_numpy(float), predicted[t].to_numpy(float)
        rows.append({"label": t, "region": "all", **offset_stats(ref, pred)})
        if regions is not None:
            regions = np.asarray(regions, dtype=object)
            for reg in sorted(set(regions.tolist())):
                sel = regions == reg
                st = offset_stats(ref[sel], pred[sel])
                if st["n"] >= min_n:
                    rows.append({"label": t, "region": reg, **st})
    return pd.DataFrame(rows, columns=["label", "region", "n", "offset", "offset_err", "scatter", "mae", "bias"])


# ----------------------------------------------------------------------------------- cross-survey
class CrossSurveyResult(NamedTuple):
    """What :func:`cross_survey` returns.

    Attributes
    ----------
    offsets : DataFrame
        ``train_set, test_set, label, region, n, offset, offset_err, scatter, mae, bias``; the
        control test set is named ``"<train source> (held out)"``.
    predictions : DataFrame
        One row per predicted star: ``test_set``, ``region``, the labels ``<t>`` and ``<t>_pred``
        (index of the input table).
    models : dict of target -> fitted peer
    """

    offsets: pd.DataFrame
    predictions: pd.DataFrame
    models: dict


def cross_survey(table: pd.DataFrame, features: pd.DataFrame, train_source: str = "lamost",
                 test_sources: Sequence[str] | None = None, source_col: str = "label_source",
                 targets: Sequence[str] = LABELS, peer: str = "lightgbm", control_fraction: float = 0.2,
                 giant_logg: float = 3.5, teff_edges: Sequence[float] = TEFF_EDGES, seed: int = 42,
                 n_jobs: int = 2, **peer_params: Any) -> CrossSurveyResult:
    """Train on one survey's labels, predict the others', report offsets and scatter.

    Parameters
    ----------
    table : DataFrame
        Stars with labels ``targets`` and the survey of the labels in ``source_col``.
    features : DataFrame
        Features of the same rows (same index), e.g. :func:`colour_features` or
        :func:`ocfeh.features.make_features`.
    train_source : str, default="lamost"
        Value of ``source_col`` whose labels train the regressor.
    test_sources : sequence of str, optional
        Surveys to predict (default: every other value of ``source_col``).
    peer : str, default="lightgbm"
        A regressor of :data:`ocfeh.peers.PEERS`.
    control_fraction : float, default=0.2
        Seeded share of the training survey kept out of training and predicted as the control.
    giant_logg, teff_edges
        HR-diagram regions (:func:`hr_regions`, from each test star's own labels).
    seed, n_jobs : int
    **peer_params
        Hyper-parameters of the peer.

    Returns
    -------
    CrossSurveyResult
    """
    from .peers import get_peer

    if source_col not in table:
        raise InputError(f"the table ({len(table)} rows) has no label-source column {source_col!r}")
    if not features.index.equals(table.index):
        raise InputError(f"features ({len(features)} rows) and table ({len(table)} rows) must share one index")
    if not 0 < control_fraction < 1:
        raise InputError(f"The 'control_fraction' parameter must be in (0, 1). Got {control_fraction} instead.")
    src = table[source_col].astype(str).to_numpy()
    present = sorted(set(src.tolist()))
    if train_source not in present:
        raise InputError(f"no rows with {source_col} == {train_source!r}; values present: {present}")
    tests = [s for s in present if s != train_source] if test_sources is None else list(test_sources)
    absent = [s for s in tests if s not in present]
    if absent:
        raise InputError(f"test sources {absent} absent from {source_col}; values present: {present}")
    rng = np.random.default_rng(seed)
    train_idx = np.flatnonzero(src == train_source)
    control = np.zeros(len(table), dtype=bool)
    control[rng.choice(train_idx, size=max(1, round(control_fraction * train_idx.size)), replace=False)] = True
    fit_rows = (src == train_source) & ~control
    control_name = f"{train_source} (held out)"
    sets = [(control_name, control)] + [(s, src == s) for s in tests]
    models, offsets, preds = {}, [], []
    for t in targets:
        if t not in table:
            raise InputError(f"the table has no label column {t!r}")
        models[t] = get_peer(peer, seed=seed, n_jobs=n_jobs, **peer_params).fit(
            features.loc[fit_rows], table.loc[fit_rows, t].to_numpy(float))
        log.info("cross-survey %s: %s trained on %d %s stars", t, peer, models[t].n_train_, train_source)
    for name, sel in sets:
        sub = table.loc[sel]
        pred = pd.DataFrame({t: models[t].predict(features.loc[sel]) for t in targets}, index=sub.index)
        reg = hr_regions(sub["teff"], sub["logg"], giant_logg, teff_edges) if {"teff", "logg"} <= set(sub) \
            else np.full(len(sub), "unknown", dtype=object)
        tab = offset_table(sub, pred, targets, reg)
        tab.insert(0, "test_set", name)
        tab.insert(0, "train_set", train_source)
        offsets.append(tab)
        out = pd.DataFrame({"test_set": name, "region": reg}, index=sub.index)
        for t in targets:
            out[t] = sub[t].to_numpy(float)
            out[f"{t}_pred"] = pred[t].to_numpy()
        preds.append(out)
    return CrossSurveyResult(pd.concat(offsets, ignore_index=True), pd.concat(preds), models)


# ------------------------------------------------------------------------------ label-scale maps
@dataclass
class LabelScaleMapping:
    """A fitted map from one label scale to another: ``y = sum_k coef[k] (x - x0)^k + coef_teff (teff - 5000)/1000``.

    Attributes
    ----------
    label : str
        The label mapped (``feh``, dex).
    source, target : str
        Names of the scales (``"lamost"`` -> ``"apogee"``).
    route : {"overlap", "predictions"}
        Fitted on stars with both labels, or on model predictions (see the module docstring).
    method : {"deming", "ols"}
    degree : int
    x0 : float
        Pivot of the polynomial (median of ``x``), label units.
    coef, coef_err : list of float
        Coefficients in increasing power of ``x - x0`` and their bootstrap standard deviations.
    coef_teff, coef_teff_err : float or None
        Linear Teff term per 1000 K (None without the Teff covariate).
    x_range : (float, float)
        1st-99th percentile of the fitted ``x``: values outside are extrapolated (warned).
    n, n_clipped : int
        Stars fitted, and stars rejected by the sigma clipping.
    residual_scatter : float
        Robust scatter of ``y - mapping(x)``.
    boot : list of list of float
        Bootstrap coefficient vectors (``coef`` then ``coef_teff``), for propagated errors.
    """

    label: str
    source: str
    target: str
    route: str
    method: str
    degree: int
    x0: float
    coef: list[float]
    coef_err: list[float]
    coef_teff: float | None
    coef_teff_err: float | None
    x_range: tuple[float, float]
    n: int
    n_clipped: int
    residual_scatter: float
    boot: list[list[float]] = field(default_factory=list, repr=False)

    def _design(self, x: np.ndarray, teff: np.ndarray | None) -> np.ndarray:
        cols = [(x - self.x0) ** k for k in range(self.degree + 1)]
        if self.coef_teff is not None:
            if teff is None:
                raise InputError(f"this {self.label} mapping has a Teff term: pass teff (K)")
            cols.append((np.asarray(teff, dtype=float) - 5000.0) / 1000.0)
        return np.column_stack(cols)

    def _vector(self) -> np.ndarray:
        return np.array(self.coef + ([self.coef_teff] if self.coef_teff is not None else []))

    def apply(self, values, teff=None, return_err: bool = False):
        """Values on the target scale (same shape as ``values``); optionally the mapping's own error.

        Parameters
        ----------
        values : array_like
            Values on the source scale (label units).
        teff : array_like, optional
            Teff [K] of each value (needed when the mapping has a Teff term).
        return_err : bool, default=False
            Also return the standard deviation of the mapped values over the bootstrap fits.
        """
        x = np.asarray(values, dtype=float)
        shape = x.shape
        x = x.ravel()
        lo, hi = self.x_range
        n_out = int(np.sum((x < lo) | (x > hi)))
        if n_out:
            warnings.warn(f"{n_out} of {x.size} {self.label} values lie outside the fitted range "
                          f"[{lo:.3g}, {hi:.3g}] of the {self.source}->{self.target} mapping: extrapolated",
                          OcfehWarning, stacklevel=2)
        t = None if teff is None else np.broadcast_to(np.asarray(teff, dtype=float).ravel(), x.shape)
        A = self._design(x, t)
        y = (A @ self._vector()).reshape(shape)
        if not return_err:
            return y
        if not self.boot:
            return y, np.full(shape, np.nan)
        err = np.std(A @ np.asarray(self.boot).T, axis=1, ddof=1).reshape(shape)
        return y, err

    def polynomial(self) -> np.ndarray:
        """Coefficients in increasing powers of ``x`` itself (not ``x - x0``), Teff term excluded."""
        from numpy.polynomial import polynomial as P

        out = np.zeros(self.degree + 1)
        for k, c in enumerate(self.coef):
            out[: k + 1] += c * P.polypow([-self.x0, 1.0], k)[: k + 1]
        return out

    def offset_at(self, x, teff=None) -> np.ndarray:
        """``mapping(x) - x``: the scale offset at ``x`` (label units)."""
        return self.apply(x, teff) - np.asarray(x, dtype=float)

    def to_dict(self) -> dict:
        """JSON-able record (bootstrap vectors left out)."""
        d = asdict(self)
        d.pop("boot")
        d["polynomial_in_x"] = self.polynomial().tolist()
        return d


def _deming(x: np.ndarray, y: np.ndarray, delta: float) -> tuple[float, float]:
    """Deming line through (x, y) with error-variance ratio delta = var(y err) / var(x err): (intercept, slope)."""
    mx, my = x.mean(), y.mean()
    sxx, syy = np.mean((x - mx) ** 2), np.mean((y - my) ** 2)
    sxy = np.mean((x - mx) * (y - my))
    if sxy == 0:
        return float(my), 0.0
    slope = (syy - delta * sxx + np.sqrt((syy - delta * sxx) ** 2 + 4.0 * delta * sxy**2)) / (2.0 * sxy)
    return float(my - slope * mx), float(slope)


def _fit_once(x, y, t, degree, method, delta, x0, clip_sigma, n_iter=3):
    keep = np.ones(x.size, dtype=bool)
    coef = None
    for _ in range(n_iter + 1):
        if method == "deming":
            a, b = _deming(x[keep] - x0, y[keep], delta)
            coef = np.array([a, b])
            model = coef[0] + coef[1] * (x - x0)
        else:
            cols = [(x - x0) ** k for k in range(degree + 1)] + ([t] if t is not None else [])
            A = np.column_stack(cols)
            coef, *_ = np.linalg.lstsq(A[keep], y[keep], rcond=None)
            model = A @ coef
        r = y - model
        med = np.median(r[keep])
        s = MAD_TO_SIGMA * np.median(np.abs(r[keep] - med))
        if not clip_sigma or s == 0:
            break
        new = np.abs(r - med) < clip_sigma * s
        if np.array_equal(new, keep):
            break
        keep = new
    return coef, keep, r


def fit_label_scale(x, y, degree: int = 1, x_err=None, y_err=None, teff=None, method: str = "auto",
                    route: str = "overlap", label: str = "feh", source: str = "source", target: str = "target",
                    clip_sigma: float | None = 4.0, n_boot: int = 200, seed: int = 0) -> LabelScaleMapping:
    """Fit a low-order polynomial map from scale ``x`` to scale ``y``, with bootstrap errors.

    Parameters
    ----------
    x, y : array_like
        The same stars on the source and the target scale (route ``overlap``), or model predictions on
        the source scale and labels on the target scale (route ``predictions``); label units.
    degree : int, default=1
        Polynomial degree in ``x`` (0-3).
    x_err, y_err : array_like or float, optional
        Per-star label errors; with both given, ``degree=1`` and no Teff term, ``method="auto"``
        chooses Deming regression with delta = mean(y_err^2) / mean(x_err^2).
    teff : array_like, optional
        Teff [K]: adds a linear term in (Teff - 5000 K) / 1000 K (least squares only).
    method : {"auto", "deming", "ols"}
    route : {"overlap", "predictions"}
        Recorded in the result (see the module docstring for when each applies).
    label, source, target : str
        Names recorded in the result.
    clip_sigma : float or None, default=4.0
        Iterative rejection of residuals beyond this many robust sigmas (None = no clipping).
    n_boot : int, default=200
        Bootstrap resamples for the coefficient errors (each redoes the clipped fit).
    seed : int

    Returns
    -------
    LabelScaleMapping
    """
    x = np.asarray(x, dtype=float).ravel()
    y = np.asarray(y, dtype=float).ravel()
    if x.size != y.size:
        raise InputError(f"x has {x.size} values but y has {y.size}")
    if not 0 <= degree <= 3:
        raise InputError(f"The 'degree' parameter must be in 0..3. Got {degree} instead.")
    if route not in ("overlap", "predictions"):
        raise InputError(f"The 'route' parameter must be 'overlap' or 'predictions'. Got {route!r} instead.")
    t = None if teff is None else (np.asarray(teff, dtype=float).ravel() - 5000.0) / 1000.0
    ok = np.isfinite(x) & np.isfinite(y) & (np.isfinite(t) if t is not None else True)
    xe = ye = None
    if x_err is not None and y_err is not None:
        xe = np.broadcast_to(np.asarray(x_err, dtype=float), x.shape).ravel()
        ye = np.broadcast_to(np.asarray(y_err, dtype=float), y.shape).ravel()
        ok &= np.isfinite(xe) & np.isfinite(ye)
    n_bad = int((~ok).sum())
    if n_bad:
        log.info("label-scale fit: %d of %d stars without finite values dropped", n_bad, x.size)
    x, y = x[ok], y[ok]
    t = t[ok] if t is not None else None
    min_n = 3 * (degree + 2)
    if x.size < min_n:
        raise InputError(f"a degree-{degree} label-scale fit needs at least {min_n} stars with both values; got {x.size}")
    if method == "auto":
        method = "deming" if (xe is not None and degree == 1 and t is None) else "ols"
    if method not in ("deming", "ols"):
        raise InputError(f"The 'method' parameter must be 'auto', 'deming' or 'ols'. Got {method!r} instead.")
    delta = 1.0
    if method == "deming":
        if degree != 1 or t is not None:
            raise InputError("Deming regression fits a straight line only: use degree=1 and no teff")
        if xe is None:
            raise InputError("Deming regression needs x_err and y_err (per-star label errors)")
        delta = float(np.mean(ye[ok] ** 2) / max(np.mean(xe[ok] ** 2), 1e-30))
    x0 = float(np.median(x))
    coef, keep, r = _fit_once(x, y, t, degree, method, delta, x0, clip_sigma)
    rng = np.random.default_rng(seed)
    boots = []
    for _ in range(int(n_boot)):
        i = rng.integers(0, x.size, x.size)
        c, *_ = _fit_once(x[i], y[i], t[i] if t is not None else None, degree, method, delta, x0, clip_sigma)
        boots.append(np.asarray(c, dtype=float))
    err = np.std(np.asarray(boots), axis=0, ddof=1) if len(boots) > 1 else np.full(len(coef), np.nan)
    n_poly = degree + 1
    rk = r[keep]
    return LabelScaleMapping(
        label=label, source=source, target=target, route=route, method=method, degree=degree, x0=x0,
        coef=[float(c) for c in coef[:n_poly]], coef_err=[float(e) for e in err[:n_poly]],
        coef_teff=float(coef[n_poly]) if t is not None else None,
        coef_teff_err=float(err[n_poly]) if t is not None else None,
        x_range=(float(np.quantile(x, 0.01)), float(np.quantile(x, 0.99))), n=int(x.size),
        n_clipped=int((~keep).sum()),
        residual_scatter=float(MAD_TO_SIGMA * np.median(np.abs(rk - np.median(rk)))),
        boot=[b.tolist() for b in boots],
    )


def apply_label_scale(frame: pd.DataFrame, mapping: LabelScaleMapping, column: str | None = None,
                      err_column: str | None = None, teff_column: str | None = None) -> pd.DataFrame:
    """A copy of ``frame`` with ``column`` put on the mapping's target scale.

    Adds ``<column>_<target>`` and ``<column>_<target>_err`` = sqrt((slope x err)^2 + mapping error^2),
    where slope is the local derivative of the map and the mapping error is the bootstrap spread;
    records the mapping in ``attrs["label_scale"]``. Typical use: cluster [Fe/H] from
    :mod:`ocfeh.clusters` (``feh``, ``feh_err``) onto the APOGEE scale.
    """
    column = column or mapping.label
    if column not in frame:
        raise InputError(f"the table ({len(frame)} rows) has no column {column!r} to map; columns: {list(frame)[:15]}")
    x = frame[column].to_numpy(float)
    teff = frame[teff_column].to_numpy(float) if teff_column else None
    y, e_map = mapping.apply(x, teff, return_err=True)
    h = 1e-3
    slope = (mapping.apply(x + h, teff) - mapping.apply(x - h, teff)) / (2 * h)
    e_in = frame[err_column].to_numpy(float) if err_column and err_column in frame else np.zeros(len(frame))
    out = frame.copy()
    new = f"{column}_{mapping.target}"
    out[new] = y
    out[f"{new}_err"] = np.sqrt((slope * e_in) ** 2 + np.nan_to_num(e_map) ** 2)
    out.attrs = {**frame.attrs, "label_scale": mapping.to_dict()}
    return out


def cluster_offsets(members: pd.DataFrame, value: str, reference: str, cluster_col: str = "cluster",
                    min_members: int = 3) -> pd.DataFrame:
    """Per cluster: median of ``value`` and of ``reference`` over members, their difference and n.

    Returns
    -------
    DataFrame
        ``cluster, n, value, reference, offset, offset_err`` (offset_err = 1.2533 robust scatter / sqrt n).
    """
    for c in (value, reference, cluster_col):
        if c not in members:
            raise InputError(f"the member table ({len(members)} rows) has no column {c!r}")
    rows = []
    for name, g in members.groupby(cluster_col, sort=True):
        v, r = g[value].to_numpy(float), g[reference].to_numpy(float)
        ok = np.isfinite(v) & np.isfinite(r)
        if ok.sum() < min_members:
            continue
        st = offset_stats(r[ok], v[ok])
        rows.append({"cluster": name, "n": st["n"], "value": float(np.median(v[ok])),
                     "reference": float(np.median(r[ok])), "offset": float(np.median(v[ok]) - np.median(r[ok])),
                     "offset_err": st["offset_err"]})
    return pd.DataFrame(rows, columns=["cluster", "n", "value", "reference", "offset", "offset_err"])


# ------------------------------------------------------------------------- real multi-survey table
GREEN2020_BANDS = ("G", "BP", "RP", "ps1_g", "ps1_r", "ps1_i", "ps1_z", "ps1_y", "J", "H", "Ks", "W1", "W2")
"""Bands of ``shared/data/lamost_gaia_wise`` (Gaia DR2 and 2MASS/unWISE in Vega, PS1 in AB)."""

# A_band / E for Bayestar19 reddening units E (Green et al. 2019, Table 1, R_V = 3.1)
_GREEN19_R = {"ps1_g": 3.518, "ps1_r": 2.617, "ps1_i": 1.971, "ps1_z": 1.549, "ps1_y": 1.263,
              "J": 0.7927, "H": 0.4690, "Ks": 0.3026}
_PS1_R_PIVOT_AA = 6156.0


def _green2020_ratios() -> dict[str, float]:
    """A_band / E for every band of :data:`GREEN2020_BANDS`.

    PS1 and 2MASS: Green et al. (2019). Gaia and WISE: the G23 law at the band's pivot wavelength,
    scaled so that it gives Green's PS1 r coefficient at 6156 Angstrom.
    """
    import astropy.units as u
    from dust_extinction.parameter_averages import G23

    from .bands import get_band

    law = G23(Rv=3.1)
    scale = _GREEN19_R["ps1_r"] / float(law(_PS1_R_PIVOT_AA * u.AA))
    out = dict(_GREEN19_R)
    for b in ("G", "BP", "RP", "W1", "W2"):
        out[b] = scale * float(law(get_band(b).pivot_wavelength_aa * u.AA))
    return out


def read_green2020(path: str | Path) -> pd.DataFrame:
    """The LAMOST/APOGEE/GALAH x Gaia x PS1 x 2MASS x unWISE table (Green et al. 2021) for validation.

    Labels, Gaia and unWISE (converted to Vega) come through the ``green2020`` catalogue reader; PS1
    ``mag_ps1_<g..y>`` (AB), 2MASS ``mag_J``, ``mag_H``, ``mag_Ks`` (Vega) and the Bayestar19
    reddening ``ebv_bayestar`` (Green et al. 2019 units) are added from the same rows of the file.
    """
    from .catalogs import read_catalog

    path = Path(path)
    table = read_catalog(path, "green2020")
    raw = pd.read_csv(path)
    if len(raw) != len(table):
        raise InputError(f"{path}: the reader returned {len(table)} rows but the file has {len(raw)}")
    extra = {f"mag_{b}": b for b in ("ps1_g", "ps1_r", "ps1_i", "ps1_z", "ps1_y", "J", "H", "Ks")}
    for col, native in extra.items():
        if native not in raw:
            raise InputError(f"{path} lacks the column {native!r}")
        v = raw[native].to_numpy(float)
        table[col] = np.where((v > 0) & (v < 40), v, np.nan)
    if "E_reddening" not in raw:
        raise InputError(f"{path} lacks the column 'E_reddening'")
    table["ebv_bayestar"] = raw["E_reddening"].to_numpy(float)
    table.attrs["extinction_ratios"] = _green2020_ratios()
    return table


def colour_features(table: pd.DataFrame, bands: Sequence[str], ratios: dict[str, float] | None = None,
                    reddening_col: str | None = None, parallax_snr_min: float = 5.0) -> pd.DataFrame:
    """De-reddened colours and absolute magnitudes of any magnitude columns ``mag_<band>``.

    For bands outside :data:`ocfeh.bands.BANDS` (PS1, 2MASS), where
    :func:`ocfeh.features.make_features` does not apply. ``A_b = ratios[b] x table[reddening_col]``;
    ``M_<b>`` use ``parallax`` [mas] where ``parallax / parallax_error >= parallax_snr_min`` (NaN
    elsewhere); the reddening itself is kept as a feature.
    """
    absent = [b for b in bands if f"mag_{b}" not in table]
    if absent:
        raise InputError(f"the table ({len(table)} rows) lacks magnitude columns {[f'mag_{b}' for b in absent]}")
    red = np.zeros(len(table)) if reddening_col is None else np.nan_to_num(table[reddening_col].to_numpy(float))
    mags = {b: table[f"mag_{b}"].to_numpy(float) - (ratios or {}).get(b, 0.0) * red for b in bands}
    cols: dict[str, np.ndarray] = {}
    if "parallax" in table and "parallax_error" in table:
        plx = table["parallax"].to_numpy(float)
        good = (plx > 0) & (plx / table["parallax_error"].to_numpy(float) >= parallax_snr_min)
        dm = np.full(len(table), np.nan)
        dm[good] = 5.0 * np.log10(1000.0 / plx[good] / 10.0)
        for b in bands:
            cols[f"M_{b}"] = mags[b] - dm
    for a, b in combinations(bands, 2):
        cols[f"{a}-{b}"] = mags[a] - mags[b]
    if reddening_col is not None:
        cols[reddening_col] = red
    return pd.DataFrame(cols, index=table.index)
