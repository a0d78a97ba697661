"""Conformal intervals, Monte Carlo propagation and the OOD score (issue 6, part 1)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ocfeh.exceptions import InputError, NotFittedError
from ocfeh.predict import calibrate, evaluate_coverage, predict_frame
from ocfeh.testing import toy_predictor, toy_table
from ocfeh.train.ood import KNNNoveltyScore
from ocfeh.train.uncertainty import (
    ConformalIntervals,
    MondrianBins,
    UncertaintyConfig,
    coverage_table,
    interval_columns,
    mc_spread,
)

TOL = 0.03  # issue 6: within 3 percentage points of nominal


@pytest.fixture(scope="module")
def toy():
    """12k training, 24k validation, 24k blind-test stars; models on train, intervals on val."""
    s = toy_table(60_000, seed=11)
    s["split"] = np.where(np.arange(len(s)) % 5 == 0, "train", np.where(np.arange(len(s)) % 5 < 3, "val", "test"))
    pred = toy_predictor(s, n_estimators=200)
    calibrate(pred, s, UncertaintyConfig(min_bin_size=500), seed=3)
    return s, pred


def test_blind_test_coverage_within_3pp_overall_and_per_bin(toy):
    s, pred = toy
    table, metrics = evaluate_coverage(pred, s)
    for t in ("teff", "logg", "feh"):
        assert abs(metrics[t]["coverage_68"] - 0.68) < TOL, (t, metrics[t])
        assert abs(metrics[t]["coverage_95"] - 0.95) < TOL, (t, metrics[t])
    # Mondrian bins (by predicted labels) with their own quantile and enough test stars
    checked = 0
    for _, row in table[table["binning"] == "predicted"].iterrows():
        n_cal = pred.conformal[row["target"]].n_bin_[row["bin"]]
        if n_cal >= 1500 and row["n"] >= 1500:
            checked += 1
            assert abs(row["coverage_68"] - 0.68) < TOL, row.to_dict()
            assert abs(row["coverage_95"] - 0.95) < TOL, row.to_dict()
    assert checked >= 6  # giants and dwarfs, both metallicity classes, three targets
    assert set(table["binning"]) == {"all", "predicted", "true"}


def test_normalised_intervals_adapt_to_difficulty(toy):
    """Faint stars (large errors) get wider intervals, and both halves keep their coverage."""
    s, pred = toy
    test = s[s["split"] == "test"].reset_index(drop=True)
    res = predict_frame(pred, test)
    faint = (test["mag_J0395"] > test["mag_J0395"].median()).to_numpy()
    err = res["feh_err"].to_numpy()
    assert np.median(err[faint]) > 1.2 * np.median(err[~faint])
    inside = (test["feh"] >= res["feh_lo68"]) & (test["feh"] <= res["feh_hi68"])
    for half in (faint, ~faint):
        assert abs(inside[half].mean() - 0.68) < 0.04


def test_calibration_never_reads_the_blind_test(toy):
    s, pred = toy
    garbled = s.copy()
    garbled.loc[garbled["split"] == "test", ["teff", "logg", "feh"]] = -999.0
    garbled.loc[garbled["split"] == "test", "mag_G"] += 5.0
    pred2 = toy_predictor(s, n_estimators=200)
    calibrate(pred2, garbled, UncertaintyConfig(min_bin_size=500), seed=3)
    for t in ("teff", "feh"):
        assert pred2.conformal[t].quantiles_ == pred.conformal[t].quantiles_
    assert pred2.ood.threshold_ == pred.ood.threshold_


def test_interval_columns_and_ordering(toy):
    s, pred = toy
    res = predict_frame(pred, s.iloc[:500])
    for t in ("teff", "logg", "feh"):
        for c in (t, f"{t}_lo68", f"{t}_hi68", f"{t}_lo95", f"{t}_hi95", f"{t}_err"):
            assert c in res
        assert (res[f"{t}_lo95"] <= res[f"{t}_lo68"]).all()
        assert (res[f"{t}_lo68"] <= res[t]).all() and (res[t] <= res[f"{t}_hi68"]).all()
        assert (res[f"{t}_hi68"] <= res[f"{t}_hi95"]).all()
        np.testing.assert_allclose(res[f"{t}_err"], (res[f"{t}_hi68"] - res[f"{t}_lo68"]) / 2, rtol=1e-5)
    cols = interval_columns("feh", np.zeros(2), {0.68: np.ones(2), 0.95: 2 * np.ones(2)})
    assert list(cols) == ["feh", "feh_lo68", "feh_hi68", "feh_lo95", "feh_hi95", "feh_err"]


def test_ood_flags_an_obvious_outsider_and_few_normal_stars(toy):
    s, pred = toy
    test = s[s["split"] == "test"].iloc[:5000].reset_index(drop=True)
    odd = test.iloc[:2].copy()
    odd["mag_W1"] += 4.0  # a 4-mag infrared excess: no training star looks like this
    odd["distance_pc"] = odd["distance_pc"] * 40  # and 8 mag too bright for its colours
    res = predict_frame(pred, pd.concat([test, odd], ignore_index=True))
    assert res["ood_flag"].iloc[-2:].all()
    assert (res["ood_score"].iloc[-2:] > 3).all()
    frac = res["ood_flag"].iloc[:-2].mean()
    assert frac < 0.02  # threshold at the 99.5% training quantile
    assert res["ood_score"].iloc[:-2].median() < 0.6


def test_ood_score_unit():
    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(4000, 4)), columns=list("abcd"))
    det = KNNNoveltyScore(k=5, quantile=0.99, n_reference=3000, n_holdout=1000, seed=1).fit(X)
    new = pd.DataFrame(rng.normal(size=(20000, 4)), columns=list("abcd"))
    assert abs((det.score(new) > 1).mean() - 0.01) < 0.01
    with pytest.raises(InputError, match="needs features"):
        det.score(new[["a", "b"]])
    assert np.isnan(det.score(pd.DataFrame({"a": [np.nan], "b": [0.0], "c": [0.0], "d": [0.0]}))[0])
    with pytest.raises(NotFittedError, match="not fitted"):
        KNNNoveltyScore().score(new)


def test_monte_carlo_spread_follows_input_errors():
    table = toy_table(2000, seed=5)
    w = np.array([0.5, -0.3, 0.2])

    def predict(t):  # a linear "model" in three magnitudes: spread = sqrt(sum w^2 err^2)
        return {"x": t[["mag_gSDSS", "mag_rSDSS", "mag_G"]].to_numpy() @ w}

    sig = mc_spread(table, predict, 400, np.random.default_rng(1))["x"]
    expect = np.sqrt(((table[["mag_err_gSDSS", "mag_err_rSDSS", "mag_err_G"]].to_numpy() * w) ** 2).sum(axis=1))
    ratio = sig / expect
    assert abs(np.median(ratio) - 1) < 0.03  # 400 draws: std of a std is ~3.5%
    assert np.corrcoef(sig, expect)[0, 1] > 0.95
    again = mc_spread(table, predict, 400, np.random.default_rng(1))["x"]
    np.testing.assert_array_equal(sig, again)
    with pytest.raises(InputError, match="n_draws"):
        mc_spread(table, predict, 1, np.random.default_rng(1))


def test_monte_carlo_intervals_stay_calibrated():
    s = toy_table(24_000, seed=21)
    s["split"] = np.array(["train", "val", "test"])[np.arange(len(s)) % 3]
    pred = toy_predictor(s, n_estimators=100)
    calibrate(pred, s, UncertaintyConfig(n_draws=4, min_bin_size=500), seed=0)
    _, metrics = evaluate_coverage(pred, s, n_draws=4, seed=9)
    for t in ("teff", "logg", "feh"):
        assert abs(metrics[t]["coverage_68"] - 0.68) < TOL
        assert abs(metrics[t]["coverage_95"] - 0.95) < TOL
    test = s[s["split"] == "test"].iloc[:3000].reset_index(drop=True)
    noisy = test.copy()
    for c in [c for c in test if c.startswith("mag_err_")]:
        noisy[c] *= 5.0
    a = predict_frame(pred, test, n_draws=4, seed=1)
    b = predict_frame(pred, noisy, n_draws=4, seed=1)
    assert (b["feh_err_mc"] > a["feh_err_mc"]).mean() > 0.9
    assert np.median(b["feh_err"]) > np.median(a["feh_err"])


def test_conformal_errors_and_small_bins():
    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(400, 2)), columns=["a", "b"])
    y = X["a"].to_numpy() + rng.normal(size=400)
    with pytest.raises(NotFittedError, match="Call 'fit'"):
        ConformalIntervals().half_widths(X)
    with pytest.raises(InputError, match="levels"):
        ConformalIntervals(levels=(68, 95)).fit(X, y, X["a"].to_numpy())
    bins = np.where(np.arange(400) < 20, "rare", "common")
    c = ConformalIntervals(min_bin_size=100, difficulty_params={"n_estimators": 10, "verbose": -1}).fit(
        X, y, X["a"].to_numpy(), bins)
    assert "rare" not in c.quantiles_["model"] and "common" in c.quantiles_["model"]
    h = c.half_widths(X, bins)
    assert np.all(h[0.95] > h[0.68])
    with pytest.raises(InputError, match="Monte Carlo"):
        c.half_widths(X, bins, sigma_mc=np.ones(400))


def test_mondrian_bins_and_coverage_table():
    bins = MondrianBins.default()
    lab = bins.assign(pd.DataFrame({"logg": [1.0, 4.0, np.nan], "feh": [-2.0, 0.1, -1.5]}))
    assert lab.tolist() == ["giant/metal_poor", "dwarf/metal_rich", "dwarf/metal_poor"]
    frame = pd.DataFrame({"feh": [0.0, 0.0], "feh_lo68": [-1, -1], "feh_hi68": [1, 1], "feh_lo95": [-2, -2],
                          "feh_hi95": [2, 2], "feh_err": [1, 1], "feh_true": [0.5, 1.5]})
    tab = coverage_table(frame, ["feh"])
    assert tab.iloc[0]["coverage_68"] == 0.5 and tab.iloc[0]["coverage_95"] == 1.0


@pytest.mark.parametrize("levels", [[0.68, 1.5], [0.0, 0.95], [0.95, 0.68], [0.68, 0.684]])
def test_config_rejects_levels_outside_0_1_unsorted_or_with_one_column_name(levels):
    from ocfeh.pipeline.config import load_config

    with pytest.raises(InputError, match=r"\[uncertainty\] levels: must be two coverages in \(0, 1\)"):
        load_config(uncertainty={"levels": levels}).section("uncertainty")


def test_other_levels_name_the_columns_and_the_coverage():
    s = toy_table(3000, seed=2)
    s["split"] = np.array(["train", "val", "test"])[np.arange(len(s)) % 3]
    pred = calibrate(toy_predictor(s, n_estimators=30), s, UncertaintyConfig(levels=(0.5, 0.9), min_bin_size=100))
    assert {"feh_lo50", "feh_hi90"} <= set(pred.predict(s.head(3)).columns)
    _, metrics = evaluate_coverage(pred, s)  # used to look for feh_lo68 and fail
    assert set(metrics["feh"]) == {"coverage_50", "coverage_90", "n"}
    assert abs(metrics["feh"]["coverage_90"] - 0.9) < 0.05
