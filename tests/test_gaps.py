"""The gap model: stars that miss bands, a distance or A_0 get a prediction with calibrated intervals."""

from __future__ import annotations

import copy
import json

import numpy as np
import pandas as pd
import pytest

from ocfeh.exceptions import InputError
from ocfeh.predict import predict_frame
from ocfeh.predict.gaps import GapModel, load_gap_model
from ocfeh.sample import map_a0
from ocfeh.testing import TOY_BANDS, toy_predictor, toy_table
from ocfeh.train import FeatureConfig, ModelConfig
from ocfeh.train.gaps import (
    common_patterns,
    galactic_latitude,
    mask_groups,
    mask_to_pattern,
    masked_copies,
    pattern_features,
    train_gap_models,
)

FCFG = FeatureConfig(bands=list(TOY_BANDS), extinction="none")
MCFG = ModelConfig(n_estimators=300, learning_rate=0.05, n_jobs=2)


def _split(n, seed):
    t = toy_table(n, seed=seed)
    t["split"] = np.random.default_rng(seed + 1000).choice(["train", "val", "test"], n, p=[0.6, 0.25, 0.15])
    return t


@pytest.fixture(scope="module")
def models():
    sample = _split(8000, 1)
    main = toy_predictor(sample, n_estimators=300)
    gap, own = train_gap_models(sample, FCFG, MCFG, seed=3, patterns=["J0395,W1"])
    gaps = GapModel(gap, list(TOY_BANDS), sample[sample["split"] != "train"].reset_index(drop=True))
    return main, gaps, own


def test_mask_groups_follow_the_surveys():
    groups = mask_groups(["G", "BP", "RP", "uJAVA", "W1", "W2"])
    assert ("BP", "RP") in groups  # a two-parameter Gaia source loses both
    assert not any("G" in g for g in groups)  # every Gaia source has G
    assert ("W1",) in groups and ("W2",) in groups and ("distance",) in groups and ("a0",) in groups


def test_masked_copies_mask_each_group_at_the_given_rate():
    rows = toy_table(4000, seed=0).assign(mag_BP=15.0, mag_RP=14.0)
    bands = [*TOY_BANDS, "BP", "RP"]
    out = masked_copies(rows, bands, n_copies=2, mask_probability=0.3, rng=np.random.default_rng(0))
    assert len(out) == 3 * len(rows)
    pd.testing.assert_frame_equal(out.iloc[: len(rows)].reset_index(drop=True), rows.reset_index(drop=True))
    copies = out.iloc[len(rows):]
    rate = copies["mag_J0395"].isna().mean()
    assert abs(rate - 0.3) < 4 * np.sqrt(0.3 * 0.7 / len(copies))
    assert (copies["mag_BP"].isna() == copies["mag_RP"].isna()).all()
    assert copies["mag_G"].notna().all()
    assert abs(copies["distance_pc"].isna().mean() - 0.3) < 0.03


def test_map_a0_is_the_whole_column_far_away_and_a_layer_fraction_nearby():
    assert map_a0(0.2, 45.0, 1e6) == pytest.approx(0.62)
    assert map_a0(0.2, 90.0, 125.0) == pytest.approx(0.62 * (1 - np.exp(-1)))
    assert map_a0(0.2, 30.0, np.nan) == pytest.approx(0.62)  # no distance: the whole column
    assert map_a0(0.2, 30.0, -5.0) == pytest.approx(0.62)


def test_missing_a0_is_taken_from_the_map_and_named_in_the_pattern(models):
    main, gaps, _ = models
    reddened = copy.deepcopy(gaps)  # a gap model whose features de-redden: it needs an A_0
    for m in reddened.model.models.values():
        m.feature_config = {**m.feature_config, "extinction": "pivot"}
    t = toy_table(3, seed=4).assign(ebv=0.05, ra=[10.0, 150.0, 250.0], dec=[40.0, 20.0, 60.0])
    t.loc[[0, 1], "a0"] = np.nan
    t.loc[1, "mag_W1"] = 99.0  # a sentinel is a missing band
    filled, miss, keys, has_a0 = reddened.fill(t)
    assert list(keys) == ["a0", "W1,a0", ""]
    assert has_a0.all() and np.isnan(filled.loc[1, "mag_W1"])
    b = galactic_latitude(t["ra"].iloc[:1], t["dec"].iloc[:1])
    assert filled.loc[0, "a0"] == pytest.approx(map_a0(0.05, b, t.loc[0, "distance_pc"])[0])
    assert list(reddened.fill(t.drop(columns="ebv"))[3]) == [False, False, True]
    assert list(gaps.fill(t)[2]) == ["", "W1", ""]  # features taken as they are need no A_0
    main.gaps = gaps
    try:
        out = predict_frame(main, t.drop(columns="ebv"), min_bands=3)
        main.gaps = reddened
        red = predict_frame(main, t.drop(columns="ebv"), min_bands=3)
    finally:
        main.gaps = None
    assert out["model"].tolist() == ["full", "gaps", "full"] and out["missing"].iloc[1] == "W1"
    assert red["reason"].iloc[1] == "missing mag_W1; no map A_0 either (needs ebv, ra, dec)"


def test_stars_missing_a_band_are_predicted_with_intervals_that_hold(models):
    main, gaps, _ = models
    stars = toy_table(3000, seed=9)
    stars.loc[: 1499, "mag_J0395"] = np.nan  # the metallicity band, lost first by faint stars
    without = predict_frame(main, stars)
    assert (without["reason"].iloc[:1500] == "missing mag_J0395").all()
    main.gaps = gaps
    try:
        out = predict_frame(main, stars, min_bands=3)
    finally:
        main.gaps = None
    gap, full = out.iloc[:1500], out.iloc[1500:]
    assert (gap["model"] == "gaps").all() and (gap["missing"] == "J0395").all() and (gap["reason"] == "").all()
    # the complete stars keep exactly the main model's prediction
    np.testing.assert_array_equal(full["feh"].to_numpy(), without["feh"].iloc[1500:].to_numpy())
    assert (full["model"] == "full").all()
    truth = stars.iloc[:1500]
    for t in ("teff", "logg", "feh"):
        err = np.abs(gap[t].to_numpy() - truth[t].to_numpy())
        assert err.mean() < 0.5 * np.abs(truth[t] - truth[t].median()).mean()  # it carries information
        expected = gap[f"{t}_mae_expected"].iloc[0]
        assert abs(err.mean() - expected) < 0.2 * expected  # the pattern's blind-test MAE is what it gets
        inside = (gap[f"{t}_lo68"] <= truth[t].to_numpy()) & (truth[t].to_numpy() <= gap[f"{t}_hi68"])
        assert 0.62 < inside.mean() < 0.74, t
        inside95 = (gap[f"{t}_lo95"] <= truth[t].to_numpy()) & (truth[t].to_numpy() <= gap[f"{t}_hi95"])
        assert 0.92 < inside95.mean() < 0.98, t


def test_losing_more_bands_widens_the_intervals_and_too_few_bands_say_so(models):
    main, gaps, _ = models
    stars = toy_table(400, seed=5)
    stars.loc[:199, "mag_J0395"] = np.nan
    stars.loc[200:, ["mag_J0395", "mag_gSDSS", "mag_W1"]] = np.nan
    main.gaps = gaps
    try:
        out = predict_frame(main, stars, min_bands=3)
        strict = predict_frame(main, stars, min_bands=4)
    finally:
        main.gaps = None
    one, three = out.iloc[:200], out.iloc[200:]
    assert (three["missing"] == "J0395,gSDSS,W1").all()
    assert three["feh_err"].iloc[0] > one["feh_err"].iloc[0]
    assert three["feh_mae_expected"].iloc[0] > one["feh_mae_expected"].iloc[0]
    assert strict["model"].iloc[200:].eq("").all()
    assert strict["reason"].iloc[200:].str.contains("3 of 6 bands \\(min_bands 4\\)").all()
    assert np.isnan(strict["feh"].iloc[200:]).all()


def test_a_star_without_distance_is_predicted_from_its_colours(models):
    main, gaps, _ = models
    stars = toy_table(1000, seed=6).assign(distance_pc=np.nan)
    main.gaps = gaps
    try:
        out = predict_frame(main, stars)
    finally:
        main.gaps = None
    assert (out["missing"] == "distance").all()
    assert np.abs(out["teff"] - stars["teff"]).mean() < 0.5 * np.abs(stars["teff"] - stars["teff"].median()).mean()


def test_mask_to_pattern_leaves_the_input_alone():
    t = toy_table(5, seed=0).assign(ebv=0.1, ra=30.0, dec=10.0)
    before = t.copy()
    out = mask_to_pattern(t, "W1,distance,a0")
    pd.testing.assert_frame_equal(t, before)
    assert out["mag_W1"].isna().all() and out["distance_pc"].isna().all()
    assert np.allclose(out["a0"], 0.31)  # no distance: the map's whole column


def test_a_corrupt_gap_card_names_its_file(tmp_path):
    (tmp_path / "gaps").mkdir()
    (tmp_path / "gaps" / "gaps.json").write_text("{not json")
    with pytest.raises(InputError, match=r"gaps\.json is not a gap-model card"):
        load_gap_model(tmp_path)
    (tmp_path / "gaps" / "gaps.json").write_text(json.dumps({"no": "bands"}))
    with pytest.raises(InputError, match="retrain"):
        load_gap_model(tmp_path)
    assert load_gap_model(tmp_path / "elsewhere") is None


def test_a_masked_a0_is_the_map_value_of_the_row():
    rows = toy_table(2000, seed=2).assign(ebv=0.08, ra=120.0, dec=35.0)
    out = masked_copies(rows, TOY_BANDS, n_copies=1, mask_probability=0.5, rng=np.random.default_rng(1))
    copy = out.iloc[len(rows):].reset_index(drop=True)
    changed = copy["a0"].to_numpy() != rows["a0"].to_numpy()
    assert abs(changed.mean() - 0.5) < 0.05
    b = galactic_latitude([120.0], [35.0])[0]
    np.testing.assert_allclose(copy.loc[changed, "a0"], map_a0(0.08, b, copy.loc[changed, "distance_pc"]))


def test_common_patterns_rank_the_catalogue_and_leave_out_complete_and_hopeless_stars():
    t = toy_table(100, seed=0)
    t.loc[:49, "mag_W1"] = np.nan
    t.loc[50:79, ["mag_W1", "mag_J0395"]] = np.nan
    t.loc[80:84, ["mag_W1", "mag_J0395", "mag_gSDSS", "mag_rSDSS"]] = np.nan  # 2 of 6 bands left
    t.loc[85:86, "a0"] = np.nan  # no A_0 and no map
    assert common_patterns(t, TOY_BANDS, n=5, min_bands=3) == ["W1", "J0395,W1"]
    assert pattern_features(["M_G", "G-W1", "gSDSS-rSDSS", "J0395-G"], "J0395,distance") == ["G-W1", "gSDSS-rSDSS"]


def test_a_common_pattern_gets_its_own_model_at_least_as_good_as_the_gap_model(models):
    main, gaps, own = models
    stars = toy_table(2000, seed=12)
    stars[["mag_J0395", "mag_W1"]] = np.nan
    with_own = GapModel(gaps.model, gaps.bands, gaps.reference, own)
    main.gaps = with_own
    try:
        out = predict_frame(main, stars, min_bands=3)
        main.gaps = gaps
        plain = predict_frame(main, stars, min_bands=3)
    finally:
        main.gaps = None
    assert (out["model"] == "pattern").all() and (plain["model"] == "gaps").all()
    assert set(own["J0395,W1"].models["feh"].feature_names_in_) == set(
        pattern_features(own["J0395,W1"].models["feh"].feature_names_in_, "J0395,W1"))
    for t in ("teff", "logg", "feh"):
        mae_own = np.abs(out[t] - stars[t]).mean()
        assert mae_own < 1.1 * np.abs(plain[t] - stars[t]).mean(), t
        inside = (out[f"{t}_lo68"] <= stars[t]) & (stars[t] <= out[f"{t}_hi68"])
        assert 0.62 < inside.mean() < 0.75, t


def test_a_shifted_catalogue_is_detected_and_weighted_calibration_restores_coverage():
    from ocfeh.predict import calibrate
    from ocfeh.predict.shift import shift_check

    stars = toy_table(20000, seed=21)
    rng = np.random.default_rng(5)
    g = stars["mag_G"]
    faint = rng.random(len(stars)) < 1 / (1 + np.exp(-(g - g.quantile(0.7)) / 0.5))  # a selection in magnitude
    stars["split"] = np.where(faint, "test", rng.choice(["train", "val"], len(stars), p=[0.6, 0.4]))
    model = calibrate(toy_predictor(stars, n_estimators=200), stars)
    faint = stars[stars["split"] == "test"].copy()
    truth = faint["feh"].to_numpy()

    def coverage(out):
        return float(((out["feh_lo68"] <= truth) & (truth <= out["feh_hi68"])).mean())

    plain = coverage(predict_frame(model, faint))
    assert plain < 0.6  # the intervals of the bright stars do not hold on the faint ones
    cal = stars[stars["split"] == "val"]
    check = shift_check(model, cal, faint.sample(3000, random_state=0), seed=0)
    assert check["auc"] > 0.8
    assert abs(check["expected_coverage"]["feh"]["68"] - plain) < 0.05  # it foresees the loss
    assert check["calibration_coverage"]["feh"]["68"] > 0.62
    model.interval_scale = check["interval_scale"]
    weighted = coverage(predict_frame(model, faint))
    assert 0.6 < weighted < 0.76
    same = shift_check(model, cal.iloc[: len(cal) // 2], cal.iloc[len(cal) // 2:], seed=0)
    assert same["auc"] < 0.6  # no shift between two halves of one set


def test_stars_fainter_than_the_reference_are_marked(models):
    main, gaps, _ = models
    stars = toy_table(600, seed=13)
    lo, hi = np.nanquantile(gaps.reference["mag_G"], [0.005, 0.995])
    stars.loc[:99, "mag_G"] = hi + 1.0
    main.gaps = gaps
    try:
        out = predict_frame(main, stars, min_bands=3)
    finally:
        main.gaps = None
    assert out["beyond_training"].iloc[:100].all()
    inside = (stars["mag_G"].iloc[100:] >= lo) & (stars["mag_G"].iloc[100:] <= hi)
    assert (out["beyond_training"].iloc[100:] == ~inside).all()
