"""The network averaged with the trees: forward pass, persistence, blend, smooth-function accuracy (issue 5)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from ocfeh.exceptions import InputError, NotFittedError
from ocfeh.predict.predictor import from_model_dir
from ocfeh.train.features import FeatureConfig, make_features
from ocfeh.train.model import ModelConfig, TargetModel
from ocfeh.train.network import NetworkRegressor

from .test_features_synth import synthetic_sample

FC = FeatureConfig(bands="gaia+wise", extinction="pivot")


@pytest.fixture(scope="module")
def data():
    t = synthetic_sample(1500, seed=11)
    return t, make_features(t, FC)


def test_forward_pass_equals_scikit_learn_and_nan_is_filled():
    from sklearn.neural_network import MLPRegressor

    rng = np.random.default_rng(1)
    X = rng.normal(size=(600, 4))
    y = X[:, 0] ** 2 + X[:, 1]
    net = NetworkRegressor(layers=(16, 8), seed=3, max_iter=50).fit(X, y)
    ref = MLPRegressor(hidden_layer_sizes=(16, 8), alpha=1e-4, batch_size=256, max_iter=50, early_stopping=True,
                       validation_fraction=0.1, n_iter_no_change=25, random_state=3)
    Z = (X - X.mean(0)) / X.std(0)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref.fit(Z, (y - y.mean()) / y.std())
    np.testing.assert_allclose(net.predict(X), ref.predict(Z) * y.std() + y.mean(), rtol=1e-10, atol=1e-10)
    Xn = X.copy()
    Xn[:5, 2] = np.nan  # a missing feature takes the training median
    filled = X.copy()
    filled[:5, 2] = np.median(X[:, 2])
    np.testing.assert_allclose(net.predict(Xn), net.predict(filled))


def test_save_load_round_trip_and_bad_files(tmp_path):
    rng = np.random.default_rng(2)
    X, y = rng.normal(size=(300, 3)), rng.normal(size=300)
    with pytest.raises(NotFittedError):
        NetworkRegressor().predict(X)
    net = NetworkRegressor(layers=(8,), n_models=2, seed=0, max_iter=30).fit(X, y)
    net.save(tmp_path / "n.npz")
    back = NetworkRegressor.load(tmp_path / "n.npz")
    np.testing.assert_array_equal(back.predict(X), net.predict(X))
    assert back.n_models == 2 and back.layers == (8,)
    with pytest.raises(InputError, match="takes 3 features"):
        net.predict(X[:, :2])
    (tmp_path / "bad.npz").write_bytes(b"not a zip")
    with pytest.raises(InputError, match="cannot read"):
        NetworkRegressor.load(tmp_path / "bad.npz")
    with pytest.raises(InputError, match="20 finite"):
        NetworkRegressor().fit(X[:10], y[:10])


def test_network_learns_a_smooth_function_better_than_few_trees():
    """A smooth label (a colour-temperature-like curve) is fitted closer by the network than by steps."""
    rng = np.random.default_rng(4)
    X = rng.uniform(-2, 2, size=(3000, 2))
    y = 5000 + 800 * np.tanh(X[:, 0]) + 200 * X[:, 1] ** 2
    tr, te = slice(0, 2500), slice(2500, None)
    net = NetworkRegressor(layers=(64, 64), seed=0).fit(X[tr], y[tr])
    mae = np.mean(np.abs(net.predict(X[te]) - y[te]))
    assert mae < 15  # K, against a label spread of 800 K


def test_blend_is_the_weighted_mean_and_survives_save_load(data, tmp_path):
    t, f = data
    tr = (t["split"] != "test").to_numpy()
    net = {"weight": 0.4, "layers": [32, 32], "alpha": 1e-4}
    m = TargetModel("teff", params={"learning_rate": 0.15}, n_estimators=100, feature_config=FC.model_dump(mode="json"),
                    network=net).fit(f[tr], t.loc[tr, "teff"])
    trees = TargetModel("teff", params={"learning_rate": 0.15}, n_estimators=100).fit(f[tr], t.loc[tr, "teff"])
    X = f.to_numpy(float)
    np.testing.assert_allclose(m.predict(f), 0.6 * trees.predict(f) + 0.4 * m.network_.predict(X), rtol=1e-9)
    card = json.loads(m.save(tmp_path).read_text())
    assert card["network"]["weight"] == 0.4 and (tmp_path / card["network"]["file"]).is_file()
    back = TargetModel.load(tmp_path, "teff")
    np.testing.assert_allclose(back.predict(t), m.predict(f), rtol=1e-9)
    # the survey-scale predictor (float32 features, contiguous arrays) blends too
    pred = from_model_dir(tmp_path)
    np.testing.assert_allclose(pred.point(t)["teff"], m.predict(f), rtol=1e-5)
    (tmp_path / card["network"]["file"]).unlink()
    with pytest.raises(InputError, match="does not exist"):
        TargetModel.load(tmp_path, "teff")


def test_blend_beats_trees_alone_on_smooth_photometry(data):
    """On noiseless toy photometry (smooth in the colours) the blend recovers Teff better than trees alone."""
    t, f = data
    tr, te = (t["split"] != "test").to_numpy(), (t["split"] == "test").to_numpy()
    kw = {"params": {"learning_rate": 0.1}, "n_estimators": 300}
    trees = TargetModel("teff", **kw).fit(f[tr], t.loc[tr, "teff"])
    blend = TargetModel("teff", **kw, network=ModelConfig(network_weight=0.5).network()).fit(f[tr], t.loc[tr, "teff"])
    truth = t.loc[te, "teff_true"].to_numpy()
    mae_trees = np.mean(np.abs(trees.predict(f[te]) - truth))
    mae_blend = np.mean(np.abs(blend.predict(f[te]) - truth))
    assert mae_blend < 0.97 * mae_trees  # 45.7 K against 48.5 K (seeded)


def test_weight_outside_unit_interval_is_refused(data):
    t, f = data
    with pytest.raises(InputError, match=r"\[0, 1\]"):
        TargetModel("teff", n_estimators=5, network={"weight": 1.5}).fit(f, t["teff"])
    assert ModelConfig(network_weight=0).network() is None and ModelConfig().network()["weight"] == 0.5
    with pytest.raises(ValueError):
        ModelConfig(network_weight=-0.1)


def test_trained_run_with_the_network_saves_calibrates_and_predicts(tmp_path):
    """train_models -> model cards -> calibrated predictor, as the train and calibrate stages chain them."""
    from ocfeh.predict import calibrate_model_dir, load_predictor
    from ocfeh.profiles import apply_profile
    from ocfeh.train.selection import SelectionConfig
    from ocfeh.train.training import save_trained, train_models

    t = synthetic_sample(1200, seed=3, label_noise=0.02)
    mc = apply_profile(ModelConfig(n_estimators=60, network_weight=0.5, network_layers=[32, 32]), "small")
    sc = apply_profile(SelectionConfig(min_features=4, step=0.35, rfecv_step=3), "small")
    assert mc.network_weight == 0.5 and apply_profile(ModelConfig(), "small").network_weight == 0.0
    assert apply_profile(ModelConfig(), "full").network() == ModelConfig().network()  # poster scale: on
    model, results = train_models(t, FC, sc, mc, seed=1)
    assert all(m.network_ is not None for m in model.models.values())
    save_trained(model, results, tmp_path, {}, 1, sc, FC.resolved_bands())
    for target in ("teff", "logg", "feh"):
        assert (tmp_path / f"{target}_network.npz").is_file()
    calibrate_model_dir(tmp_path, t)
    out = load_predictor(tmp_path).predict(t[t["split"] == "test"])
    test = t[t["split"] == "test"]
    np.testing.assert_allclose(out["feh"], model.models["feh"].predict(test), rtol=1e-5, atol=1e-6)
    inside = (out["feh_lo68"] <= test["feh"].to_numpy()) & (test["feh"].to_numpy() <= out["feh_hi68"])
    assert 0.5 < inside.mean() < 0.85  # conformal 68% on about 120 test stars


def test_learning_rate_batch_and_several_labels_match_scikit_learn(tmp_path):
    """One network for two labels, with its own step and batch, is scikit-learn's MLP on standardised labels."""
    import warnings

    from sklearn.neural_network import MLPRegressor

    rng = np.random.default_rng(5)
    X = rng.normal(size=(500, 3))
    Y = np.c_[4000 + 300 * X[:, 0], 0.2 * X[:, 1] ** 2 - 1.0]
    Y[:7, 1] = np.nan  # a row with any missing label is left out
    net = NetworkRegressor(layers=(8,), seed=1, max_iter=40, learning_rate=3e-3, batch_size=64).fit(X, Y)
    ok = np.isfinite(Y).all(axis=1)
    Xk, Yk = X[ok], Y[ok]
    ref = MLPRegressor(hidden_layer_sizes=(8,), alpha=1e-4, batch_size=64, learning_rate_init=3e-3, max_iter=40,
                       early_stopping=True, validation_fraction=0.1, n_iter_no_change=25, random_state=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref.fit((Xk - Xk.mean(0)) / Xk.std(0), (Yk - Yk.mean(0)) / Yk.std(0))
    expect = ref.predict((X - Xk.mean(0)) / Xk.std(0)) * Yk.std(0) + Yk.mean(0)
    got = net.predict(X)
    assert got.shape == (500, 2)
    np.testing.assert_allclose(got, expect, rtol=1e-9, atol=1e-9)
    net.save(tmp_path / "two.npz")
    back = NetworkRegressor.load(tmp_path / "two.npz")
    assert (back.learning_rate, back.batch_size, back.n_outputs_) == (3e-3, 64, 2)
    np.testing.assert_array_equal(back.predict(X), got)
    with pytest.raises(InputError, match=r"shape \(n,\) or \(n, k\)"):
        net.fit(X, Y[:, :, None])


def test_a_file_written_before_several_labels_still_loads(tmp_path):
    """Network files that hold one (mean, scale) pair and no step or batch load as one-label networks."""
    rng = np.random.default_rng(6)
    X, y = rng.normal(size=(300, 3)), rng.normal(size=300)
    net = NetworkRegressor(layers=(8,), seed=0, max_iter=30).fit(X, y)
    net.save(tmp_path / "n.npz")
    with np.load(tmp_path / "n.npz") as f:
        old = {k: f[k] for k in f.files if k not in ("learning_rate", "batch_size")}
    old["y"] = old["y"].ravel()
    np.savez(tmp_path / "old.npz", **old)
    back = NetworkRegressor.load(tmp_path / "old.npz")
    assert back.n_outputs_ == 1 and back.learning_rate == 1e-3
    pred = back.predict(X)
    assert pred.shape == (300,)
    np.testing.assert_array_equal(pred, net.predict(X))
