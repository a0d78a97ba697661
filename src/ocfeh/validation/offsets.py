"""Validation on independent labels: statistics of offsets, and cross-survey validation.

Cross-survey validation (:func:`cross_survey`): a regressor learns the labels of one survey (for
example LAMOST) and predicts stars labelled by another (APOGEE, GALAH). The median of
``prediction - label`` is the *offset* between the scales, ``1.4826 MAD`` the *robust scatter*; both
are reported per label and per region of the HR diagram (dwarfs/giants x Teff bins, from the test
survey's own labels), beside a *control*: a seeded held-out share of the training survey, predicted
the same way. An offset on the other survey that the control does not show is a scale difference
(or a population difference: read it per region). :func:`cluster_offsets` compares cluster values with
a reference.

References
----------
Green et al. 2021, ApJ 907, 57 (LAMOST/APOGEE/GALAH x Gaia x PS1 x 2MASS x unWISE).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from itertools import pairwise
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from ..exceptions import InputError
from ..schema import LABELS
from .peers import get_peer

__all__ = [
    "MAD_TO_SIGMA",
    "TEFF_EDGES",
    "CrossSurveyResult",
    "cluster_offsets",
    "cross_survey",
    "hr_regions",
    "offset_stats",
    "offset_table",
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
        :func:`ocfeh.train.features.make_features`.
    train_source : str, default="lamost"
        Value of ``source_col`` whose labels train the regressor.
    test_sources : sequence of str, optional
        Surveys to predict (default: every other value of ``source_col``).
    peer : str, default="lightgbm"
        A regressor of :data:`ocfeh.validation.peers.PEERS`.
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


