"""The estimator: sklearn conventions, SHAP additivity, save/load with model card (issue 5)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from ocfeh.exceptions import InputError, NotFittedError, OcfehWarning
from ocfeh.features import FeatureConfig, make_features
from ocfeh.model import StellarParameterModel, TargetModel, get_backend

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
    with pytest.raises(InputError, match="must be one of"):
        get_backend("xgb")
    with pytest.raises(InputError, match="no model cards"):
        StellarParameterModel.load(tmp_path / "nowhere")
