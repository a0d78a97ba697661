"""Zero points, Vega, cross-grid and S-PLUS checks of ocfeh.synthphot."""

from __future__ import annotations

import numpy as np
import pytest

from ocfeh.bands import JPLUS_BANDS, get_band, splus_bands
from ocfeh.synthphot import magnitudes
from ocfeh.synthphot.photometry import Quadrature, spectrum_magnitude, vega_spectrum, zero_point_counts

H_CGS = 6.62607015e-27
C_AA_S = 2.99792458e18
GAIA_PUPIL_CM2 = 0.7278e4  # Riello et al. 2021
# Riello et al. (2021, A&A 649, A3) Table 2: (AB, Vega) zero points
RIELLO = {"G": (25.8010, 25.6874), "BP": (25.3540, 25.3385), "RP": (25.1040, 24.7479)}
# Jarrett et al. (2011, ApJ 735, 112): m_AB - m_Vega, and zero-magnitude flux densities [Jy]
JARRETT = {"W1": (2.699, 309.540), "W2": (3.339, 171.787)}


def _ab_minus_vega(name: str) -> float:
    """m_AB - m_Vega of any source in this band: minus the AB magnitude of a 0-mag Vega-system source."""
    q = Quadrature.from_curve(get_band(name).curve)
    return float(-2.5 * np.log10(zero_point_counts(q, "Vega") / zero_point_counts(q, "AB")))


@pytest.mark.parametrize("band", ["G", "BP", "RP"])
def test_gaia_vega_magnitude_matches_riello_zero_point(band):
    """Vega's G/BP/RP from the published ZP_Vega and the photon rate equals our synthetic Vega mag."""
    b = get_band(band)
    q = Quadrature.from_curve(b.curve)
    vw, vf = vega_spectrum()
    rate = np.interp(q.wavelength_aa, vw, vf) @ q.weights / (H_CGS * C_AA_S) * GAIA_PUPIL_CM2  # photons/s
    published = -2.5 * np.log10(rate) + RIELLO[band][1]
    ours = float(spectrum_magnitude(vw, vf, b))
    assert ours == pytest.approx(published, abs=0.005)
    assert abs(ours) < 0.03  # Gaia DR3 puts Vega at +0.023


@pytest.mark.parametrize("band", ["G", "BP", "RP"])
def test_gaia_ab_minus_vega_offsets_match_riello(band):
    zp_ab, zp_vega = RIELLO[band]
    vab = _ab_minus_vega(band)  # AB mag of Vega with Vega = 0
    # Gaia: m_AB - m_Vega = ZP_AB - ZP_Vega, and Vega is 0.023 on the Gaia Vega scale
    assert vab - 0.023 == pytest.approx(zp_ab - zp_vega, abs=0.005)


@pytest.mark.parametrize("band", ["W1", "W2"])
def test_wise_ab_minus_vega_offsets_match_jarrett(band):
    delta, fnu0 = JARRETT[band]
    vab = _ab_minus_vega(band)
    assert vab == pytest.approx(delta, abs=0.03)
    assert vab == pytest.approx(-2.5 * np.log10(fnu0 / 3631.0), abs=0.01)


def test_vega_spectrum_is_zero_in_wise_and_jplus_is_ab():
    vw, vf = vega_spectrum()
    for band in ("W1", "W2"):
        assert float(spectrum_magnitude(vw, vf, get_band(band))) == pytest.approx(0.0, abs=0.02)
    # a flat f_nu = 3631 Jy source is 0 in every AB band
    w = np.linspace(3000, 11000, 4000)
    flat = 3631e-23 * C_AA_S / w**2
    for band in JPLUS_BANDS:
        assert float(spectrum_magnitude(w, flat, get_band(band))) == pytest.approx(0.0, abs=1e-4)


def test_model_vega_through_the_grid():
    """Kurucz-model Vega (9550 K, 3.95, -0.5; theta_LD = 3.28 mas, Ciardi et al. 2001; d = 7.68 pc)."""
    d = 7.68
    radius = (3.28e-3 / 2 / 206264.806) * d * 3.0856775814913673e18 / 6.957e10
    m = magnitudes(9550.0, 3.95, -0.5, radius=radius, distance=d, bands="gaia+wise")
    expected = {"G": 0.023, "BP": 0.023, "RP": 0.023, "W1": 0.0, "W2": 0.0}
    for band, ref in expected.items():
        assert m[band][0] == pytest.approx(ref, abs=0.03), band


def test_coelho_grid_agrees_with_merged_grid_for_the_sun():
    """Independent cross-check: Coelho (2014) solar model vs the merged grid, broad-band colours."""
    from ocfeh.synthphot.spectra import load_grid

    g = load_grid("coelho")
    i = np.flatnonzero((g.teff == 5750) & (g.logg == 4.5) & (g.feh == 0.0))[0]
    bands = ["gSDSS", "rSDSS", "iSDSS", "BP", "RP", "W1"]
    coelho = {b: float(spectrum_magnitude(g.wavelength_aa, g.flam(i), get_band(b))) for b in bands}
    ours = magnitudes(5750.0, 4.5, 0.0, radius=6.957e10, distance=1 / 3.0856775814913673e18, bands=bands)
    for a, b in [("gSDSS", "rSDSS"), ("rSDSS", "iSDSS"), ("BP", "RP"), ("RP", "W1")]:
        assert (coelho[a] - coelho[b]) == pytest.approx(ours[a][0] - ours[b][0], abs=0.05), (a, b)


def test_splus_and_jplus_solar_colours_agree(shared_data):
    splus = splus_bands(shared_data / "filters_splus")
    s = magnitudes(5772.0, 4.44, 0.0, bands=list(splus.values()))
    j = magnitudes(5772.0, 4.44, 0.0, bands="jplus")
    assert s["in_grid"][0]
    sc = s[list(JPLUS_BANDS)].to_numpy()[0]
    jc = j[list(JPLUS_BANDS)].to_numpy()[0]
    diff = (sc - sc[7]) - (jc - jc[7])  # colours relative to rSDSS
    assert np.all(np.abs(diff) < 0.1), dict(zip(JPLUS_BANDS, diff.round(3)))
    assert np.any(np.abs(diff) > 1e-4)  # the curves really differ


def _synthetic_stars(n=400, seed=0, shift=0.0):
    import pandas as pd

    rng = np.random.default_rng(seed)
    t = pd.DataFrame({"teff": rng.uniform(5600, 6400, n), "logg": rng.uniform(4.0, 4.5, n),
                      "feh": rng.uniform(-2.0, 0.0, n), "a0": rng.uniform(0.0, 0.5, n)})
    m = magnitudes(t["teff"], t["logg"], t["feh"], a0=t["a0"], bands=["J0395", "J0410", "rSDSS"])
    for b in ("J0395", "J0410", "rSDSS"):
        t[f"mag_{b}"] = m[b].to_numpy() + (shift if b == "J0395" else 0.0)
        t[f"mag_err_{b}"] = 0.01
    return t


def test_colour_residuals_recover_an_injected_offset_and_unit_sensitivity():
    from ocfeh.synthphot import colour_residuals

    r = colour_residuals(_synthetic_stars(shift=0.1), ["J0395", "J0410"]).set_index("band")
    assert r.loc["J0395", "offset"] == pytest.approx(0.1, abs=1e-6)
    assert r.loc["J0410", "offset"] == pytest.approx(0.0, abs=1e-6)
    assert r.loc["J0395", "robust_scatter"] < 1e-6
    # reddened magnitudes compared at each star's a0: the same colour, the same [Fe/H] slope
    assert r.loc["J0395", "sensitivity_ratio"] == pytest.approx(1.0, abs=1e-9)
    assert r.loc["J0395", "slope_synthetic"] > 0.05  # Ca II H&K: bluer at low [Fe/H]


def test_sensitivity_ratio_is_corrected_for_label_noise():
    """Colours made at the true [Fe/H], labels with 0.2 dex noise: the fit against the labels flattens the
    observed slope by var(true) / var(label) = 0.89; corrected, the ratio is 1 within its error."""
    from ocfeh.synthphot import colour_residuals

    t = _synthetic_stars(n=3000, seed=4)
    t["feh"] = t["feh"] + np.random.default_rng(5).normal(0.0, 0.2, len(t))
    t["feh_err"] = 0.2
    r = colour_residuals(t, ["J0395"]).iloc[0]
    assert r["label_reliability"] == pytest.approx(1 - 0.04 / (0.04 + 4 / 12), abs=0.02)
    raw = r["slope_synthetic"] / r["slope_observed"]
    assert raw > 1.08  # without the correction the model spectra would look 11% too sensitive
    assert abs(r["sensitivity_ratio"] - 1) < 3 * r["slope_observed_err"] / r["slope_observed"] + 0.01


def test_colour_residuals_reject_bad_tables():
    from ocfeh.exceptions import InputError
    from ocfeh.synthphot import colour_residuals

    t = _synthetic_stars(n=60)
    with pytest.raises(InputError, match="mag_J0430"):
        colour_residuals(t, ["J0430"])
    with pytest.raises(InputError, match="empty"):
        colour_residuals(t.iloc[:0], ["J0395"])
    few = colour_residuals(t.iloc[:20], ["J0395"]).iloc[0]
    assert few["n"] == 20 and np.isnan(few["slope_observed"])  # too few stars for the fit
    # without error columns: no expected scatter, every star in the fit
    bare = colour_residuals(t.drop(columns=[c for c in t if c.startswith("mag_err_")]), ["J0395"], min_stars=50)
    assert np.isnan(bare["expected_scatter"].iloc[0]) and bare["n_fit"].iloc[0] == 60


def test_synthetic_jplus_colours_match_real_jplus_photometry(shared_data):
    """Real J-PLUS photometry (IDR, de-reddened) of SEGUE stars against synthetic colours at their labels:
    the broad bands agree within the calibration, and the metal-sensitive blue bands carry about as much
    [Fe/H] signal per dex in the model spectra as in the real stars (turn-off dwarfs, [Fe/H] -2.5 to -0.7),
    so the mock sky is not optimistic about J-PLUS metallicities."""
    from ocfeh.catalogs import read_catalog
    from ocfeh.synthphot import colour_residuals

    t = read_catalog(shared_data / "jplus_segue" / "IDR_SEGUE.csv", "jplus_segue")
    r = colour_residuals(t, ["uJAVA", "J0395", "J0410", "gSDSS", "J0515", "J0660", "iSDSS"]).set_index("band")
    for b in ("gSDSS", "J0515", "J0660", "iSDSS"):
        assert abs(r.loc[b, "offset"]) < 0.06, b
    for b in ("uJAVA", "J0395"):
        assert r.loc[b, "slope_observed"] > 8 * r.loc[b, "slope_observed_err"], b
        assert 0.7 < r.loc[b, "sensitivity_ratio"] < 1.3, b
    # Ca II H&K (J0395) carries far more [Fe/H] signal than the neighbouring J0410, in both
    assert r.loc["J0395", "slope_observed"] > 3 * r.loc["J0410", "slope_observed"]
    assert r.loc["J0395", "slope_synthetic"] > 3 * r.loc["J0410", "slope_synthetic"]


def test_check_colours_flags_a_band_in_the_wrong_magnitude_system(caplog):
    import logging

    from ocfeh.synthphot import check_colours

    t = _synthetic_stars(n=200)
    m = magnitudes(t["teff"], t["logg"], t["feh"], a0=t["a0"], bands=["G", "W1"])
    t["mag_G"], t["mag_W1"] = m["G"], m["W1"] + 2.699  # W1 in AB where the schema wants Vega
    with caplog.at_level(logging.WARNING, logger="ocfeh.synthphot.colour_check"):
        _, summary = check_colours(t)
    assert summary["reference"] == "rSDSS" and summary["flagged"] == ["W1"]
    assert summary["offsets"]["W1"] == pytest.approx(2.699, abs=1e-3) and abs(summary["offsets"]["G"]) < 1e-6
    assert "W1 - rSDSS" in caplog.text and "AB / Vega" in caplog.text
    assert check_colours(t.drop(columns=["feh"]))[0] is None
    assert "reference" in check_colours(t[["teff", "logg", "feh", "mag_W1"]])[1]["skipped"]
