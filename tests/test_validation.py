"""Validation: HR regions, offset tables, cross-survey offsets, label-scale mapping recovery."""

from __future__ import annotations

from itertools import pairwise

import numpy as np
import pandas as pd
import pytest

from ocfeh.datasets.green2020 import GREEN2020_BANDS, colour_features, read_green2020
from ocfeh.exceptions import InputError, OcfehWarning
from ocfeh.validation.label_scale import apply_label_scale, fit_label_scale
from ocfeh.validation.offsets import cluster_offsets, cross_survey, hr_regions, offset_stats, offset_table


def test_hr_regions_and_offset_stats():
    reg = hr_regions([4000, 5000, 6000, np.nan], [2.0, 4.5, 3.0, 4.0], teff_edges=(4500, 5500))
    assert reg.tolist() == ["giant/<4500", "dwarf/4500-5500", "giant/>=5500", "unknown"]
    rng = np.random.default_rng(0)
    ref = rng.normal(size=20000)
    st = offset_stats(ref, ref + 0.3 + 0.1 * rng.standard_normal(20000))
    assert st["offset"] == pytest.approx(0.3, abs=3 * st["offset_err"])
    assert st["scatter"] == pytest.approx(0.1, rel=0.03)
    tab = offset_table(pd.DataFrame({"feh": ref[:10]}), pd.DataFrame({"feh": ref[:10] + 1}), ["feh"],
                       np.array(["a"] * 6 + ["b"] * 4), min_n=5)
    assert tab["region"].tolist() == ["all", "a"]  # region b (4 stars) is below min_n
    assert list(tab.columns) == ["label", "region", "n", "offset", "offset_err", "scatter", "mae", "bias"]
    np.testing.assert_allclose(tab["offset"], 1.0)


def _two_surveys(n=3000, shift=-0.15, seed=0):
    """Stars whose colours follow the truth; survey 'a' labels = truth, survey 'b' labels = truth - shift."""
    rng = np.random.default_rng(seed)
    feh = rng.uniform(-1.0, 0.4, n)
    teff = rng.uniform(4000, 6500, n)
    logg = np.where(rng.random(n) < 0.5, 2.5, 4.4) + 0.1 * rng.standard_normal(n)
    X = pd.DataFrame({"c1": 0.3 * feh + 1e-4 * teff, "c2": -0.2 * feh + 0.01 * rng.standard_normal(n),
                      "c3": 2e-4 * teff, "c4": logg / 5})
    src = np.where(rng.random(n) < 0.8, "a", "b")
    table = pd.DataFrame({"teff": teff, "logg": logg, "feh": feh, "label_source": src})
    table.loc[src == "b", "feh"] -= shift
    return table, X


def test_cross_survey_recovers_sign_of_injected_offset():
    table, X = _two_surveys(shift=-0.15)  # survey b's [Fe/H] is 0.15 dex higher than a's scale
    res = cross_survey(table, X, train_source="a", targets=["feh"], peer="lightgbm", n_jobs=1, seed=1,
                       n_estimators=150, learning_rate=0.1, num_leaves=15)
    off = res.offsets.set_index(["test_set", "region"])
    assert list(res.offsets.columns[:4]) == ["train_set", "test_set", "label", "region"]
    ctrl = off.loc[("a (held out)", "all")]
    other = off.loc[("b", "all")]
    assert abs(ctrl["offset"]) < 0.03  # the control is on the training scale
    # model trained on scale a predicts b-stars 0.15 dex low: negative offset of the right size
    assert other["offset"] == pytest.approx(-0.15, abs=0.03)
    assert {"giant/<4500", "dwarf/>=5500"} <= set(off.loc["b"].index)
    p = res.predictions
    assert set(p["test_set"]) == {"a (held out)", "b"} and {"feh", "feh_pred", "region"} <= set(p.columns)
    with pytest.raises(InputError, match="values present"):
        cross_survey(table, X, train_source="lamost")


def test_label_scale_deming_recovers_offset_and_slope():
    rng = np.random.default_rng(7)
    n = 4000
    truth = rng.normal(-0.3, 0.3, n)
    # source scale: compressed and shifted, noisy; target scale: truth with small noise
    x = (truth + 0.08) / 1.1 + 0.10 * rng.standard_normal(n)
    y = truth + 0.03 * rng.standard_normal(n)
    m = fit_label_scale(x, y, degree=1, x_err=0.10, y_err=0.03, n_boot=100, seed=1,
                        source="lamost", target="apogee")
    assert m.method == "deming" and m.route == "overlap"
    c0, c1 = m.polynomial()  # y = c0 + c1 x, injected: c1 = 1.1, c0 = -0.08
    slope_err = m.coef_err[1]
    assert c1 == pytest.approx(1.1, abs=3 * slope_err)
    assert c0 == pytest.approx(-0.08, abs=3 * np.hypot(m.coef_err[0], m.x0 * slope_err))
    # ordinary least squares on the same noisy x is biased low in slope (regression dilution)
    ols = fit_label_scale(x, y, degree=1, method="ols", n_boot=20)
    assert ols.coef[1] < 1.1 - 5 * ols.coef_err[1]


def test_label_scale_teff_term_and_apply():
    rng = np.random.default_rng(2)
    n = 3000
    x = rng.uniform(-1.0, 0.4, n)
    teff = rng.uniform(4000, 6500, n)
    y = 0.05 + 0.95 * x + 0.04 * (teff - 5000) / 1000 + 0.02 * rng.standard_normal(n)
    m = fit_label_scale(x, y, degree=2, teff=teff, n_boot=50, seed=0, route="predictions")
    assert m.method == "ols" and m.coef_teff == pytest.approx(0.04, abs=3 * m.coef_teff_err)
    p = m.polynomial()
    assert p[0] == pytest.approx(0.05, abs=0.01) and p[1] == pytest.approx(0.95, abs=0.02)
    with pytest.raises(InputError, match="pass teff"):
        m.apply([0.0])
    clusters = pd.DataFrame({"cluster": ["A", "B"], "feh": [-0.2, 0.1], "feh_err": [0.05, 0.0], "teff": [5000, 5000]})
    out = apply_label_scale(clusters, m, "feh", "feh_err", teff_column="teff")
    np.testing.assert_allclose(out["feh_target"], 0.05 + 0.95 * clusters["feh"], atol=0.01)
    assert out["feh_target_err"].iloc[0] > 0.95 * 0.05 * 0.99  # input error propagated through the slope
    assert out.attrs["label_scale"]["route"] == "predictions"
    with pytest.warns(OcfehWarning, match="outside the fitted range"):
        m.apply([2.0], teff=[5000.0])


def test_cluster_offsets_before_after_mapping():
    """A shifted scale gives a cluster offset; mapping it back removes it within the errors."""
    rng = np.random.default_rng(5)
    true_feh = {"A": -0.4, "B": 0.0, "C": 0.2}
    rows = []
    for c, f in true_feh.items():
        for _ in range(40):
            rows.append({"cluster": c, "feh_true": f, "feh": 0.9 * f - 0.1 + 0.05 * rng.standard_normal()})
    members = pd.DataFrame(rows)
    before = cluster_offsets(members, "feh", "feh_true")
    assert (before["offset"] < -0.05).all()
    field_truth = rng.uniform(-0.8, 0.4, 3000)
    field_lab = 0.9 * field_truth - 0.1 + 0.05 * rng.standard_normal(3000)
    m = fit_label_scale(field_lab, field_truth, x_err=0.05, y_err=1e-3, n_boot=50)
    after = cluster_offsets(apply_label_scale(members, m, "feh"), "feh_target", "feh_true")
    assert (np.abs(after["offset"]) < 3 * after["offset_err"] + 0.01).all()


def test_errors_are_clear():
    with pytest.raises(InputError, match="needs at least"):
        fit_label_scale([0.0, 1.0], [0.0, 1.0])
    with pytest.raises(InputError, match="degree"):
        fit_label_scale(np.arange(50.0), np.arange(50.0), degree=5)
    with pytest.raises(InputError, match="Deming"):
        fit_label_scale(np.arange(50.0), np.arange(50.0), method="deming")


def test_green2020_real_table(shared_data):
    """The real LAMOST/APOGEE/GALAH table: readable, sensible extinction vector, three label sources."""
    t = read_green2020(shared_data / "lamost_gaia_wise" / "green2020_half_a.csv")
    assert len(t) == 5000 and set(t["label_source"]) == {"lamost", "apogee", "galah"}
    r = t.attrs["extinction_ratios"]
    # extinction falls with wavelength: BP > G > RP > J > H > Ks > W1 > W2
    seq = [r[b] for b in ("BP", "G", "RP", "J", "H", "Ks", "W1", "W2")]
    assert all(a > b for a, b in pairwise(seq))
    f = colour_features(t, GREEN2020_BANDS, r, "ebv_bayestar")
    assert f.shape == (5000, 13 + 78 + 1)
    # de-reddened BP-RP of G dwarfs (5600-6000 K) is near the solar-analogue value 0.82 (+-0.15)
    sel = (t["teff"].between(5600, 6000) & (t["logg"] > 4.0)).to_numpy()
    assert abs(np.nanmedian(f.loc[sel, "BP-RP"]) - 0.82) < 0.15
