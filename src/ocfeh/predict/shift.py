"""Covariate shift between the calibration stars and a catalogue: how well the intervals will cover there.

Split-conformal intervals cover at their level when the stars predicted are exchangeable with the
validation stars they were calibrated on. A catalogue of fainter, redder or more distant stars is not.
:func:`shift_check` fits a classifier that tells the validation stars from a sample of the catalogue
(a two-sample test: its out-of-fold ROC AUC is 0.5 without shift), turns its probabilities into
density-ratio weights ``w = p / (1 - p)`` of the validation stars, and gives the coverage the intervals
are expected to have on the catalogue (the weighted coverage of the validation stars, Tibshirani et al.
2019, "Conformal prediction under covariate shift"). ``interval_scale`` holds, per label and level, the
factor that makes the weighted coverage equal the level (weighted conformal calibration): the predict
stage applies it when asked (``[predict] shift = "weighted"``).
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd

from ..train.uncertainty import LEVELS

__all__ = ["SHIFT_MODES", "shift_check", "weighted_quantile"]

log = logging.getLogger(__name__)

SHIFT_MODES = ("off", "check", "weighted")
"""``[predict] shift``: no check; the check (reported); the check and its weighted interval scale applied."""
_MAX_WEIGHT = 50.0  # density ratios beyond this are clipped (a few stars must not carry the estimate)


def weighted_quantile(values: np.ndarray, weights: np.ndarray, q: float) -> float:
    """The ``q`` quantile of ``values`` under ``weights`` (the smallest value whose weighted CDF reaches q)."""
    ok = np.isfinite(values) & np.isfinite(weights) & (weights > 0)
    v, w = values[ok], weights[ok]
    if not len(v):
        return float("nan")
    order = np.argsort(v)
    cdf = np.cumsum(w[order]) / w.sum()
    return float(v[order][min(len(v) - 1, int(np.searchsorted(cdf, q)))])


def _design(pred, table: pd.DataFrame) -> pd.DataFrame:
    feats = pred.build_features(table).astype(np.float64)
    mags = [f"mag_{b}" for b in pred.bands if f"mag_{b}" in table]  # apparent brightness sets the noise
    return pd.concat([feats.reset_index(drop=True), table[mags].reset_index(drop=True).astype(np.float64)], axis=1)


def shift_check(pred, calibration: pd.DataFrame, catalogue: pd.DataFrame, seed: int = 0) -> dict[str, Any]:
    """Two-sample test and weighted coverage of ``pred``'s intervals on ``catalogue``.

    Parameters
    ----------
    pred : Predictor
        Calibrated (its conformal intervals are what is checked).
    calibration : DataFrame
        The validation stars with labels (complete rows).
    catalogue : DataFrame
        A sample of the stars to predict (complete rows; a few thousand are enough).

    Returns
    -------
    dict
        ``auc`` (out-of-fold ROC AUC of calibration vs catalogue), ``n_calibration``, ``n_catalogue``,
        ``effective_n`` (Kish's effective number of weighted calibration stars), ``expected_coverage``
        and ``calibration_coverage`` (label -> level -> coverage), ``interval_scale`` (label -> level ->
        factor on the half-widths that brings the weighted coverage to the level).
    """
    from lightgbm import LGBMClassifier
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import cross_val_predict

    from .predictor import predict_frame

    cal = calibration.reset_index(drop=True)
    Xc, Xt = _design(pred, cal), _design(pred, catalogue)
    X = pd.concat([Xc, Xt], ignore_index=True)
    y = np.r_[np.zeros(len(Xc)), np.ones(len(Xt))]
    clf = LGBMClassifier(n_estimators=200, learning_rate=0.05, num_leaves=15, min_child_samples=20,
                         random_state=seed, n_jobs=pred.n_threads, verbose=-1)
    p = cross_val_predict(clf, X, y, cv=5, method="predict_proba")[:, 1]
    auc = float(roc_auc_score(y, p))
    pc = np.clip(p[: len(Xc)], 1e-6, 1 - 1e-6)
    w = np.minimum(pc / (1 - pc) * len(Xc) / len(Xt), _MAX_WEIGHT)
    out = predict_frame(pred, cal, min_bands=0)
    res: dict[str, Any] = {"auc": auc, "n_calibration": len(Xc), "n_catalogue": len(Xt),
                           "effective_n": float(w.sum() ** 2 / (w ** 2).sum()),
                           "expected_coverage": {}, "calibration_coverage": {}, "interval_scale": {}}
    for t in pred.targets:
        r = np.abs(out[t].to_numpy() - cal[t].to_numpy(float))
        res["expected_coverage"][t], res["calibration_coverage"][t], res["interval_scale"][t] = {}, {}, {}
        for lv in LEVELS:
            pct = f"{round(100 * lv)}"
            h = (out[f"{t}_hi{pct}"] - out[t]).to_numpy()
            inside = (r <= h).astype(float)
            ok = np.isfinite(r) & np.isfinite(h) & (h > 0)
            res["expected_coverage"][t][pct] = float(np.sum(w[ok] * inside[ok]) / np.sum(w[ok]))
            res["calibration_coverage"][t][pct] = float(inside[ok].mean())
            res["interval_scale"][t][pct] = weighted_quantile(r[ok] / h[ok], w[ok], lv)
    log.info("covariate shift: calibration vs catalogue AUC %.2f; expected 68%% coverage %s", auc,
             {t: round(v["68"], 2) for t, v in res["expected_coverage"].items()})
    if res["effective_n"] < 100:
        log.warning("the catalogue lies mostly outside the calibration stars (%.0f effectively weighted of %d): "
                    "its expected coverage and weighted intervals rest on few stars", res["effective_n"], len(Xc))
    return res
