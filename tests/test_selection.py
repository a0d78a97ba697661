"""Selection and tuning: blind test, noise features dropped, one-SE rule, stability (issue 5)."""

from __future__ import annotations

import numpy as np
import pytest

from ocfeh.exceptions import InputError, OcfehError
from ocfeh.profiles import apply_profile
from ocfeh.train.backends import get_backend
from ocfeh.train.features import make_features
from ocfeh.train.model import ModelConfig
from ocfeh.train.selection import (
    SHAP_HYPETUNE_HELP,
    SelectionConfig,
    cv_score,
    kfold_indices,
    loss_params,
    one_standard_error_choice,
    select_target,
    training_rows,
    weakest_features,
)

from .test_features_synth import synthetic_sample

MC = apply_profile(ModelConfig(n_estimators=60), "small")
SC = apply_profile(SelectionConfig(min_features=4, step=0.35, rfecv_step=3, stability_repeats=2), "small")


def _data(n=320, seed=7):
    t = synthetic_sample(n, seed=seed, label_noise=0.05)
    f = make_features(t, bands="gaia+wise", extinction="pivot")
    rng = np.random.default_rng(seed)
    for i in range(3):  # pure-noise features must not survive
        f[f"noise{i}"] = rng.normal(size=n)
    return t, f


def test_profiles_apply_only_to_unset_fields():
    assert MC.n_jobs == 1 and MC.n_estimators == 60
    assert SC.cv_folds == 2 and SC.min_features == 4
    with pytest.raises(ValueError):
        SelectionConfig(n_trial=3)


def test_selection_never_reads_the_test_split():
    t, f = _data()
    poisoned = t.copy()
    test = poisoned["split"] == "test"
    poisoned.loc[test, "teff"] = 1e6  # absurd labels: any use of them would change the result
    f_poisoned = f.copy()
    f_poisoned.loc[test.to_numpy()] = 99.0
    r1 = select_target(poisoned, f_poisoned, "teff", MC, SC, seed=3)
    r2 = select_target(t[~test], f[~test.to_numpy()], "teff", MC, SC, seed=3)
    assert r1.features == r2.features and r1.params == r2.params
    assert r1.cv_mae == pytest.approx(r2.cv_mae, rel=1e-12)
    assert r1.n_rows == int((~test).sum())
    # what it found is sensible: noise dropped, a colour kept, CV MAE well below the label spread
    assert not any(c.startswith("noise") for c in r1.features)
    assert r1.cv_mae < 0.3 * t["teff"].std()
    assert 0 < len(r1.features) <= len(r1.rfe_features) < f.shape[1]
    assert r1.rfecv_curve and set(r1.features) <= set(r1.rfe_features)
    assert all(0.0 <= v <= 1.0 for v in r1.stability.values()) and len(r1.stability) == len(r1.rfe_features)
    assert r1.ranking[: len(r1.features)] == r1.features and len(set(r1.ranking)) == len(r1.ranking)
    imp = list(r1.importance.values())
    assert imp == sorted(imp, reverse=True)


def test_the_a0_feature_is_never_eliminated():
    assert weakest_features(np.array([0.0, 2.0, 1.0]), ["A_0", "b", "c"], 2) == [2, 1]
    assert weakest_features(np.array([0.0, 2.0, 1.0]), ["a", "b", "c"], 2) == [0, 2]
    t, f = _data()
    f["A_0"] = t["a0"].to_numpy()  # the features are de-reddened exactly: A_0 tells the trees nothing
    r = select_target(t, f, "teff", MC, SC, seed=3)
    assert "A_0" in r.features and "A_0" in r.rfe_features and r.stability["A_0"] == 1.0
    assert not any(c.startswith("noise") for c in r.features)  # noise of the same weight goes
    assert len(r.features) < f.shape[1] - 3


def test_catboost_backend_selects_too():
    t, f = _data(260)
    mc = MC.model_copy(update={"backend": "catboost"})
    sc = SC.model_copy(update={"rfecv": False, "stability_repeats": 0, "tune_rows": 120})
    r = select_target(t, f, "teff", mc, sc, seed=1)
    assert "depth" in r.params and not any(c.startswith("noise") for c in r.features)
    # the search saw 120 stars; the final CV (trees, reported MAE) uses every train+val star
    assert "final_cv" in r.timings_s and r.n_rows == int((t["split"] != "test").sum())


def test_one_standard_error_rule():
    curve = [{"n_features": 20, "mae_mean": 1.00, "mae_se": 0.05},
             {"n_features": 10, "mae_mean": 1.03, "mae_se": 0.05},
             {"n_features": 5, "mae_mean": 1.06, "mae_se": 0.05},
             {"n_features": 2, "mae_mean": 1.50, "mae_se": 0.05}]
    assert one_standard_error_choice(curve) == 10


def test_bad_inputs_are_explained():
    t, f = _data(60)
    with pytest.raises(InputError, match="split"):
        training_rows(t.drop(columns=["split"]))
    with pytest.raises(InputError, match="only"):
        select_target(t.iloc[:10], f.iloc[:10], "teff", MC, SC)


def test_shap_hypetune_absent_gives_install_hint():
    try:
        import shaphypetune  # noqa: F401
    except ImportError:
        pass
    else:
        pytest.skip("shap-hypetune is installed")
    t, f = _data(60)
    with pytest.raises(OcfehError, match="hyperopt==0.2.5"):
        select_target(t, f, "teff", MC, SC.model_copy(update={"method": "shap-hypetune"}))
    assert "pip install shap-hypetune==0.2.7" in SHAP_HYPETUNE_HELP


def test_huber_delta_is_the_cv_mae_of_an_l2_model_and_the_final_rate_is_smaller():
    t, f = _data()
    mc = MC.model_copy(update={"objective": "huber"})
    sc = SC.model_copy(update={"rfecv": False, "stability_repeats": 0, "final_learning_rate": 0.01})
    r = select_target(t, f, "teff", mc, sc, seed=2)
    rows = training_rows(t)
    X, y = f.loc[rows.index].to_numpy(float), rows["teff"].to_numpy(float)
    be, folds = get_backend("lightgbm"), kfold_indices(len(y), sc.cv_folds, 2)
    l2_mae = cv_score(be, X, y, mc.base_params(), mc.model_copy(update={"objective": "l2"}), folds, 2)[0]
    assert r.params["huber_delta"] == pytest.approx(l2_mae) and 20 < l2_mae < 500  # K: a typical residual
    assert all(step["params"]["huber_delta"] == r.params["huber_delta"] for step in r.rfe_path)
    # the search tuned the rate (0.02-0.2); the final CV and model use 0.01 with more trees allowed
    assert all(step["params"]["learning_rate"] > 0.01 for step in r.rfe_path)
    assert r.params["learning_rate"] == 0.01 and "final_cv" in r.timings_s
    assert r.n_estimators > min(step["rounds"] for step in r.rfe_path)
    # other losses need no delta; a configured delta is used as given
    r2 = select_target(t, f, "teff", MC.model_copy(update={"objective": "l2"}),
                       sc.model_copy(update={"final_learning_rate": None}), seed=2)
    assert "huber_delta" not in r2.params and "final_cv" not in r2.timings_s
    assert r2.params in [step["params"] for step in r2.rfe_path]  # no final rate: the tuned parameters
    assert loss_params(be, X, y, mc.model_copy(update={"huber_delta": 75.0}), folds, 2) == {"huber_delta": 75.0}


def test_min_features_above_the_feature_count_is_clamped_and_logged(caplog):
    t, f = _data()
    sc = SC.model_copy(update={"min_features": 500, "rfecv": False, "stability_repeats": 0})
    with caplog.at_level("INFO", logger="ocfeh.train.selection"):
        r = select_target(t, f, "teff", MC, sc, seed=1)
    assert "min_features = 500 is more than the 18 features" in caplog.text
    assert len(r.rfe_path) == 1 and sorted(r.rfe_features) == sorted(f.columns)  # nothing eliminated
