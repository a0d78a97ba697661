"""Peers: each fits, beats a constant predictor, follows the estimator contract."""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest

from ocfeh.exceptions import InputError, NotFittedError
from ocfeh.validation.peers import PEERS, fit_peer, get_peer

# small, fast settings per peer (the machine is shared: one thread each)
FAST = {
    "lightgbm": {"n_estimators": 80, "learning_rate": 0.1, "num_leaves": 15},
    "rf-rfe": {"n_estimators": 40, "n_features": 4, "rfe_trees": 15, "rfe_step": 0.34},
    "xgboost": {"n_estimators": 80, "learning_rate": 0.1, "max_depth": 4},
    "mlp": {"hidden_layer_sizes": (32, 32), "max_iter": 150},
    "knn": {"n_neighbors": 10},
}


@pytest.fixture(scope="module")
def synthetic():
    """1200 stars, 6 features; y a smooth non-linear function of two of them plus noise 0.05."""
    rng = np.random.default_rng(3)
    n = 1200
    X = pd.DataFrame(rng.normal(size=(n, 6)), columns=[f"c{i}" for i in range(6)])
    X.iloc[::53, 4] = np.nan  # missing magnitudes must be tolerated
    y = 0.8 * np.tanh(X["c0"].to_numpy()) + 0.3 * X["c1"].to_numpy() ** 2 + 0.05 * rng.normal(size=n)
    split = np.where(np.arange(n) < 900, "train", "test")
    return X, y, split


def test_registry_has_the_five_peers():
    assert set(PEERS) == {"lightgbm", "rf-rfe", "xgboost", "mlp", "knn"}
    with pytest.raises(InputError, match="Did you mean 'xgboost'"):
        get_peer("xgbost")
    with pytest.raises(InputError, match="no parameters"):
        get_peer("knn", n_trees=3)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("name", list(PEERS))
def test_peer_beats_constant(name, synthetic):
    X, y, split = synthetic
    tr, te = split == "train", split == "test"
    peer = get_peer(name, seed=1, n_jobs=1, **FAST[name])
    with pytest.raises(NotFittedError, match="not fitted yet"):
        peer.predict(X)
    assert peer.fit(X[tr], y[tr]) is peer
    pred = peer.predict(X[te])
    mae = np.mean(np.abs(pred - y[te]))
    mae_const = np.mean(np.abs(np.median(y[tr]) - y[te]))
    assert mae < 0.6 * mae_const, (name, mae, mae_const)
    assert peer.fit_seconds_ > 0 and peer.n_train_ == tr.sum()
    assert peer.feature_names_in_ == list(X.columns)
    # pickles round-trip with identical predictions
    again = pickle.loads(pickle.dumps(peer))
    np.testing.assert_allclose(again.predict(X[te]), pred)
    # columns are matched by name, not position
    np.testing.assert_allclose(peer.predict(X[te][X.columns[::-1]]), pred)


def test_rf_intervals_and_selection(synthetic):
    X, y, split = synthetic
    tr, te = split == "train", split == "test"
    peer = get_peer("rf-rfe", seed=0, n_jobs=1, **FAST["rf-rfe"]).fit(X[tr], y[tr])
    sel = peer.selected_features_
    assert len(sel) == 4 and {"c0", "c1"} <= set(sel)  # the two informative features survive RFE
    lo68, hi68 = peer.predict_interval(X[te], 0.68)
    lo95, hi95 = peer.predict_interval(X[te], 0.95)
    assert np.all(lo95 <= lo68) and np.all(hi68 <= hi95) and np.all(lo68 <= hi68)
    with pytest.raises(InputError, match="gives no intervals"):
        get_peer("knn").predict_interval(X)


def test_fit_peer_uses_train_split_only(synthetic):
    X, y, split = synthetic
    table = pd.DataFrame({"feh": y, "split": split}, index=X.index)
    peer = fit_peer("knn", X, table, "feh", n_jobs=1, n_neighbors=5)
    assert peer.n_train_ == (split == "train").sum()
    with pytest.raises(InputError, match="blind test"):
        fit_peer("knn", X, table, "feh", train_splits=("train", "test"))
    with pytest.raises(InputError, match="6 fitted features absent"):
        get_peer("knn").fit(X.iloc[:100], y[:100]).predict(X[["c0"]].rename(columns={"c0": "missing"}))
