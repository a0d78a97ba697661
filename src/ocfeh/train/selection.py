"""Feature selection and tuning: SHAP-ranked recursive elimination with a Bayesian search, then RFECV.

Per target, on the train + val stars only (the test split is dropped before anything is read):

0. **The loss** (``[model] objective``): with the Huber loss (opt-in), its transition point is the
   k-fold MAE of an l2 model with the base parameters (:func:`loss_params`), so that residuals up to the
   typical one are fitted in squared error and the rarer large ones (label or photometry outliers)
   linearly: the fit follows the MAE the pipeline is judged by.
1. **Recursive elimination with tuning** (as shap-hypetune's ``BoostRFE``, but every score is a k-fold
   cross-validated MAE): at each step an Optuna TPE search (seeded; the base parameters, then the
   previous step's best, are enqueued first) tunes the hyper-parameters on the current features; a
   model with the best ones is fitted, features are ranked by mean |SHAP| (the back-end's own
   ``pred_contrib`` / ``ShapValues`` on a seeded subsample) and the weakest ``step`` share is dropped.
   The step with the best CV score gives the RFE set and the hyper-parameters.
2. **RFECV**: k-fold elimination path from the RFE set (fixed hyper-parameters, SHAP ranking inside
   each training fold); the smallest set whose mean CV MAE is within one standard error of the best.
3. **Stability**: the same elimination repeated on bootstrap resamples: how often each chosen feature
   is kept. Colours of 17 magnitudes span 16 dimensions, so equivalent colours may swap.
4. **Final CV** on all train + val stars with the chosen features and parameters (at the smaller
   ``final_learning_rate`` when one is set): the number of trees of the final model and the reported CV MAE.

References
----------
Lundberg & Lee 2017 (SHAP); Akiba et al. 2019 (Optuna); Cerliani, shap-hypetune (optional back-end).
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar, Literal, NamedTuple

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from ..exceptions import InputError, OcfehError
from .backends import Backend, get_backend
from .features import A0_FEATURE
from .model import ModelConfig

__all__ = [
    "SHAP_HYPETUNE_HELP",
    "SelectionConfig",
    "SelectionResult",
    "cv_score",
    "kfold_indices",
    "weakest_features",
    "loss_params",
    "one_standard_error_choice",
    "rfecv",
    "select_target",
    "shap_ranking",
    "training_rows",
]

log = logging.getLogger(__name__)

SHAP_HYPETUNE_HELP = (
    "selection method 'shap-hypetune' needs the optional extra: "
    "pip install shap-hypetune==0.2.7 hyperopt==0.2.5 (newer hyperopt fails on its 'rstate'). "
    "It uses LightGBM's deprecated eval_set fit argument, one eval set (the val split) for early stopping, "
    "elimination and tuning at once, and no SHAP subsampling; the default method 'shap-rfe' avoids all three."
)


class SelectionConfig(BaseModel):
    """The ``[selection]`` section: elimination, search and RFECV settings."""

    model_config = ConfigDict(extra="forbid")
    PROFILES: ClassVar[dict[str, dict[str, Any]]] = {
        "small": {"n_trials": 3, "n_trials_step": 1, "cv_folds": 2, "step": 0.3, "min_features": 6,
                  "shap_rows": 500, "tune_rows": 3000, "rfecv_folds": 2, "rfecv_step": 5,
                  "stability_repeats": 2, "topn_grid": [3, 10]},
        # the demo's profile: sized for about 10 minutes of the whole run on 2 cores
        "default": {"n_trials": 4, "n_trials_step": 1, "step": 0.3, "min_features": 25, "shap_rows": 2000,
                    "tune_rows": 6000, "rfecv_folds": 3, "rfecv_step": 16, "stability_repeats": 1},
        # poster scale (~90k labelled stars): sized for under 20 minutes of the three targets on 2 cores
        # (20k tune rows, 10 trials and RFECV step 5 took 25 min for teff alone): the search runs on a
        # subsample, the final CV and fit on all stars
        "full": {"n_trials": 6, "n_trials_step": 2, "cv_folds": 3, "step": 0.25, "shap_rows": 2000,
                 "tune_rows": 8000, "rfecv_folds": 3, "rfecv_step": 10, "stability_repeats": 1},
    }

    method: Literal["shap-rfe", "none", "shap-hypetune"] = Field(
        "shap-rfe", description="shap-rfe (this module), none (all features, base parameters), shap-hypetune (extra)."
    )
    n_trials: int = Field(12, ge=1, description="Optuna TPE trials at the first elimination step.")
    n_trials_step: int = Field(4, ge=1, description="Trials at each later step (previous best enqueued first).")
    cv_folds: int = Field(3, ge=2, description="K of the cross-validated score of the search.")
    step: float = Field(0.15, gt=0, lt=1, description="Share of the features dropped per elimination step.")
    min_features: int = Field(30, ge=1, description="Elimination stops at this many features.")
    shap_rows: int = Field(3000, ge=50, description="Seeded subsample on which mean |SHAP| ranks the features.")
    tune_rows: int = Field(20000, ge=100, description="At most this many train+val stars in the search and RFECV.")
    rfecv: bool = Field(True, description="Run RFECV after the elimination.")
    final_cv: bool = Field(
        True, description="A last k-fold CV on all train+val stars (not only tune_rows) with the chosen features "
        "and parameters: the number of trees for the final fit and the reported CV MAE."
    )
    final_learning_rate: float | None = Field(
        None, gt=0, le=1, description="Shrinkage of the final model when below the tuned one, with proportionally "
        "more trees (cap n_estimators x tuned rate / this rate; the final CV finds the number): smaller steps "
        "generalise a little better at a few times the cost of the final fit. Unset: keep the tuned rate."
    )
    rfecv_folds: int = Field(5, ge=2, description="K of RFECV.")
    rfecv_step: int = Field(5, ge=1, description="Features dropped per RFECV step.")
    rfecv_min_features: int = Field(5, ge=1, description="Smallest set RFECV scores.")
    stability_repeats: int = Field(3, ge=0, description="Bootstrap repeats of the elimination (0 = skip).")
    topn_grid: list[int] = Field([5, 10, 20, 40, 80], description="Top-N feature counts of the MAE-vs-N figure.")


@dataclass
class SelectionResult:
    """What selection found for one target (all scores are CV MAE on train + val, label units)."""

    target: str
    features: list[str]
    params: dict[str, Any]
    n_estimators: int
    rfe_path: list[dict] = field(default_factory=list)
    rfe_features: list[str] = field(default_factory=list)
    rfecv_curve: list[dict] = field(default_factory=list)
    importance: dict[str, float] = field(default_factory=dict)
    stability: dict[str, float] = field(default_factory=dict)
    cv_mae: float = float("nan")
    ranking: list[str] = field(default_factory=list)
    timings_s: dict[str, float] = field(default_factory=dict)
    n_rows: int = 0

    def to_dict(self) -> dict:
        return asdict(self)


def training_rows(table: pd.DataFrame) -> pd.DataFrame:
    """The rows selection and training may read: ``split`` train or val (test is never returned)."""
    if "split" not in table:
        raise InputError(f"the sample ({len(table)} rows) has no 'split' column (train/val/test)")
    keep = table["split"].isin(["train", "val"]).to_numpy()
    if not keep.any():
        raise InputError(f"no train/val rows among {len(table)} (split values: {sorted(table['split'].unique())})")
    return table.loc[keep]


# ------------------------------------------------------------------------------------ primitives
def kfold_indices(n: int, k: int, seed: int):
    from sklearn.model_selection import KFold

    return list(KFold(n_splits=k, shuffle=True, random_state=seed).split(np.arange(n)))


def cv_score(backend: Backend, X: np.ndarray, y: np.ndarray, params: dict, mcfg: ModelConfig, folds,
             seed: int) -> tuple[float, float, int]:
    """K-fold MAE with early stopping on each held-out fold.

    Returns
    -------
    mean, standard error, rounds
        Mean and standard error of the fold MAEs; rounds = mean early-stopping round (the number of
        trees to use when refitting on all rows).
    """
    maes, rounds = [], []
    for tr, va in folds:
        b, used = backend.fit(X[tr], y[tr], params, mcfg.n_estimators, seed, mcfg.n_jobs, mcfg.objective,
                              eval_set=(X[va], y[va]), early_stopping_rounds=mcfg.early_stopping_rounds)
        maes.append(float(np.mean(np.abs(backend.predict(b, X[va]) - y[va]))))
        rounds.append(used)
    maes = np.asarray(maes)
    return float(maes.mean()), float(maes.std(ddof=1) / np.sqrt(len(maes))), round(np.mean(rounds))


def loss_params(backend: Backend, X: np.ndarray, y: np.ndarray, mcfg: ModelConfig, folds, seed: int) -> dict:
    """Parameters the training loss needs: ``huber_delta`` (label units) for ``objective = "huber"``.

    ``[model] huber_delta`` when set; otherwise the k-fold MAE of an l2 model with the base parameters on
    these rows: residuals up to the typical one are fitted in squared error, larger ones linearly.
    """
    if mcfg.objective != "huber":
        return {}
    if mcfg.huber_delta:
        return {"huber_delta": float(mcfg.huber_delta)}
    mean, _, _ = cv_score(backend, X, y, mcfg.base_params(), mcfg.model_copy(update={"objective": "l2"}), folds, seed)
    return {"huber_delta": mean}


def shap_ranking(backend: Backend, booster, X: np.ndarray, n_rows: int, rng: np.random.Generator) -> np.ndarray:
    """Mean |SHAP| of each column on a seeded subsample of ``n_rows`` rows of ``X``."""
    idx = rng.choice(len(X), size=min(n_rows, len(X)), replace=False)
    return np.abs(backend.shap(booster, X[idx])).mean(axis=0)


def _n_drop(n: int, step: float, floor: int) -> int:
    k = int(step) if step >= 1 else max(1, int(np.floor(n * step)))
    return max(0, min(k, n - floor))


def weakest_features(imp: np.ndarray, names: list[str], k: int) -> list[int]:
    """Indices of the ``k`` features of least mean |SHAP|, never :data:`~ocfeh.train.features.A0_FEATURE`."""
    imp = np.where(np.array(names) == A0_FEATURE, np.inf, imp)
    return np.argsort(imp, kind="stable")[:k].tolist()


def _eliminate(backend, X, y, names, params, rounds, mcfg, target_n, step, shap_rows, rng, seed,
               score_on=None) -> tuple[list[str], list[tuple[int, float]]]:
    """Fixed-parameter SHAP elimination from ``names`` down to ``target_n`` features.

    Returns the kept names and, if ``score_on=(Xv, yv)``, the (n_features, MAE) of each step.
    """
    cols = list(range(len(names)))
    scores = []
    while True:
        b, _ = backend.fit(X[:, cols], y, params, rounds, seed, mcfg.n_jobs, mcfg.objective)
        if score_on is not None:
            Xv, yv = score_on
            scores.append((len(cols), float(np.mean(np.abs(backend.predict(b, Xv[:, cols]) - yv)))))
        k = _n_drop(len(cols), step, target_n)
        if k == 0:
            break
        imp = shap_ranking(backend, b, X[:, cols], shap_rows, rng)
        drop = set(weakest_features(imp, [names[c] for c in cols], k))
        cols = [c for i, c in enumerate(cols) if i not in drop]
    return [names[c] for c in cols], scores


def rfecv(backend, X, y, names, params, rounds, mcfg, scfg, seed) -> tuple[int, list[dict]]:
    """K-fold SHAP-RFE curve and the smallest feature count within one standard error of the best."""
    folds = kfold_indices(len(y), scfg.rfecv_folds, seed + 1)
    per_fold: list[dict[int, float]] = []
    floor = min(scfg.rfecv_min_features, len(names))
    for i, (tr, va) in enumerate(folds):
        rng = np.random.default_rng([seed, 7, i])
        _, scores = _eliminate(backend, X[tr], y[tr], names, params, rounds, mcfg, floor, scfg.rfecv_step,
                               scfg.shap_rows, rng, seed, score_on=(X[va], y[va]))
        per_fold.append(dict(scores))
        log.info("RFECV fold %d/%d done", i + 1, len(folds))
    ns = sorted(per_fold[0], reverse=True)
    curve = []
    for n in ns:
        v = np.array([f[n] for f in per_fold])
        curve.append({"n_features": n, "mae_mean": float(v.mean()), "mae_se": float(v.std(ddof=1) / np.sqrt(len(v)))})
    return one_standard_error_choice(curve), curve


def one_standard_error_choice(curve: list[dict]) -> int:
    """Smallest ``n_features`` whose ``mae_mean`` is within one ``mae_se`` of the best point's."""
    best = min(curve, key=lambda r: r["mae_mean"])
    limit = best["mae_mean"] + best["mae_se"]
    return min(r["n_features"] for r in curve if r["mae_mean"] <= limit)


# --------------------------------------------------------------------------------------- search
def _tune(backend, X, y, params0, mcfg, folds, n_trials, seed, max_depth, fixed=None) -> tuple[dict, float, float, int]:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="minimize", sampler=optuna.samplers.TPESampler(seed=seed))
    fixed = dict(fixed or {})
    if params0:
        study.enqueue_trial({k: v for k, v in params0.items() if k != "max_depth" and k not in fixed},
                            skip_if_exists=True)
    cache: dict[int, tuple[float, float, int, dict]] = {}

    def objective(trial):
        p = {**backend.suggest(trial, max_depth), **fixed}
        mean, se, rounds = cv_score(backend, X, y, p, mcfg, folds, seed)
        cache[trial.number] = (mean, se, rounds, p)
        return mean

    study.optimize(objective, n_trials=n_trials, show_progress_bar=False)
    mean, se, rounds, p = cache[study.best_trial.number]
    return p, mean, se, rounds


def select_target(table: pd.DataFrame, features: pd.DataFrame, target: str, mcfg: ModelConfig,
                  scfg: SelectionConfig, seed: int = 42) -> SelectionResult:
    """Select features and hyper-parameters for one target on the train + val rows of ``table``.

    1. recursive elimination ranked by SHAP, with a TPE search at every step; 2. RFECV from the best
    RFE set; 3. the importance of the final set and its stability over bootstraps; 4. with a subsample or
    a smaller final learning rate, the number of trees re-derived by CV on all rows.

    Parameters
    ----------
    table : DataFrame
        Canonical sample with ``split`` and the label column ``target``; test rows are dropped first.
    features : DataFrame
        Features of the same rows (same index), e.g. from :func:`ocfeh.train.features.make_features`.
    target : str
        Label column (``teff`` K, ``logg`` dex, ``feh`` dex).
    mcfg, scfg : ModelConfig, SelectionConfig
    seed : int

    Returns
    -------
    SelectionResult
    """
    rows = training_rows(table)
    if target not in rows:
        raise InputError(f"the sample has no label column {target!r}")
    y_all = rows[target].to_numpy(float)
    ok = np.isfinite(y_all)
    rng = np.random.default_rng([seed, sum(map(ord, target))])
    idx = np.flatnonzero(ok)
    if len(idx) > scfg.tune_rows:
        idx = np.sort(rng.choice(idx, scfg.tune_rows, replace=False))
    X_df = features.loc[rows.index].iloc[idx]
    X, y = X_df.to_numpy(float), y_all[idx]
    names = list(X_df.columns)
    if scfg.method != "none" and scfg.min_features > len(names):  # the band set decides: known only here
        log.info("%s: [selection] min_features = %d is more than the %d features of the band set: it is taken "
                 "as %d (the elimination drops none)", target, scfg.min_features, len(names), len(names))
        scfg = scfg.model_copy(update={"min_features": len(names)})
    min_rows = max(4 * scfg.cv_folds, 20)
    if len(y) < min_rows:
        raise InputError(f"{target}: only {len(y)} labelled train/val stars; selection needs at least {min_rows}")
    backend = get_backend(mcfg.backend)
    t0 = time.perf_counter()
    if scfg.method == "shap-hypetune":
        return _shap_hypetune(rows, features, target, mcfg, scfg, seed)
    folds = kfold_indices(len(y), scfg.cv_folds, seed)
    fixed = loss_params(backend, X, y, mcfg, folds, seed)
    base = {**mcfg.base_params(), **fixed}
    if scfg.method == "none":
        return _no_selection(backend, X, y, names, base, target, mcfg, scfg, folds, rng, seed, t0)
    fit = _Fit(backend, mcfg, scfg, seed)
    path, eliminated = _rfe_search(fit, X, y, names, base, fixed, folds, rng, target)
    timings = {"rfe_search": time.perf_counter() - t0}
    best = min(path, key=lambda r: r["cv_mae"])
    params, rounds, rfe_feats = best["params"], best["rounds"], best["features"]
    res = SelectionResult(target, rfe_feats, params, rounds, cv_mae=best["cv_mae"], n_rows=len(y))
    res.rfe_path = [{k: v for k, v in r.items() if k != "features"} for r in path]
    res.rfe_features = list(rfe_feats)
    Xr = X[:, [names.index(f) for f in rfe_feats]]
    chosen = _rfecv_step(fit, res, Xr, y, timings)
    _rank_final(fit, res, X, y, names, eliminated)
    if scfg.stability_repeats:
        t2 = time.perf_counter()
        res.stability = _stability(fit, res, Xr, y, chosen, target)
        timings["stability"] = time.perf_counter() - t2
    _final_cv(fit, res, features.loc[rows.index, res.features].to_numpy(float)[ok], y_all[ok], len(y), timings,
              target)
    timings["total"] = time.perf_counter() - t0
    res.timings_s = timings
    log.info("%s: %d features selected (RFE %d), CV MAE %.4g, %.1f s", target, len(res.features),
             len(rfe_feats), res.cv_mae, timings["total"])
    return res


class _Fit(NamedTuple):
    """What every step of one target's selection shares."""

    backend: Backend
    mcfg: ModelConfig
    scfg: SelectionConfig
    seed: int


def _no_selection(backend, X, y, names, base, target, mcfg, scfg, folds, rng, seed, t0) -> SelectionResult:
    """``method = "none"``: every feature, the base parameters, a CV score and the SHAP ranking."""
    mean, se, rounds = cv_score(backend, X, y, base, mcfg, folds, seed)
    res = SelectionResult(target, names, base, rounds, cv_mae=mean, n_rows=len(y))
    res.rfe_path = [{"n_features": len(names), "cv_mae": mean, "cv_se": se, "rounds": rounds}]
    b, _ = backend.fit(X, y, base, rounds, seed, mcfg.n_jobs, mcfg.objective)
    imp = shap_ranking(backend, b, X, scfg.shap_rows, rng)
    res.importance = {names[i]: float(imp[i]) for i in np.argsort(-imp, kind="stable")}
    res.ranking = list(res.importance)
    res.timings_s = {"total": time.perf_counter() - t0}
    return res


def _rfe_search(fit: _Fit, X, y, names, base, fixed, folds, rng, target) -> tuple[list[dict], list[str]]:
    """Step 1: recursive elimination with a TPE search at every step; the path and the eliminated features
    (the last dropped first)."""
    backend, mcfg, scfg, seed = fit
    cols = list(range(len(names)))
    path, params, eliminated = [], base, []
    floor = min(scfg.min_features, len(names))
    step_i = 0
    while True:
        n_trials = scfg.n_trials if step_i == 0 else scfg.n_trials_step
        # the first step's search starts from the base parameters, each later one from the previous best
        params, mean, se, rounds = _tune(backend, X[:, cols], y, params, mcfg,
                                         folds, n_trials, seed + step_i, mcfg.max_depth, fixed)
        path.append({"n_features": len(cols), "cv_mae": mean, "cv_se": se, "rounds": rounds, "params": params,
                     "features": [names[c] for c in cols]})
        log.info("%s: RFE step %d, %d features, CV MAE %.4g", target, step_i, len(cols), mean)
        k = _n_drop(len(cols), scfg.step, floor)
        if k == 0:
            return path, eliminated
        b, _ = backend.fit(X[:, cols], y, params, rounds, seed, mcfg.n_jobs, mcfg.objective)
        imp = shap_ranking(backend, b, X[:, cols], scfg.shap_rows, rng)
        drop = weakest_features(imp, [names[c] for c in cols], k)
        eliminated = [names[cols[i]] for i in reversed(drop)] + eliminated
        cols = [c for i, c in enumerate(cols) if i not in set(drop)]
        step_i += 1


def _rfecv_step(fit: _Fit, res: SelectionResult, Xr, y, timings: dict) -> int:
    """Step 2: RFECV from the RFE set (``res.features`` becomes its choice); the number of features chosen."""
    backend, mcfg, scfg, seed = fit
    rfe_feats = res.rfe_features
    if not (scfg.rfecv and len(rfe_feats) > scfg.rfecv_min_features):
        return len(rfe_feats)
    log.info("%s: RFECV from %d features (%d folds, step %d)", res.target, len(rfe_feats), scfg.rfecv_folds,
             scfg.rfecv_step)
    t1 = time.perf_counter()
    chosen, curve = rfecv(backend, Xr, y, rfe_feats, res.params, res.n_estimators, mcfg, scfg, seed)
    res.rfecv_curve = curve
    res.cv_mae = next(r["mae_mean"] for r in curve if r["n_features"] == chosen)
    res.features, _ = _eliminate(backend, Xr, y, rfe_feats, res.params, res.n_estimators, mcfg, chosen,
                                 scfg.rfecv_step, scfg.shap_rows, np.random.default_rng([seed, 11]), seed)
    timings["rfecv"] = time.perf_counter() - t1
    return chosen


def _rank_final(fit: _Fit, res: SelectionResult, X, y, names, eliminated) -> None:
    """Step 3a: SHAP importance of the final set; the features in its order; the full ranking."""
    backend, mcfg, scfg, seed = fit
    Xf = X[:, [names.index(f) for f in res.features]]
    b, _ = backend.fit(Xf, y, res.params, res.n_estimators, seed, mcfg.n_jobs, mcfg.objective)
    imp = shap_ranking(backend, b, Xf, scfg.shap_rows, np.random.default_rng([seed, 13]))
    order = np.argsort(-imp, kind="stable")
    res.importance = {res.features[i]: float(imp[i]) for i in order}
    res.features = [res.features[i] for i in order]
    res.ranking = list(dict.fromkeys(res.features + list(res.rfe_features) + eliminated))


def _stability(fit: _Fit, res: SelectionResult, Xr, y, chosen: int, target: str) -> dict[str, float]:
    """Step 3b: how often each RFE feature survives the RFECV elimination of a bootstrap resample."""
    backend, mcfg, scfg, seed = fit
    log.info("%s: selection stability, %d bootstrap repeat(s)", target, scfg.stability_repeats)
    counts = dict.fromkeys(res.rfe_features, 0)
    for r in range(scfg.stability_repeats):
        brng = np.random.default_rng([seed, 17, r])
        boot = brng.integers(0, len(y), len(y))
        kept, _ = _eliminate(backend, Xr[boot], y[boot], res.rfe_features, res.params, res.n_estimators, mcfg,
                             chosen, scfg.rfecv_step, scfg.shap_rows, brng, seed + r)
        for f in kept:
            counts[f] += 1
    return {f: c / scfg.stability_repeats for f, c in sorted(counts.items(), key=lambda kv: -kv[1])}


def _final_cv(fit: _Fit, res: SelectionResult, Xa, ya, n_searched: int, timings: dict, target: str) -> None:
    """Step 4: when the search ran on a subsample (more stars support more boosting rounds) or the final
    learning rate is smaller, the number of trees and the CV MAE re-derived on all rows."""
    backend, mcfg, scfg, seed = fit
    lr, final_lr = res.params.get("learning_rate"), scfg.final_learning_rate
    slower = final_lr is not None and lr is not None and final_lr < lr
    if not (scfg.final_cv and (len(ya) > n_searched or slower)):
        return
    t3 = time.perf_counter()
    fmcfg = mcfg
    if slower:
        res.params = {**res.params, "learning_rate": final_lr}
        fmcfg = mcfg.model_copy(update={
            "n_estimators": int(np.ceil(mcfg.n_estimators * lr / final_lr)),
            "early_stopping_rounds": int(np.ceil(mcfg.early_stopping_rounds * lr / final_lr))})
    log.info("%s: final CV on %d stars, %d features, learning rate %.3g", target, len(ya), len(res.features),
             res.params.get("learning_rate", float("nan")))
    res.cv_mae, _, res.n_estimators = cv_score(backend, Xa, ya, res.params, fmcfg,
                                               kfold_indices(len(ya), scfg.cv_folds, seed), seed)
    res.n_rows = int(len(ya))
    timings["final_cv"] = time.perf_counter() - t3


def _shap_hypetune(rows, features, target, mcfg, scfg, seed) -> SelectionResult:  # pragma: no cover - extra
    """shap-hypetune's BoostRFE (optional extra; not installed in CI). Uses the val split as its eval set."""
    try:
        from hyperopt import hp
        from shaphypetune import BoostRFE
    except ImportError:
        raise OcfehError(SHAP_HYPETUNE_HELP) from None
    from lightgbm import LGBMRegressor

    if mcfg.backend != "lightgbm":
        raise InputError("selection method 'shap-hypetune' supports only [model] backend = 'lightgbm'")
    tr = rows[rows["split"] == "train"]
    va = rows[rows["split"] == "val"]
    tr, va = tr[np.isfinite(tr[target])], va[np.isfinite(va[target])]
    Xtr, Xva = features.loc[tr.index], features.loc[va.index]
    space = {"learning_rate": hp.loguniform("learning_rate", np.log(0.02), np.log(0.2)),
             "num_leaves": hp.choice("num_leaves", [15, 31, 63, 127, 255])}
    est = LGBMRegressor(n_estimators=mcfg.n_estimators, max_depth=mcfg.max_depth, random_state=seed,
                        n_jobs=mcfg.n_jobs, verbose=-1)
    sel = BoostRFE(est, param_grid=space, min_features_to_select=scfg.min_features, step=scfg.step,
                   n_iter=scfg.n_trials, sampling_seed=seed, importance_type="shap_importances",
                   train_importance=False, greater_is_better=False, verbose=0)
    sel.fit(Xtr, tr[target].to_numpy(float), eval_set=[(Xva, va[target].to_numpy(float))],
            early_stopping_rounds=mcfg.early_stopping_rounds)
    feats = list(Xtr.columns[sel.support_])
    params = {**mcfg.base_params(), **{k: v for k, v in sel.best_params_.items() if k in ("learning_rate", "num_leaves")}}
    return SelectionResult(target, feats, params, int(sel.estimator_.best_iteration_ or mcfg.n_estimators),
                           rfe_features=feats, cv_mae=float(sel.best_score_), n_rows=len(tr))
