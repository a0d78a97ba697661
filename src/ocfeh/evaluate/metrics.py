"""Evaluation on the blind test split: MAE, RMSE, bias, robust scatter, residuals in label bins.

>>> import numpy as np
>>> m = regression_metrics(np.array([1.0, 2.0, 3.0, 4.0]), np.array([1.1, 2.1, 2.9, 4.1]))
>>> round(m["mae"], 3), round(m["bias"], 3)
(0.1, 0.05)
"""

from __future__ import annotations

import itertools
import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd

from ..exceptions import InputError
from ..predict import evaluate_coverage, load_predictor
from ..provenance import provenance, write_json
from ..schema import LABELS
from ..train import FeatureConfig, StellarParameterModel, TargetModel, make_features
from ..train.selection import training_rows
from . import figures

__all__ = [
    "LABEL_BINS",
    "binned_residuals",
    "compare_variants",
    "evaluate_model",
    "evaluate_run",
    "regression_metrics",
    "topn_mae",
]

log = logging.getLogger(__name__)

LABEL_BINS = {
    "teff": np.arange(3000.0, 8001.0, 500.0),
    "logg": np.arange(0.0, 5.51, 0.5),
    "feh": np.arange(-2.5, 0.76, 0.25),
}
"""Default label bins (K, dex, dex) of the binned residuals."""


def regression_metrics(y_true, y_pred) -> dict[str, float]:
    """MAE, RMSE, bias (mean of pred - true), robust scatter (1.4826 MAD of the residuals) and n.

    Rows where either value is NaN are ignored (and not counted in ``n``).
    """
    y_true, y_pred = np.asarray(y_true, float), np.asarray(y_pred, float)
    ok = np.isfinite(y_true) & np.isfinite(y_pred)
    r = y_pred[ok] - y_true[ok]
    if r.size == 0:
        return {"mae": float("nan"), "rmse": float("nan"), "bias": float("nan"), "robust_scatter": float("nan"), "n": 0}
    return {
        "mae": float(np.mean(np.abs(r))),
        "rmse": float(np.sqrt(np.mean(r**2))),
        "bias": float(np.mean(r)),
        "robust_scatter": float(1.4826 * np.median(np.abs(r - np.median(r)))),
        "n": int(r.size),
    }


def binned_residuals(y_true, y_pred, bins) -> pd.DataFrame:
    """Residual statistics (pred - true) in bins of the true label: ``lo, hi, n, bias, mae, robust_scatter``."""
    y_true, y_pred = np.asarray(y_true, float), np.asarray(y_pred, float)
    rows = []
    for lo, hi in itertools.pairwise(bins):
        sel = (y_true >= lo) & (y_true < hi)
        if sel.sum() == 0:
            continue
        m = regression_metrics(y_true[sel], y_pred[sel])
        rows.append({"lo": float(lo), "hi": float(hi), "n": m["n"], "bias": m["bias"], "mae": m["mae"],
                     "robust_scatter": m["robust_scatter"]})
    return pd.DataFrame(rows, columns=["lo", "hi", "n", "bias", "mae", "robust_scatter"])


def _test_rows(table: pd.DataFrame) -> pd.DataFrame:
    if "split" not in table:
        raise InputError(f"the sample ({len(table)} rows) has no 'split' column: cannot find the blind test")
    test = table[table["split"] == "test"]
    if test.empty:
        raise InputError(f"the sample ({len(table)} rows) has no test rows (split == 'test')")
    return test


def evaluate_model(model, table: pd.DataFrame, targets=LABELS) -> tuple[dict, pd.DataFrame]:
    """Metrics of a fitted :class:`~ocfeh.train.model.StellarParameterModel` on the test rows of ``table``.

    Returns
    -------
    metrics : dict
        Per target ``mae``, ``rmse``, ``bias``, ``robust_scatter``, ``n`` against the labels; with
        ``<t>_true`` columns (mock sky) also ``mae_true`` etc.; ``binned``: residuals in label bins.
    predictions : DataFrame
        The test predictions (index of ``table``).
    """
    test = _test_rows(table)
    pred = model.predict(test)
    out: dict = {}
    for t in targets:
        if t not in pred or t not in test:
            continue
        m = regression_metrics(test[t], pred[t])
        if f"{t}_true" in test:
            m.update({f"{k}_true": v for k, v in regression_metrics(test[f"{t}_true"], pred[t]).items() if k != "n"})
        ref = test[f"{t}_true"] if f"{t}_true" in test else test[t]
        m["binned"] = binned_residuals(ref, pred[t], LABEL_BINS[t]).to_dict(orient="records")
        out[t] = m
    return out, pred


def compare_variants(variants: dict, table: pd.DataFrame) -> pd.DataFrame:
    """One table comparing models (e.g. J-PLUS only, Gaia + WISE only, all) on the same test rows.

    Parameters
    ----------
    variants : dict of name -> StellarParameterModel
    table : DataFrame
        The sample (its test rows are used).
    """
    rows = []
    for name, model in variants.items():
        metrics, _ = evaluate_model(model, table)
        for t, m in metrics.items():
            rows.append({"variant": name, "target": t, "n_features": len(model.models[t].feature_names_in_),
                         **{k: v for k, v in m.items() if k != "binned"}})
    return pd.DataFrame(rows)


def topn_mae(model, table: pd.DataFrame, target: str, ranking: list[str], grid) -> pd.DataFrame:
    """Test MAE when the target's model (same hyper-parameters) is refitted on its top-N ranked features."""
    base = model.models[target]
    fc = FeatureConfig(**(base.feature_config or {}))
    rows, test = training_rows(table), _test_rows(table)
    ftr, fte = make_features(rows, fc), make_features(test, fc)
    ranking = [f for f in ranking if f in ftr.columns]
    out = []
    for n in sorted({min(int(n), len(ranking)) for n in grid} | {len(base.feature_names_in_)}):
        feats = ranking[:n]
        m = TargetModel(target, base.backend, base.params, base.n_estimators, base.objective, seed=base.seed,
                        n_jobs=base.n_jobs).fit(ftr[feats], rows[target])
        out.append({"n_features": n, "mae": regression_metrics(test[target], m.predict(fte[feats]))["mae"]})
    return pd.DataFrame(out)


def evaluate_run(run_dir: str | Path, seed: int | None = None, config_hash: str | None = None) -> Path:
    """The ``evaluate`` stage: ``RUN_DIR/metrics.json`` and ``RUN_DIR/figures/*.png`` from the test split.

    Reads ``sample.parquet`` and ``model/`` (and ``model/variants/*/`` when present); returns the path
    of ``metrics.json``. ``seed`` (of the Monte Carlo draws, if any) and ``config_hash`` (recorded) default
    to those of the model cards.
    """
    run_dir = Path(run_dir)
    sample_path, model_dir = run_dir / "sample.parquet", run_dir / "model"
    for p in (sample_path, model_dir):
        if not p.exists():
            raise InputError(f"{p} does not exist: run the sample and train stages first")
    table = pd.read_parquet(sample_path)
    predictor = load_predictor(model_dir)  # the models once, with the intervals
    if all(isinstance(m, TargetModel) for m in predictor.models.values()):
        model = StellarParameterModel(predictor.models)
    else:
        model = StellarParameterModel.load(model_dir)
    metrics, pred = evaluate_model(model, table)
    sel = json.loads((model_dir / "selection.json").read_text()) if (model_dir / "selection.json").is_file() else {}
    figdir = run_dir / "figures"
    figdir.mkdir(exist_ok=True)
    figures.save_label_distributions(table, figdir / "label_distributions.png")
    test = table.loc[pred.index]
    for t in model.models:
        truth = test[f"{t}_true"] if f"{t}_true" in test else test[t]
        figures.save_pred_vs_true(truth, pred[t], t, figdir / f"pred_vs_true_{t}.png")
        r = sel.get("targets", {}).get(t, {})
        if r.get("rfecv_curve"):
            figures.save_rfecv(r["rfecv_curve"], t, figdir / f"rfecv_{t}.png", chosen=len(r["features"]))
        if r.get("importance"):
            figures.save_shap_importance(r["importance"], t, figdir / f"shap_importance_{t}.png")
        if r.get("stability"):
            figures.save_stability(r["stability"], t, figdir / f"stability_{t}.png")
        if r.get("ranking") and sel.get("topn_grid"):
            curve = topn_mae(model, table, t, r["ranking"], sel["topn_grid"])
            metrics[t]["topn_mae"] = curve.to_dict(orient="records")
            figures.save_topn_mae(curve, t, figdir / f"topn_mae_{t}.png")
    vdir = model_dir / "variants"
    if vdir.is_dir():
        variants = {"main": model}
        variants.update({p.name: StellarParameterModel.load(p) for p in sorted(vdir.iterdir()) if p.is_dir()})
        comp = compare_variants(variants, table)
        metrics["variants"] = comp.to_dict(orient="records")
        figures.save_variants(comp, figdir / "variants_mae.png")
    cards = {t: getattr(m, "card_", {}) for t, m in model.models.items()}
    cfg_hash = next((c.get("provenance", {}).get("config_hash") for c in cards.values() if c), None)
    if seed is None:
        seed = next((c.get("provenance", {}).get("seed") for c in cards.values() if c), None)
    if predictor.conformal is not None:  # interval coverage on the same blind test
        cov_table, cov = evaluate_coverage(predictor, table, split="test", seed=seed or 0)
        for target, values in cov.items():
            metrics.setdefault(target, {}).update(values)
        metrics["coverage"] = cov_table.to_dict(orient="records")
    else:
        log.warning("model in %s has no calibration: metrics.json has no interval coverage", model_dir)
    prov = provenance(None, seed, n_test=len(test))
    prov["config_hash"] = config_hash if config_hash is not None else cfg_hash
    metrics["provenance"] = prov
    path = write_json(run_dir / "metrics.json", metrics)
    log.info("wrote %s and %d figures in %s", path, len(list(figdir.glob("*.png"))), figdir)
    return path
