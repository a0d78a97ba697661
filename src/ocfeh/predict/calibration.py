"""Calibration of a trained model: conformal intervals fitted on the validation stars, the OOD score on
the training stars (the blind test is never touched), and the intervals' coverage on the blind test."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from ..exceptions import InputError, NotFittedError
from ..provenance import write_json
from ..train.ood import KNNNoveltyScore
from ..train.uncertainty import (
    ConformalIntervals,
    MondrianBins,
    UncertaintyConfig,
    coverage_metrics,
    coverage_table,
    mc_spread,
)
from .checks import row_reasons
from .model_files import save_calibration_files
from .predictor import Predictor, load_predictor, predict_frame

__all__ = ["calibrate", "calibrate_model_dir", "evaluate_coverage", "save_calibration"]

log = logging.getLogger(__name__)


# ------------------------------------------------------------------------- calibration
def _label_mask(frame: pd.DataFrame, targets: Sequence[str]) -> np.ndarray:
    ok = np.ones(len(frame), dtype=bool)
    for t in targets:
        ok &= np.isfinite(frame[t].to_numpy(dtype=np.float64))
    return ok


def calibrate(
    predictor: Predictor,
    sample: pd.DataFrame,
    config: UncertaintyConfig | None = None,
    seed: int = 0,
) -> Predictor:
    """Fit the conformal intervals on ``split == "val"`` and the OOD score on ``split == "train"``.

    The blind test (``split == "test"``) is never touched. Returns ``predictor`` with ``conformal``,
    ``bins`` and ``ood`` set.

    Parameters
    ----------
    predictor : Predictor
        Trained estimators.
    sample : DataFrame
        Canonical sample with labels ``teff``, ``logg``, ``feh`` and a ``split`` column.
    config : UncertaintyConfig, optional
    seed : int, default=0
    """
    cfg = config or UncertaintyConfig()
    if "split" not in sample:
        raise InputError(f"calibration needs a 'split' column; the sample has {list(sample.columns)[:12]}...")
    targets = predictor.targets
    missing = [t for t in targets if t not in sample]
    if missing:
        raise InputError(f"calibration needs label columns {missing}")
    required = predictor.required_columns
    usable = (row_reasons(sample, required) == "") & _label_mask(sample, targets)
    val = sample[(sample["split"] == "val").to_numpy() & usable]
    train = sample[(sample["split"] == "train").to_numpy() & usable]
    if len(val) < 100:
        in_val = (sample["split"] == "val").to_numpy()
        why = pd.Series(row_reasons(sample[in_val], required)).value_counts()
        why = why[why.index != ""]
        detail = "; ".join(f"{n} {r}" for r, n in why.head(3).items())
        hint = (' (de-reddened magnitudes without a0: [sample] extinction_source = "zero")'
                if any("a0" in r for r in why.index) else "")
        raise InputError(f"calibration needs >= 100 usable validation stars; got {len(val)} of {int(in_val.sum())}"
                         + (f": {detail}{hint}" if detail else "; the sample is too small for the run's profile"))
    bins = MondrianBins.default(cfg.giant_logg, cfg.metal_poor_feh)
    bins = MondrianBins(tuple(c for c in bins.cuts if c[0] in targets)) if bins.cuts else None
    bins = bins if bins is not None and bins.cuts else None
    # difficulty models see the model features (not the OOD ones), in float64 for stability
    base = Predictor(predictor.models, predictor.features, predictor.feature_config,
                     n_threads=predictor.n_threads, float32=predictor.float32)
    feats = base.build_features(val)
    values = base.point(val, feats)
    b = bins.assign(values) if bins is not None else None
    sigma_mc = None
    if cfg.n_draws:
        sigma_mc = mc_spread(val, base.point, cfg.n_draws, np.random.default_rng([seed, 1]))
    conformal = {}
    for i, t in enumerate(targets):
        c = ConformalIntervals(cfg.levels, cfg.difficulty_fraction, cfg.min_bin_size, seed=seed + i)
        conformal[t] = c.fit(feats[base.features[t]], val[t].to_numpy(), values[t], b,
                             None if sigma_mc is None else sigma_mc[t])
    ood_feats = [f for f in base.all_features if f.startswith("M_")] or base.all_features
    ood = KNNNoveltyScore(k=cfg.ood_k, quantile=cfg.ood_quantile, seed=seed).fit(
        base.build_features(train, ood_feats).astype(np.float64)
    )
    predictor.conformal, predictor.bins, predictor.ood = conformal, bins, ood
    predictor.meta.update({"uncertainty_config": cfg.model_dump(mode="json"), "seed": seed})
    log.info("calibrated intervals on %d validation stars; OOD score on %d training stars", len(val), len(train))
    return predictor


def save_calibration(predictor: Predictor, model_dir: str | Path) -> Path:
    """Write the calibration (conformal intervals, Mondrian bins, OOD score) beside the models of
    ``model_dir`` (text, JSON and .npz: :mod:`ocfeh.predict.model_files`) and its card ``uncertainty.json``."""
    save_calibration_files(model_dir, predictor.conformal, predictor.bins, predictor.ood)
    return write_json(Path(model_dir) / "uncertainty.json", predictor.card())


def calibrate_model_dir(
    model_dir: str | Path, sample: pd.DataFrame, config: UncertaintyConfig | None = None, seed: int = 0
) -> Path:
    """Calibrate the intervals and OOD score of a trained model directory and save them beside it.

    Reads the models of ``model_dir`` (model cards of :mod:`ocfeh.train.model`), fits on the ``val`` /
    ``train`` rows of ``sample`` (see :func:`calibrate`) and writes the calibration files and
    ``uncertainty.json`` (quantiles per bin, OOD threshold, provenance).
    """
    pred = load_predictor(model_dir)
    pred = Predictor(pred.models, pred.features, pred.feature_config,
                     n_threads=pred.n_threads, float32=pred.float32)
    calibrate(pred, sample, config, seed)
    return save_calibration(pred, model_dir)


def evaluate_coverage(
    predictor: Predictor, sample: pd.DataFrame, split: str = "test", n_draws: int = 0, seed: int = 0
) -> tuple[pd.DataFrame, dict[str, dict[str, float]]]:
    """Coverage table on the blind test: overall, per predicted-label bin and per true-label bin.

    Returns
    -------
    table : DataFrame
        See :func:`ocfeh.train.uncertainty.coverage_table`.
    metrics : dict
        ``{target: {"coverage_68", "coverage_95", "n"}}`` for metrics.json.
    """
    if predictor.conformal is None:
        raise NotFittedError("The predictor has no calibration. Call 'calibrate' on the validation stars first.")
    test = sample[(sample["split"] == split).to_numpy()] if "split" in sample else sample
    res = predict_frame(predictor, test, n_draws=n_draws, seed=seed)
    ok = (res["reason"] == "").to_numpy()
    frame = res[ok].copy()
    for t in predictor.targets:
        frame[f"{t}_true"] = test[t].to_numpy()[ok]
    binnings = {}
    if predictor.bins is not None:
        binnings["predicted"] = frame["mondrian_bin"].to_numpy()
        binnings["true"] = predictor.bins.assign({c: frame[f"{c}_true"] for c in predictor.bins.columns})
    table = coverage_table(frame, predictor.targets, "_true", binnings)
    return table, coverage_metrics(table)
