"""Label-scale calibration: a low-order polynomial ``y = sum_k c_k (x - x0)^k [+ c_t (teff - 5000 K)/1000 K]``
from one label scale (``x``) to another (``y``), with bootstrap errors on the coefficients.

Two routes, named in the result:

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
propagated errors.

>>> import numpy as np
>>> rng = np.random.default_rng(1)
>>> x = rng.normal(-0.3, 0.3, 2000)
>>> m = fit_label_scale(x, 1.1 * x + 0.05, degree=1, n_boot=20, seed=0)
>>> [round(float(c), 3) for c in m.polynomial()]
[0.05, 1.1]

References
----------
Deming 1943, *Statistical Adjustment of Data*; Cornbleet & Gochman 1979, Clin. Chem. 25, 432
(Deming regression).
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd

from ..exceptions import InputError, OcfehWarning
from .offsets import MAD_TO_SIGMA

__all__ = ["LabelScaleMapping", "apply_label_scale", "fit_label_scale"]

log = logging.getLogger(__name__)


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
