"""Training: features, selection and tuning on the train + val rows, the final fit on the train rows, and
the model directory."""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd

from ..exceptions import InputError
from ..provenance import provenance, write_json
from ..schema import LABEL_TRUTH_COLUMNS
from .features import FeatureConfig, make_features
from .gaps import GAPS_DIR, save_gap_models, train_gap_models
from .model import ModelConfig, StellarParameterModel, TargetModel
from .photcheck import PHOTCHECK_DIR, fit_phot_check
from .selection import SelectionConfig, select_target, training_rows

__all__ = ["save_trained", "train_models", "train_run", "training_set"]

log = logging.getLogger(__name__)


def train_models(table: pd.DataFrame, fcfg=None, scfg: SelectionConfig | None = None,
                 mcfg: ModelConfig | None = None, seed: int = 42):
    """Features, selection and tuning on the train + val rows; the final fit on the train rows only.

    The validation rows stay out of the final fit so that their residuals are out-of-sample: the
    conformal intervals (:mod:`ocfeh.train.uncertainty`) are calibrated on them.

    Parameters
    ----------
    table : DataFrame
        Canonical sample with ``split``; the test rows are never read.
    fcfg, scfg, mcfg : FeatureConfig, SelectionConfig, ModelConfig, optional
    seed : int

    Returns
    -------
    model : StellarParameterModel
    results : dict of target -> SelectionResult
    """
    fcfg, scfg, mcfg = fcfg or FeatureConfig(), scfg or SelectionConfig(), mcfg or ModelConfig()
    rows = training_rows(table)
    feats = make_features(rows, fcfg)
    models, results = {}, {}
    for target in mcfg.targets:
        res = select_target(rows, feats, target, mcfg, scfg, seed)
        fit_rows = (rows["split"] == "train").to_numpy()
        y = rows.loc[fit_rows, target].to_numpy(float)
        m = TargetModel(target, mcfg.backend, res.params, res.n_estimators, mcfg.objective,
                        feature_config=fcfg.model_dump(mode="json"), seed=seed, n_jobs=mcfg.n_jobs,
                        n_models=mcfg.n_models, network=mcfg.network())
        models[target] = m.fit(feats.loc[fit_rows, res.features], y)
        results[target] = res
    model = StellarParameterModel(models)
    model.feature_attrs_ = dict(feats.attrs)
    return model, results


def training_set(table: pd.DataFrame) -> dict:
    """What a model card says of its training sample: ``kind`` "mock" when the sample carries the mock sky's
    truth columns (only the simulate stage writes them), else "real"; the number of train/val/test stars."""
    mock = all(c in table.columns for c in LABEL_TRUTH_COLUMNS)
    counts = table["split"].value_counts() if "split" in table else pd.Series(dtype=int)
    return {"kind": "mock" if mock else "real", **{f"n_{k}": int(counts.get(k, 0)) for k in ("train", "val", "test")}}


def save_trained(model, results: dict, out_dir: str | Path, cfg_dict: dict, seed: int, scfg: SelectionConfig,
                 bands, trained_on: dict | None = None) -> None:
    """Write the models, their cards (with ``training_set``: ``trained_on``, see :func:`training_set`) and
    ``selection.json`` (feature counts, the SHAP path, provenance)."""
    out_dir = Path(out_dir)
    for t, m in model.models.items():
        r = results[t]
        m.save(out_dir, metrics={"cv_mae": r.cv_mae, "n_rows_selection": r.n_rows}, config=cfg_dict,
               selection={"n_rfe": len(r.rfe_features), "n_selected": len(r.features)},
               **({"training_set": trained_on} if trained_on else {}))
    counts = [{"target": t, "n_all": r.rfe_path[0]["n_features"] if r.rfe_path else len(r.features),
               "n_rfe": len(r.rfe_features) or len(r.features), "n_rfecv": len(r.features),
               "cv_mae": r.cv_mae, "seconds": round(r.timings_s.get("total", float("nan")), 1)}
              for t, r in results.items()]
    write_json(out_dir / "selection.json", {
        "bands": list(bands), "feature_counts": counts, "topn_grid": scfg.topn_grid,
        "features_info": {k: v for k, v in getattr(model, "feature_attrs_", {}).items()},
        "targets": {t: r.to_dict() for t, r in results.items()},
        "provenance": provenance(cfg_dict, seed),
    })


def train_run(run_dir: str | Path, fcfg: FeatureConfig, scfg: SelectionConfig, mcfg: ModelConfig, seed: int,
              record: dict | None = None, patterns=()) -> None:
    """The ``train`` stage: ``RUN_DIR/sample.parquet`` -> ``RUN_DIR/model/`` (+ ``model/gaps/``, ``model/photcheck/``,
    ``model/variants/<set>/``).

    Parameters
    ----------
    run_dir : str or Path
    fcfg, scfg, mcfg : FeatureConfig, SelectionConfig, ModelConfig
        The sections, with the run profile's presets applied.
    seed : int
    record : dict, optional
        The config to record in the model cards (its hash names the model); default the three sections.
    patterns : sequence of str
        Missing patterns (:func:`~ocfeh.train.gaps.common_patterns` of the catalogue) that get a model of
        their own beside the gap model.
    """
    run_dir = Path(run_dir)
    path = run_dir / "sample.parquet"
    if not path.is_file():
        raise InputError(f"{path} does not exist: build the sample first ('ocfeh run' or the sample stage)")
    table = pd.read_parquet(path)
    cfg_dict = record if record is not None else {
        "features": fcfg.model_dump(mode="json"), "selection": scfg.model_dump(mode="json"),
        "model": mcfg.model_dump(mode="json")}
    for name, bands in [(None, fcfg.bands)] + [(v, v) for v in fcfg.variants]:
        f = fcfg.model_copy(update={"bands": bands, "variants": []})
        out = run_dir / "model" if name is None else run_dir / "model" / "variants" / _slug(name)
        log.info("training %s (bands %s) into %s", "main model" if name is None else f"variant {name}", bands, out)
        model, results = train_models(table, f, scfg, mcfg, seed)
        save_trained(model, results, out, cfg_dict, seed, scfg, f.resolved_bands(), training_set(table))
        if name is None and mcfg.gap_model:
            log.info("training the gap model (stars with missing bands) into %s", out / GAPS_DIR)
            gaps = train_gap_models(table, f, mcfg, results, seed, patterns=patterns)
            save_gap_models(gaps, table, out / GAPS_DIR, f, mcfg, cfg_dict, seed)
        if name is None and mcfg.phot_check:
            log.info("fitting the photometric check (each band from the others) into %s", out / PHOTCHECK_DIR)
            fit_phot_check(table, f.resolved_bands(), seed).save(out / PHOTCHECK_DIR, cfg_dict, seed)


def _slug(bands) -> str:
    return bands if isinstance(bands, str) else "+".join(bands)
