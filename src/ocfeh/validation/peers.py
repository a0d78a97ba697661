"""Peer regressors: the methods of other photometric-parameter projects behind one small interface.

Every peer fits one target on a DataFrame of named features and predicts it back; each records its
training time. They take the same feature matrix and the same split as this pipeline, so a table of
peers compares methods, not data.

========== =========================================================================================
name       method (as used by)
========== =========================================================================================
lightgbm   plain LightGBM on all features, fixed hyper-parameters (this pipeline without selection)
rf-rfe     random forest with recursive feature elimination (JPLUS-STEPEs); intervals from the
           spread of the trees' predictions
xgboost    gradient-boosted trees, ``hist`` method (Andrae et al. 2023 on Gaia XP)
mlp        small fully-connected network on standardised features and label (SPHINX, CSNet)
knn        k nearest neighbours on standardised features, distance-weighted
========== =========================================================================================

>>> import numpy as np, pandas as pd
>>> rng = np.random.default_rng(0)
>>> X = pd.DataFrame({"a": rng.normal(size=400), "b": rng.normal(size=400)})
>>> y = 2.0 * X["a"].to_numpy() + 0.1 * rng.normal(size=400)
>>> p = get_peer("knn").fit(X.iloc[:300], y[:300])
>>> bool(np.mean(np.abs(p.predict(X.iloc[300:]) - y[300:])) < 0.5)
True

References
----------
Whitten et al. 2019, A&A 622, A182 (SPHINX: J-PLUS networks); Yang et al. 2021, A&A 646, A59
(J-PLUS CSNet); Wang et al. 2022, A&A 660, A8 (J-PLUS DR2 random forests, "JPLUS-STEPEs" in this
project's notes); Andrae, Rix & Chandra 2023, ApJS 267, 8 (XGBoost on Gaia XP); Breiman 2001 (random
forest); Guyon et al. 2002 (RFE); Chen & Guestrin 2016 (XGBoost); Ke et al. 2017 (LightGBM).
"""

from __future__ import annotations

import difflib
import logging
import time
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from ..exceptions import InputError, NotFittedError

__all__ = ["PEERS", "Peer", "fit_peer", "get_peer"]

log = logging.getLogger(__name__)


class Peer:
    """One regressor for one label (sklearn conventions; subclasses implement ``_fit``/``_predict``).

    Parameters
    ----------
    seed : int, default=42
        Seed of every random choice of the method.
    n_jobs : int, default=2
        Threads (the machine is shared: keep it small).
    **params
        Hyper-parameters overriding the peer's ``DEFAULTS``.

    Attributes
    ----------
    feature_names_in_ : list of str
    fit_seconds_ : float
        Wall-clock training time [s].
    n_train_ : int
        Rows with a finite label used for training.
    """

    name: ClassVar[str] = "abstract"
    description: ClassVar[str] = ""
    reference: ClassVar[str] = ""
    DEFAULTS: ClassVar[dict[str, Any]] = {}
    has_intervals: ClassVar[bool] = False

    def __init__(self, seed: int = 42, n_jobs: int = 2, **params: Any):
        self.seed = seed
        self.n_jobs = n_jobs
        unknown = sorted(set(params) - set(self.DEFAULTS))
        if unknown:
            raise InputError(f"The {self.name!r} peer has no parameters {unknown}; known: {sorted(self.DEFAULTS)}")
        self.params = {**self.DEFAULTS, **params}

    def __repr__(self) -> str:
        state = f"{len(self.feature_names_in_)} features" if hasattr(self, "model_") else "not fitted"
        return f"{type(self).__name__}({state})"

    # -- public
    def fit(self, X: pd.DataFrame, y) -> Peer:
        """Fit on named features ``X`` and labels ``y`` (rows with NaN labels are dropped); returns self."""
        if not isinstance(X, pd.DataFrame):
            raise InputError(f"{type(self).__name__}.fit needs a DataFrame of named features")
        y = np.asarray(y, dtype=float)
        if len(y) != len(X):
            raise InputError(f"X has {len(X)} rows but y has {len(y)}")
        ok = np.isfinite(y)
        if ok.sum() < 10:
            raise InputError(f"{self.name}: fewer than 10 finite labels among {len(y)} rows")
        for attr in ("model_", "feature_names_in_", "fit_seconds_", "n_train_"):
            self.__dict__.pop(attr, None)
        Xa = X.to_numpy(dtype=float)[ok]
        t0 = time.perf_counter()
        with _threads(self.n_jobs):
            self.model_ = self._fit(Xa, y[ok])
        self.fit_seconds_ = time.perf_counter() - t0
        self.feature_names_in_ = [str(c) for c in X.columns]
        self.n_train_ = int(ok.sum())
        return self

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        """Predictions for the fitted feature columns of ``X`` (label units)."""
        X = self._check(X)
        with _threads(self.n_jobs):
            return np.asarray(self._predict(X), dtype=float)

    def predict_interval(self, X: pd.DataFrame, level: float = 0.68) -> tuple[np.ndarray, np.ndarray]:
        """Central ``level`` interval (lo, hi); only for peers with ``has_intervals``."""
        if not self.has_intervals:
            raise InputError(f"the {self.name!r} peer gives no intervals (peers with intervals: "
                             f"{[n for n, c in PEERS.items() if c.has_intervals]})")
        if not 0 < level < 1:
            raise InputError(f"The 'level' parameter must be in (0, 1). Got {level} instead.")
        X = self._check(X)
        with _threads(self.n_jobs):
            return self._interval(X, level)

    # -- helpers
    def _check(self, X: pd.DataFrame) -> np.ndarray:
        if not hasattr(self, "model_"):
            raise NotFittedError(f"This {type(self).__name__} is not fitted yet. Call 'fit' with features and labels first.")
        missing = [c for c in self.feature_names_in_ if c not in X.columns]
        if missing:
            raise InputError(f"{self.name}: {len(missing)} fitted features absent from the data (first: {missing[:5]})")
        return X[self.feature_names_in_].to_numpy(dtype=float)

    def _fit(self, X: np.ndarray, y: np.ndarray):
        raise NotImplementedError

    def _predict(self, X: np.ndarray) -> np.ndarray:
        return self.model_.predict(X)

    def _interval(self, X: np.ndarray, level: float):
        raise NotImplementedError


def _threads(n: int):
    """Cap BLAS/OpenMP threads (numpy inside scikit-learn over-subscribes a shared machine)."""
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=max(1, int(n)))


def _imputed(estimator, scale: bool):
    """``estimator`` behind a median imputer (and a standard scaler): NaN magnitudes are allowed."""
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    steps = [SimpleImputer(strategy="median", keep_empty_features=True)]
    if scale:
        steps.append(StandardScaler())
    return make_pipeline(*steps, estimator)


class LightGBMPeer(Peer):
    """Plain LightGBM on all features, fixed hyper-parameters, no early stopping."""

    name = "lightgbm"
    description = "LightGBM, all features, fixed parameters"
    reference = "Ke et al. 2017"
    DEFAULTS: ClassVar[dict[str, Any]] = {"n_estimators": 600, "learning_rate": 0.05, "num_leaves": 63, "max_depth": 8,
                "min_child_samples": 20}

    def _fit(self, X, y):
        from lightgbm import LGBMRegressor

        return LGBMRegressor(**self.params, random_state=self.seed, n_jobs=self.n_jobs, verbose=-1).fit(X, y)


class RandomForestRFEPeer(Peer):
    """Random forest after recursive feature elimination by impurity importance (as JPLUS-STEPEs).

    The elimination (``rfe_trees`` trees, at most ``rfe_rows`` seeded rows, ``rfe_step`` share
    dropped per step down to ``n_features``) ranks features; the final forest of ``n_estimators``
    trees uses the kept ones. Intervals: quantiles of the per-tree predictions (not calibrated:
    they describe the forest's disagreement, not the label noise, and usually under-cover).
    """

    name = "rf-rfe"
    description = "random forest + RFE (impurity importance)"
    reference = "Breiman 2001; Guyon et al. 2002; as J-PLUS DR2 random forests"
    has_intervals = True
    DEFAULTS: ClassVar[dict[str, Any]] = {"n_estimators": 150, "max_features": 0.33, "min_samples_leaf": 2, "n_features": 30,
                "rfe_step": 0.2, "rfe_trees": 40, "rfe_rows": 6000}

    def _fit(self, X, y):
        from sklearn.ensemble import RandomForestRegressor
        from sklearn.feature_selection import RFE

        p = self.params
        rng = np.random.default_rng(self.seed)
        idx = rng.choice(len(y), size=min(len(y), int(p["rfe_rows"])), replace=False)
        n_keep = int(min(p["n_features"], X.shape[1]))
        from sklearn.impute import SimpleImputer

        imp = SimpleImputer(strategy="median", keep_empty_features=True)
        Xi = imp.fit_transform(X)
        rfe = RFE(RandomForestRegressor(n_estimators=int(p["rfe_trees"]), max_features=p["max_features"],
                                        min_samples_leaf=p["min_samples_leaf"], random_state=self.seed,
                                        n_jobs=self.n_jobs),
                  n_features_to_select=n_keep, step=p["rfe_step"]).fit(Xi[idx], y[idx])
        self.support_ = rfe.support_
        forest = RandomForestRegressor(n_estimators=int(p["n_estimators"]), max_features=p["max_features"],
                                       min_samples_leaf=p["min_samples_leaf"], random_state=self.seed,
                                       n_jobs=self.n_jobs).fit(Xi[:, rfe.support_], y)
        return (imp, forest)

    def _transform(self, X):
        imp, _ = self.model_
        return imp.transform(X)[:, self.support_]

    def _predict(self, X):
        return self.model_[1].predict(self._transform(X))

    def _interval(self, X, level):
        Xs = self._transform(X)
        trees = np.stack([t.predict(Xs) for t in self.model_[1].estimators_], axis=1)
        a = (1.0 - level) / 2.0
        return np.quantile(trees, a, axis=1), np.quantile(trees, 1.0 - a, axis=1)

    @property
    def selected_features_(self) -> list[str]:
        """Names of the features the forest kept after RFE."""
        if not hasattr(self, "support_"):
            raise NotFittedError("This RandomForestRFEPeer is not fitted yet. Call 'fit' first.")
        return [n for n, s in zip(self.feature_names_in_, self.support_) if s]


class XGBoostPeer(Peer):
    """XGBoost (``hist`` trees), fixed hyper-parameters (as Andrae et al. 2023 on Gaia XP)."""

    name = "xgboost"
    description = "XGBoost hist, all features, fixed parameters"
    reference = "Chen & Guestrin 2016; as Andrae et al. 2023"
    DEFAULTS: ClassVar[dict[str, Any]] = {"n_estimators": 600, "learning_rate": 0.05, "max_depth": 7, "subsample": 0.8,
                "colsample_bytree": 0.8, "min_child_weight": 2.0}

    def _fit(self, X, y):
        from xgboost import XGBRegressor

        return XGBRegressor(**self.params, tree_method="hist", random_state=self.seed, n_jobs=self.n_jobs,
                            verbosity=0).fit(X, y)


class MLPPeer(Peer):
    """A small neural network (scikit-learn ``MLPRegressor``) on standardised features and label.

    Early stopping holds out ``validation_fraction`` of the training rows (seeded).
    """

    name = "mlp"
    description = "MLP (2 hidden layers), standardised X and y"
    reference = "as SPHINX (Whitten et al. 2019), CSNet (Yang et al. 2021)"
    DEFAULTS: ClassVar[dict[str, Any]] = {"hidden_layer_sizes": (64, 64), "alpha": 1e-4, "learning_rate_init": 1e-3, "max_iter": 300,
                "batch_size": 256, "validation_fraction": 0.1, "n_iter_no_change": 15}

    def _fit(self, X, y):
        from sklearn.compose import TransformedTargetRegressor
        from sklearn.neural_network import MLPRegressor
        from sklearn.preprocessing import StandardScaler

        mlp = MLPRegressor(**self.params, early_stopping=True, random_state=self.seed)
        return TransformedTargetRegressor(_imputed(mlp, scale=True), transformer=StandardScaler()).fit(X, y)


class KNNPeer(Peer):
    """k nearest neighbours on standardised features, weighted by inverse distance."""

    name = "knn"
    description = "k nearest neighbours, standardised, distance-weighted"
    reference = "e.g. Cover & Hart 1967"
    DEFAULTS: ClassVar[dict[str, Any]] = {"n_neighbors": 15, "weights": "distance"}

    def _fit(self, X, y):
        from sklearn.neighbors import KNeighborsRegressor

        return _imputed(KNeighborsRegressor(**self.params, n_jobs=self.n_jobs), scale=True).fit(X, y)


PEERS: dict[str, type[Peer]] = {c.name: c for c in (LightGBMPeer, RandomForestRFEPeer, XGBoostPeer, MLPPeer, KNNPeer)}
"""Registered peers: name -> class."""


def get_peer(name: str, seed: int = 42, n_jobs: int = 2, **params: Any) -> Peer:
    """A new, unfitted peer called ``name`` (see :data:`PEERS`)."""
    if name not in PEERS:
        near = difflib.get_close_matches(name, list(PEERS), n=1)
        hint = f" Did you mean {near[0]!r}?" if near else ""
        raise InputError(f"Unknown peer {name!r}.{hint} Known: {', '.join(PEERS)}")
    return PEERS[name](seed=seed, n_jobs=n_jobs, **params)


def fit_peer(name: str, features: pd.DataFrame, table: pd.DataFrame, target: str, train_splits=("train",),
             seed: int = 42, n_jobs: int = 2, **params: Any) -> Peer:
    """Fit peer ``name`` for ``target`` on the rows of ``table`` whose ``split`` is in ``train_splits``.

    Parameters
    ----------
    name : str
        A key of :data:`PEERS`.
    features : DataFrame
        Features of the rows of ``table`` (same index).
    table : DataFrame
        Canonical table with the label column ``target`` and ``split``.
    target : str
        Label (``teff`` K, ``logg`` dex, ``feh`` dex).
    train_splits : sequence of str, default=("train",)
        Splits the peer may learn from (the test split must never be among them).
    """
    if "split" not in table:
        raise InputError(f"the table ({len(table)} rows) has no 'split' column")
    if "test" in train_splits:
        raise InputError("train_splits must not contain 'test': the blind test stays blind")
    if target not in table:
        raise InputError(f"the table has no label column {target!r}")
    rows = table["split"].isin(list(train_splits)).to_numpy()
    peer = get_peer(name, seed=seed, n_jobs=n_jobs, **params)
    peer.fit(features.loc[table.index[rows]], table.loc[rows, target].to_numpy(float))
    log.info("%s/%s: fitted on %d stars in %.1f s", name, target, peer.n_train_, peer.fit_seconds_)
    return peer
