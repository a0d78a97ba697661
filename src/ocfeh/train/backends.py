"""The gradient-boosting back-ends behind one small interface: LightGBM (default; SHAP from its own
``pred_contrib``) and CatBoost (symmetric trees, exact and fast SHAP)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..exceptions import InputError
from ..provenance import atomic_path

__all__ = ["Backend", "CatBoostBackend", "LightGBMBackend", "get_backend", "load_lightgbm_text", "warm_rounds"]


def _quiet_lightgbm() -> None:
    """Route LightGBM's C++ log (every line at INFO) to the ``lightgbm`` logger, which shows warnings only:
    a damaged file is reported once, by :func:`load_lightgbm_text`, not by hundreds of ``[Fatal]`` lines."""
    import logging

    import lightgbm as lgb

    logger = logging.getLogger("lightgbm")
    if logger.level == logging.NOTSET:
        logger.setLevel(logging.WARNING)
    lgb.register_logger(logger)


def load_lightgbm_text(path: str | Path, text: str | None = None):
    """A LightGBM booster from its text file (or ``text`` read from ``path``), checked to be whole first:
    LightGBM aborts the process on some truncated files instead of raising."""
    import lightgbm as lgb

    _quiet_lightgbm()
    if text is None:
        try:
            text = Path(path).read_text()
        except (OSError, UnicodeDecodeError) as err:
            raise InputError(f"{path}: not a readable LightGBM model ({type(err).__name__}); restore the model "
                             "directory or retrain (`ocfeh train`)") from None
    if not text.startswith("tree\n") or "\nend of trees\n" not in text:
        raise InputError(f"{path}: not a whole LightGBM model file (truncated or another file); restore the model "
                         "directory or retrain (`ocfeh train`)")
    try:
        return lgb.Booster(model_str=text)
    except lgb.basic.LightGBMError as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise InputError(f"{path}: LightGBM cannot read this model ({first}); restore the model directory or "
                         "retrain (`ocfeh train`)") from None



# ---------------------------------------------------------------------------------------- backends
def warm_rounds(objective: str, params: dict, n_estimators: int) -> int:
    """Leading l2 rounds of a Huber fit: about 2 / learning rate, at most half of ``n_estimators``.

    Huber gradients are capped at the delta, so from the label mean a Huber fit moves by at most
    learning rate x delta per round: with labels spread far wider than the delta (Teff: ~700 K against
    ~90 K) it spends hundreds of rounds merely reaching the bulk. A few l2 rounds first remove most of
    the spread (what is left falls roughly as (1 - rate)^n: about 14% after 2 / rate rounds); the Huber
    rounds then continue the same model.
    """
    if objective != "huber" or n_estimators < 2:
        return 0
    return int(min(np.ceil(2.0 / float(params.get("learning_rate", 0.1))), n_estimators // 2))


class Backend:
    """What the selection and the estimator need from a boosting library."""

    name = "abstract"
    suffix = ".model"

    def fit(self, X: np.ndarray, y: np.ndarray, params: dict, n_estimators: int, seed: int, n_jobs: int = 1,
            objective: str = "l2", eval_set: tuple | None = None, early_stopping_rounds: int | None = None,
            feature_names: list[str] | None = None):
        """Return ``(booster, n_rounds_used)``."""
        raise NotImplementedError

    def predict(self, booster, X: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def shap(self, booster, X: np.ndarray) -> np.ndarray:
        """(n, n_features) SHAP values (bias column dropped)."""
        raise NotImplementedError

    def suggest(self, trial, max_depth: int) -> dict:
        """Hyper-parameters drawn by an Optuna trial."""
        raise NotImplementedError

    def average(self, boosters: list):
        """One model whose prediction (and SHAP values) is the mean of ``boosters``' predictions."""
        raise NotImplementedError

    def save(self, booster, path: Path) -> None:
        raise NotImplementedError

    def load(self, path: Path):
        raise NotImplementedError


class LightGBMBackend(Backend):
    name, suffix = "lightgbm", ".txt"
    _OBJ = {"l2": "regression", "l1": "regression_l1", "huber": "huber"}

    def _params(self, params, seed, n_jobs, objective):
        p = {"objective": self._OBJ[objective], "metric": "l1", "verbosity": -1, "seed": seed,
             "num_threads": n_jobs, "deterministic": True, "force_row_wise": True}
        for k, v in params.items():
            if k in ("learning_rate", "max_depth", "num_leaves", "min_child_samples", "feature_fraction",
                     "bagging_fraction", "lambda_l2"):
                p[k] = v
        if objective == "huber" and params.get("huber_delta"):
            p["alpha"] = float(params["huber_delta"])  # LightGBM's Huber transition point (label units)
        if p.get("bagging_fraction", 1.0) < 1.0:
            p["bagging_freq"] = 1
        if p.get("max_depth", -1) > 0 and "num_leaves" in p:
            p["num_leaves"] = int(min(p["num_leaves"], 2 ** p["max_depth"]))
        return p

    def fit(self, X, y, params, n_estimators, seed, n_jobs=1, objective="l2", eval_set=None,
            early_stopping_rounds=None, feature_names=None):
        import lightgbm as lgb

        p = self._params(params, seed, n_jobs, objective)
        init = None
        n_warm = warm_rounds(objective, params, n_estimators)
        if n_warm:  # l2 rounds first (see warm_rounds), continued by the Huber rounds in the same model
            init = lgb.train(self._params(params, seed, n_jobs, "l2"),
                             lgb.Dataset(X, y, feature_name=feature_names or "auto"), num_boost_round=n_warm)
        dtrain = lgb.Dataset(X, y, feature_name=feature_names or "auto", free_raw_data=True)
        kw: dict[str, Any] = {}
        if eval_set is not None:
            dval = lgb.Dataset(eval_set[0], eval_set[1], reference=dtrain)
            kw = {"valid_sets": [dval], "callbacks": [lgb.early_stopping(early_stopping_rounds or 50, verbose=False)]}
        booster = lgb.train(p, dtrain, num_boost_round=n_estimators - n_warm, init_model=init, **kw)
        used = booster.best_iteration if eval_set is not None and booster.best_iteration > 0 else n_estimators
        return booster, int(used)

    def predict(self, booster, X):
        it = booster.best_iteration if booster.best_iteration > 0 else None
        return booster.predict(X, num_iteration=it)

    def shap(self, booster, X):
        it = booster.best_iteration if booster.best_iteration > 0 else None
        return np.asarray(booster.predict(X, pred_contrib=True, num_iteration=it))[:, :-1]

    def average(self, boosters):
        """Concatenate the trees of ``boosters`` with every leaf value divided by their number.

        A boosted model predicts the sum of its trees' leaf values (LightGBM folds the initial score
        into the first tree), so the result predicts the members' mean exactly and stays one ordinary
        LightGBM text model (TreeSHAP is linear in the trees: its SHAP values are the members' mean too).
        """
        import lightgbm as lgb

        if len(boosters) == 1:
            return boosters[0]
        k = len(boosters)
        texts = [b.model_to_string(num_iteration=b.best_iteration if b.best_iteration > 0 else None)
                 for b in boosters]
        head = texts[0][: texts[0].index("\nTree=0\n") + 1]
        tail = texts[0][texts[0].index("end of trees"):]
        blocks: list[str] = []
        for text in texts:
            body = text[text.index("\nTree=0\n") + 1: text.index("end of trees")]
            for tree in re.split(r"(?m)^Tree=\d+\n", body)[1:]:
                lines = tree.split("\n")
                for i, line in enumerate(lines):
                    key, _, vals = line.partition("=")
                    if key in ("leaf_value", "internal_value") and vals:
                        lines[i] = key + "=" + " ".join(repr(float(v) / k) for v in vals.split(" "))
                blocks.append(f"Tree={len(blocks)}\n" + "\n".join(lines))
        sizes = " ".join(str(len(b.encode())) for b in blocks)
        head = re.sub(r"(?m)^tree_sizes=.*$", lambda _: "tree_sizes=" + sizes, head)
        return lgb.Booster(model_str=head + "".join(blocks) + tail)

    def suggest(self, trial, max_depth):
        return {
            "learning_rate": trial.suggest_float("learning_rate", 0.02, 0.2, log=True),
            "num_leaves": trial.suggest_int("num_leaves", 15, min(255, 2**max_depth)),
            "min_child_samples": trial.suggest_int("min_child_samples", 5, 100, log=True),
            "feature_fraction": trial.suggest_float("feature_fraction", 0.4, 1.0),
            "bagging_fraction": trial.suggest_float("bagging_fraction", 0.5, 1.0),
            "lambda_l2": trial.suggest_float("lambda_l2", 1e-3, 10.0, log=True),
            "max_depth": max_depth,
        }

    def save(self, booster, path):
        with atomic_path(path) as tmp:
            booster.save_model(str(tmp))

    def load(self, path):
        return load_lightgbm_text(path)


class CatBoostBackend(Backend):
    name, suffix = "catboost", ".cbm"
    _OBJ = {"l2": "RMSE", "l1": "MAE", "huber": "Huber:delta={delta!r}"}

    def _model(self, params, n_estimators, seed, n_jobs, objective):
        from catboost import CatBoostRegressor

        loss = self._OBJ[objective].format(delta=float(params.get("huber_delta") or 1.0))
        kw = {"iterations": n_estimators, "loss_function": loss, "eval_metric": "MAE",
              "random_seed": seed, "thread_count": n_jobs, "allow_writing_files": False, "verbose": False}
        if "learning_rate" in params:
            kw["learning_rate"] = params["learning_rate"]
        kw["depth"] = int(min(params.get("depth", 6), params.get("max_depth", 16), 16))
        for k in ("l2_leaf_reg", "rsm"):
            if k in params:
                kw[k] = params[k]
        return CatBoostRegressor(**kw)

    def fit(self, X, y, params, n_estimators, seed, n_jobs=1, objective="l2", eval_set=None,
            early_stopping_rounds=None, feature_names=None):
        Xf = pd.DataFrame(X, columns=feature_names) if feature_names else X
        n_warm = warm_rounds(objective, params, n_estimators)
        kw: dict[str, Any] = {}
        if n_warm:  # l2 rounds first (see warm_rounds), continued by the Huber rounds in the same model
            kw["init_model"] = self._model(params, n_warm, seed, n_jobs, "l2").fit(Xf, y)
        m = self._model(params, n_estimators - n_warm, seed, n_jobs, objective)
        if eval_set is not None:
            Xv = pd.DataFrame(eval_set[0], columns=feature_names) if feature_names else eval_set[0]
            m.fit(Xf, y, eval_set=(Xv, eval_set[1]), early_stopping_rounds=early_stopping_rounds or 50,
                  use_best_model=True, **kw)
            used = n_warm + m.get_best_iteration() + 1
        else:
            m.fit(Xf, y, **kw)
            used = n_estimators
        return m, int(used)

    def predict(self, booster, X):
        return booster.predict(np.asarray(X, dtype=float))

    def shap(self, booster, X):
        from catboost import Pool

        return np.asarray(booster.get_feature_importance(Pool(np.asarray(X, dtype=float)), type="ShapValues"))[:, :-1]

    def average(self, boosters):
        from catboost import sum_models

        if len(boosters) == 1:
            return boosters[0]
        return sum_models(boosters, weights=[1.0 / len(boosters)] * len(boosters))

    def suggest(self, trial, max_depth):
        return {
            "learning_rate": trial.suggest_float("learning_rate", 0.03, 0.3, log=True),
            "depth": trial.suggest_int("depth", 4, max(4, min(10, max_depth))),
            "l2_leaf_reg": trial.suggest_float("l2_leaf_reg", 0.5, 20.0, log=True),
            "rsm": trial.suggest_float("rsm", 0.5, 1.0),
        }

    def save(self, booster, path):
        with atomic_path(path) as tmp:
            booster.save_model(str(tmp))

    def load(self, path):
        from catboost import CatBoostRegressor

        return CatBoostRegressor().load_model(str(path))


_BACKENDS = {"lightgbm": LightGBMBackend, "catboost": CatBoostBackend}


def get_backend(name: str) -> Backend:
    """The back-end called ``name`` (``lightgbm`` or ``catboost``)."""
    try:
        return _BACKENDS[name]()
    except KeyError:
        raise InputError(f"The 'backend' parameter must be one of {sorted(_BACKENDS)}. Got {name!r} instead.") from None
