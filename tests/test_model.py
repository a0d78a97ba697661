"""The estimator: sklearn conventions, SHAP additivity, save/load with model card (issue 5)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from ocfeh.exceptions import InputError, NotFittedError, OcfehWarning
from ocfeh.train.backends import get_backend, warm_rounds
from ocfeh.train.features import FeatureConfig, make_features
from ocfeh.train.model import StellarParameterModel, TargetModel

from .test_features_synth import synthetic_sample

FC = FeatureConfig(bands="gaia+wise", extinction="pivot")
BACKENDS = ["lightgbm", "catboost"]


@pytest.fixture(scope="module")
def data():
    t = synthetic_sample(700, seed=5)
    return t, make_features(t, FC)


def _model(backend, target="teff"):
    params = {"learning_rate": 0.15, "max_depth": 6, "num_leaves": 31}
    return TargetModel(target, backend, params, n_estimators=150, feature_config=FC.model_dump(mode="json"), n_jobs=1)


@pytest.mark.parametrize("backend", BACKENDS)
def test_contract_fit_returns_self_and_learned_attributes(backend, data):
    t, f = data
    m = _model(backend)
    assert not hasattr(m, "booster_") and m.params["max_depth"] == 6  # constructor stores only
    with pytest.raises(NotFittedError, match="not fitted yet"):
        m.predict(f)
    with pytest.raises(AttributeError):  # NotFittedError is also an AttributeError
        m.predict(f)
    assert m.fit(f, t["teff"]) is m
    assert m.feature_names_in_ == list(f.columns)
    assert m.bands_ == ["G", "BP", "RP", "W1", "W2"]
    assert m.label_range_[0] == pytest.approx(t["teff"].min())


def test_a_model_with_the_a0_feature_builds_it_from_a_star_table(data, tmp_path):
    t, _ = data
    fc = FeatureConfig(bands="gaia+wise", extinction="pivot", a0_feature=True)
    f = make_features(t, fc)
    m = TargetModel("teff", "lightgbm", {"learning_rate": 0.15, "num_leaves": 15}, n_estimators=40,
                    feature_config=fc.model_dump(mode="json"), n_jobs=1).fit(f, t["teff"])
    assert m.bands_ == ["G", "BP", "RP", "W1", "W2"] and m.feature_names_in_[-1] == "A_0"
    m.save(tmp_path)
    m2 = TargetModel.load(tmp_path, "teff")
    np.testing.assert_allclose(m2.predict(t), m.predict(f))  # built from mag_*, distance_pc and a0
    with pytest.raises(InputError, match="a0"):
        m2.predict(t.drop(columns="a0"))


@pytest.mark.parametrize("backend", BACKENDS)
def test_recovers_teff_and_shap_is_additive(backend, data):
    t, f = data
    tr, te = t["split"] != "test", t["split"] == "test"
    m = _model(backend).fit(f[tr], t.loc[tr, "teff"])
    pred = m.predict(f[te])
    mae = np.mean(np.abs(pred - t.loc[te, "teff_true"]))
    assert mae < 150  # K: noiseless toy photometry, 490 training stars
    shap = m.shap_values(f[te])
    offset = pred - shap.sum(axis=1).to_numpy()  # prediction = bias + sum of contributions
    assert np.ptp(offset) < 1e-3 * np.ptp(pred)


@pytest.mark.parametrize("backend", BACKENDS)
def test_save_load_round_trip_and_card(backend, data, tmp_path):
    t, f = data
    m = _model(backend).fit(f, t["teff"])
    card_path = m.save(tmp_path, metrics={"cv_mae": 1.0}, config={"a": 1})
    card = json.loads(card_path.read_text())
    assert card["features"] == list(f.columns) and card["bands"] == m.bands_
    assert card["provenance"]["config_hash"] and card["provenance"]["ocfeh_version"]
    assert (tmp_path / card["model_file"]).suffix == (".txt" if backend == "lightgbm" else ".cbm")
    m2 = TargetModel.load(tmp_path, "teff")
    np.testing.assert_allclose(m2.predict(f), m.predict(f), rtol=1e-9)
    # a canonical star table works too: features are rebuilt from the stored config
    np.testing.assert_allclose(m2.predict(t), m.predict(f), rtol=1e-9)


def test_missing_bands_are_named(data, tmp_path):
    t, f = data
    _model("lightgbm").fit(f, t["teff"]).save(tmp_path)
    m = TargetModel.load(tmp_path, "teff")
    with pytest.raises(InputError, match="W1, W2"):
        m.predict(t.drop(columns=["mag_W1", "mag_W2"]))
    with pytest.raises(InputError, match="features absent"):
        m.predict(pd.DataFrame({"x": [1.0]}))


def test_version_mismatch_warns(data, tmp_path):
    t, f = data
    _model("lightgbm").fit(f, t["teff"]).save(tmp_path)
    card = json.loads((tmp_path / "teff.json").read_text())
    card["provenance"]["ocfeh_version"] = "0.0.1"
    (tmp_path / "teff.json").write_text(json.dumps(card))
    with pytest.warns(OcfehWarning, match="0.0.1"):
        TargetModel.load(tmp_path, "teff")


def test_container_predicts_a_frame_and_bad_backend_is_explained(data, tmp_path):
    t, f = data
    models = {k: _model("lightgbm", k).fit(f, t[k]) for k in ("teff", "logg", "feh")}
    spm = StellarParameterModel(models)
    spm.save(tmp_path)
    out = StellarParameterModel.load(tmp_path).predict(t.iloc[:7])
    assert list(out.columns) == ["teff", "logg", "feh"] and out.index.equals(t.index[:7])
    from astropy.table import Table

    rows = t.iloc[:3]
    for bad in (rows.iloc[0].to_dict(), rows.to_dict("records"), rows.to_numpy(), rows.iloc[0]):
        with pytest.raises(TypeError, match="expected a pandas DataFrame"):
            spm.predict(bad)
        with pytest.raises(TypeError, match="expected a pandas DataFrame"):
            models["feh"].predict(bad)
    pd.testing.assert_frame_equal(spm.predict(Table.from_pandas(rows)), spm.predict(rows.reset_index(drop=True)))
    with pytest.raises(InputError, match="must be one of"):
        get_backend("xgb")
    with pytest.raises(InputError, match="no model cards"):
        StellarParameterModel.load(tmp_path / "nowhere")


@pytest.mark.parametrize("backend", BACKENDS)
def test_seed_ensemble_is_one_model_predicting_its_members_mean(backend, data, tmp_path):
    t, f = data
    params = {"learning_rate": 0.15, "max_depth": 6, "num_leaves": 31, "feature_fraction": 0.7,
              "bagging_fraction": 0.7, "rsm": 0.7}
    kw = {"n_estimators": 40, "feature_config": FC.model_dump(mode="json"), "n_jobs": 1}
    ens = TargetModel("teff", backend, params, n_models=3, seed=7, **kw).fit(f, t["teff"])
    members = [TargetModel("teff", backend, params, seed=7 + i, **kw).fit(f, t["teff"]) for i in range(3)]
    preds = np.array([m.predict(f) for m in members])
    assert np.ptp(preds, axis=0).max() > 1.0  # the seeds give different members ...
    np.testing.assert_allclose(ens.predict(f), preds.mean(axis=0), rtol=1e-9, atol=1e-6)  # ... averaged
    shap = ens.shap_values(f)
    np.testing.assert_allclose(shap.to_numpy(), np.mean([m.shap_values(f).to_numpy() for m in members], axis=0),
                               rtol=1e-6, atol=1e-6)
    # one model file, the ensemble size on the card, and the same predictions after loading
    card = json.loads(ens.save(tmp_path).read_text())
    assert card["n_models"] == 3 and len(list(tmp_path.glob("teff.*"))) == 2
    m2 = TargetModel.load(tmp_path, "teff")
    assert m2.n_models == 3
    np.testing.assert_allclose(m2.predict(t), ens.predict(f), rtol=1e-9)
    with pytest.raises(InputError, match="n_models"):
        TargetModel("teff", backend, params, n_models=0, **kw).fit(f, t["teff"])


@pytest.mark.parametrize("backend", BACKENDS)
def test_huber_delta_reaches_the_backend_and_resists_outliers(backend, data):
    t, f = data
    tr, te = (t["split"] != "test").to_numpy(), (t["split"] == "test").to_numpy()
    y = t["teff"].to_numpy().copy()
    rng = np.random.default_rng(0)
    bad = np.flatnonzero(tr)[rng.random(tr.sum()) < 0.1]
    y[bad] += rng.choice([-1, 1], bad.size) * 3000.0  # 10% gross label outliers in the training rows
    params = {"learning_rate": 0.1, "max_depth": 6, "num_leaves": 31}

    def fit(objective, **extra):
        return TargetModel("teff", backend, {**params, **extra}, 200, objective, n_jobs=1).fit(f[tr], y[tr])

    def mae(m):
        return np.mean(np.abs(m.predict(f[te]) - t.loc[te, "teff_true"].to_numpy()))

    huber = fit("huber", huber_delta=100.0)
    if backend == "catboost":
        assert huber.booster_.get_params()["loss_function"] == "Huber:delta=100.0"
        return
    l2 = mae(fit("l2"))
    assert mae(huber) < 0.7 * l2  # outliers pull the l2 fit; the Huber loss caps their gradient at the delta
    assert mae(fit("huber", huber_delta=1e9)) == pytest.approx(l2, rel=1e-6)  # delta above every residual: l2


@pytest.mark.parametrize("backend", BACKENDS)
def test_huber_fit_starts_with_l2_rounds(backend, data):
    t, f = data
    assert warm_rounds("huber", {"learning_rate": 0.1}, 60) == 20  # 2 / rate ...
    assert warm_rounds("huber", {"learning_rate": 0.01}, 60) == 30  # ... at most half the rounds
    assert warm_rounds("l2", {"learning_rate": 0.1}, 60) == 0 and warm_rounds("huber", {}, 1) == 0
    # a 20 K delta caps each Huber round at 0.1 x 20 K: from the mean alone, 60 rounds could move a star
    # by at most 120 K while Teff spreads over 3000 K; the leading l2 rounds take the bulk
    y = t["teff"].to_numpy()
    m = TargetModel("teff", backend, {"learning_rate": 0.1, "huber_delta": 20.0, "max_depth": 6}, 60, "huber",
                    n_jobs=1).fit(f, y)
    assert np.mean(np.abs(m.predict(f) - y)) < 0.2 * np.mean(np.abs(y - y.mean()))
