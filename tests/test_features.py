"""Features: names, de-reddening, distance modulus, missing bands (issue 5)."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

from ocfeh.bands import BANDS, JPLUS_BANDS, wavelength_aa
from ocfeh.exceptions import InputError
from ocfeh.train import features as F
from ocfeh.train.features import FeatureConfig, bands_of_features, feature_names, make_features

from .test_features_synth import synthetic_sample


def test_17_bands_give_153_features_with_poster_names():
    t = synthetic_sample(20)
    f = make_features(t, FeatureConfig(extinction="pivot"))
    assert f.shape == (20, 153)
    assert list(f.columns) == feature_names(BANDS)
    assert {"M_gSDSS", "J0395-J0410", "BP-RP", "W1-W2"} <= set(f.columns)
    assert f.attrs["extinction"] == "pivot" and f.attrs["n_missing"] == {}


def test_absolute_magnitude_and_colour_values_with_user_coefficients():
    t = pd.DataFrame({"mag_G": [12.0], "mag_BP": [12.6], "mag_RP": [11.2], "distance_pc": [1000.0], "a0": [1.0]})
    coef = {"G": 0.8, "BP": 1.0, "RP": 0.6}
    f = make_features(t, bands="gaia", extinction="coefficients", coefficients=coef)
    # M = m - A - 5 log10(d / 10 pc) = 12 - 0.8 - 10
    assert f["M_G"].iloc[0] == pytest.approx(1.2)
    assert f["BP-RP"].iloc[0] == pytest.approx((12.6 - 1.0) - (11.2 - 0.6))
    with pytest.raises(InputError, match="lack bands"):
        make_features(t, bands="gaia", extinction="coefficients", coefficients={"G": 0.8})


def test_dereddening_recovers_intrinsic_features():
    t = synthetic_sample(50, seed=1)
    ratios = F.pivot_ratios(tuple(BANDS), 3.1)
    clean = t.copy()
    for j, b in enumerate(BANDS):
        clean[f"mag_{b}"] = t[f"mag_{b}"] - ratios[j] * t["a0"]
    clean["a0"] = 0.0
    f_red = make_features(t, extinction="pivot")
    f_int = make_features(clean, extinction="pivot")
    np.testing.assert_allclose(f_red.to_numpy(), f_int.to_numpy(), atol=1e-10)
    # and without de-reddening the reddened colours are redder by E = (R_i - R_j) a0
    f_raw = make_features(t, extinction="none")
    e = (f_raw["BP-RP"] - f_int["BP-RP"]).to_numpy()
    np.testing.assert_allclose(e, (ratios[13] - ratios[14]) * t["a0"].to_numpy(), atol=1e-10)


def test_pivot_ratios_are_physical():
    r = dict(zip(BANDS, F.pivot_ratios(tuple(BANDS), 3.1)))
    jp = [r[b] for b in JPLUS_BANDS]
    assert all(a > b for a, b in itertools.pairwise(jp))  # extinction falls with wavelength
    assert 1.4 < r["uJAVA"] < 1.8 and 0.03 < r["W1"] < 0.12 and r["W2"] < r["W1"]
    assert 0.75 < r["G"] < 0.95  # A_G / A_0 of a typical star (Gaia: ~0.8-0.9)


def test_colours_only_without_distance_and_missing_bands_stay_nan(caplog):
    t = synthetic_sample(30).drop(columns=["distance_pc"])
    t.loc[:4, "mag_W2"] = np.nan
    with caplog.at_level("INFO", logger="ocfeh.train.features"):
        f = make_features(t, bands="gaia+wise", extinction="pivot")
    assert f.shape[1] == 10 and not any(c.startswith("M_") for c in f.columns)
    assert f.attrs["n_missing"] == {"W2": 5}
    assert f["W1-W2"].isna().sum() == 5 and f["BP-RP"].notna().all()
    assert "W2" in caplog.text


def test_an_empty_distance_column_gives_colours_only():
    # a reader that found no distance leaves distance_pc all NaN: no M_<band> columns of NaN
    t = synthetic_sample(30).assign(distance_pc=np.nan)
    f = make_features(t, bands="gaia", extinction="pivot")
    assert list(f.columns) == ["G-BP", "G-RP", "BP-RP"]
    t.loc[3, "distance_pc"] = 500.0  # one distance: absolute magnitudes, NaN for the other stars
    g = make_features(t, bands="gaia", extinction="pivot")
    assert g["M_G"].notna().sum() == 1


def test_absent_band_column_names_the_band():
    t = synthetic_sample(10).drop(columns=["mag_J0660"])
    with pytest.raises(InputError, match="J0660"):
        make_features(t, bands="jplus")


def test_bands_of_features_and_config_rejects_unknown_keys():
    assert bands_of_features(["M_G", "J0395-J0410", "G-W1"]) == ["G", "J0395", "J0410", "W1"]
    with pytest.raises(ValueError):
        FeatureConfig(band="all")


def test_a0_feature_is_the_adopted_extinction_and_needs_no_band():
    t = synthetic_sample(40, seed=2)
    t.loc[t.index[:3], "a0"] = np.nan
    f = make_features(t, bands="gaia", extinction="pivot", a0_feature=True)
    assert list(f.columns) == feature_names("gaia") + ["A_0"]
    np.testing.assert_array_equal(f["A_0"], t["a0"])  # as given, mag; NaN stays NaN
    assert f["A_0"].isna().sum() == 3 and f["BP-RP"].notna().all()
    assert F.A0_FEATURE == "A_0" and bands_of_features(["A_0", "BP-RP"]) == ["BP", "RP"]
    only = make_features(t, bands="gaia", extinction="pivot", names=["A_0", "BP-RP"])
    np.testing.assert_array_equal(only["A_0"], t["a0"])
    with pytest.raises(InputError, match="A_0 needs an a0 column"):
        make_features(t.drop(columns="a0"), bands="gaia", extinction="none", a0_feature=True)
    assert "A_0" not in make_features(t, bands="gaia", extinction="pivot")  # off by default


def test_auto_is_the_synthphot_lookup():
    f = make_features(synthetic_sample(5), bands="gaia")
    assert f.attrs["extinction"] == "synthphot"


def test_synthphot_lookup_depends_on_colour():
    t = synthetic_sample(200, seed=2)
    r, mode = F.extinction_ratios(t, ("BP", "RP", "W1"), "synthphot")
    assert mode == "synthphot" and r.shape == (200, 3)
    assert np.all(r[:, 0] > r[:, 1]) and np.all(r[:, 1] > r[:, 2])
    # A_BP/A_0 falls for redder (cooler) stars: the effective wavelength moves red
    cool, hot = t["teff_true"] < 4500, t["teff_true"] > 6500
    assert r[cool, 0].mean() < r[hot, 0].mean()


def test_2mass_bands_of_the_apogee_xp_table_are_accepted():
    t = synthetic_sample(20, bands=("G", "BP", "RP")).drop(columns=["distance_pc"])
    t["mag_J"], t["mag_Ks"] = t["mag_RP"] - 1.0, t["mag_RP"] - 1.6
    f = make_features(t, bands=["G", "BP", "RP", "J", "Ks"], extinction="synthphot")
    assert len(f.columns) == 10 and "J-Ks" in f.columns
    r, _ = F.extinction_ratios(t, ("J", "Ks"), "synthphot")
    assert 0.2 < r[0, 0] < 0.35 and 0.08 < r[0, 1] < 0.14  # A_J/A_0, A_Ks/A_0 (G23)
    assert bands_of_features(["J-Ks", "M_G"]) == ["J", "Ks", "G"]


def test_curvatures_measure_a_dip_against_the_interpolated_continuum():
    bands = ["J0378", "J0395", "J0410", "J0430"]
    lam = np.array([wavelength_aa(b) for b in bands])
    t = pd.DataFrame({f"mag_{b}": [10.0 + 1e-4 * lam[j]] * 2 for j, b in enumerate(bands)})
    t.loc[1, "mag_J0395"] += 0.3  # an absorption line in J0395 of the second star
    t["a0"] = [0.0, 0.0]
    f = make_features(t, FeatureConfig(bands=bands, extinction="pivot", curvatures=[1, 2]))
    names = ["J0378~J0395~J0410", "J0395~J0410~J0430"]  # gap 2 needs five bands: none here
    assert list(f.columns) == feature_names(bands, curvatures=[1, 2])[4:]  # no distance: no M_<band>
    assert list(f.columns)[-2:] == names and f.shape[1] == 6 + 2
    # magnitudes linear in wavelength: zero curvature; the 0.3 mag dip is recovered exactly
    np.testing.assert_allclose(f.loc[0, names].to_numpy(float), 0.0, atol=1e-12)
    assert f.loc[1, "J0378~J0395~J0410"] == pytest.approx(0.3)
    # the middle band of the next triple is J0410, an outer band of its own: J0395 is its left end
    w = (lam[2] - lam[1]) / (lam[3] - lam[1])
    assert f.loc[1, "J0395~J0410~J0430"] == pytest.approx(-(1 - w) * 0.3)


def test_curvatures_are_nearly_free_of_reddening_and_named_by_bands():
    t = synthetic_sample(40, seed=3)
    f_raw = make_features(t, extinction="none", curvatures=[1, 2])
    f_int = make_features(t, extinction="pivot", curvatures=[1, 2])
    curv = [c for c in f_raw.columns if "~" in c]
    assert len(curv) == 12 + 10 and f_raw.shape[1] == 153 + 22  # 14 bands without G/BP/RP
    assert not any(b in c.split("~") for c in curv for b in ("G", "BP", "RP"))
    # reddening moves a curvature far less than the colour between its outer bands (second order only)
    ratio = []
    for c in curv:
        a, _, b = c.split("~")
        ratio.append(np.median((f_raw[c] - f_int[c]).abs() / (f_raw[f"{a}-{b}"] - f_int[f"{a}-{b}"]).abs()))
    assert max(ratio) < 0.35 and np.median(ratio) < 0.1
    assert bands_of_features(["J0378~J0395~J0410", "M_G"]) == ["J0378", "J0395", "J0410", "G"]


def test_named_features_are_built_in_the_order_asked():
    t = synthetic_sample(10, seed=4)
    fc = FeatureConfig(extinction="pivot", curvatures=[1])
    full = make_features(t, fc)
    names = ["J0515~J0660~iSDSS", "M_G", "W1-W2", "J0378~J0395~J0410"]
    part = make_features(t, fc, names=["J0515~rSDSS~J0660", *names])
    assert list(part.columns) == ["J0515~rSDSS~J0660", *names]
    # any triple of the config's bands can be asked for, even one that is not of the config's gaps
    w = (6603.9 - 5140.9) / (7656.2 - 5140.9)
    mags0 = full["J0660-W1"] - w * full["iSDSS-W1"] - (1 - w) * full["J0515-W1"]
    np.testing.assert_allclose(part["J0515~J0660~iSDSS"], mags0, atol=1e-4)
    pd.testing.assert_frame_equal(part[names[1:]], full[names[1:]])
    with pytest.raises(InputError, match="uJAVA"):
        make_features(t, FeatureConfig(bands="gaia", extinction="pivot"), names=["uJAVA-G"])
    with pytest.raises(InputError, match="distance_pc"):
        make_features(t.drop(columns=["distance_pc"]), fc, names=["M_G"])


def test_config_rejects_unknown_band_sets_and_too_few_bands():
    from ocfeh.pipeline.config import load_config

    def error(**features):
        with pytest.raises(InputError) as info:
            load_config(features=features).section("features")
        return str(info.value)

    msg = error(variants=["jplus", "foo"])  # used to fail only in train
    assert "[features] variants" in msg and "Unknown band set 'foo'" in msg and "gaia+wise" in msg
    # an unknown band in a list names the band sets too, and the 2MASS bands features accept
    msg = error(bands=["G", "foo"])
    assert "[features] bands" in msg and "band sets: jplus, gaia, wise, gaia+wise, all" in msg and "Ks" in msg
    for bands in ([], ["G", "G"]):
        assert "bands needs at least two different bands" in error(bands=bands)
    assert "at least two" in error(bands=["G"], absolute_magnitudes=False)  # no feature at all
    assert "variants needs at least two" in error(variants=["gaia", ["W1"]])
    # a model's own subsets (the bands of its M_<band> features) stay valid
    assert FeatureConfig(bands=["G"]).resolved_bands() == ("G",)
    assert load_config(features={"bands": ["G", "J"], "variants": ["wise"]}).section("features").variants == ["wise"]
