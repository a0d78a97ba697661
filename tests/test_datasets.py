"""The apogee-xp dataset: XP-synthetic photometry, positions, extinction, cleaning, physics checks."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

from ocfeh.bands import JPLUS_BANDS, get_band
from ocfeh.datasets import load_apogee_xp, load_dataset
from ocfeh.datasets.apogee_xp import ak_to_a0, parse_apogee_designation
from ocfeh.datasets.xp_synthetic import XP_WAVELENGTH_NM, band_weights, xp_synthetic_mags
from ocfeh.exceptions import InputError

_C_AA_S = 2.99792458e18
# Gaia EDR3 zero points (Riello et al. 2021): AB minus Vega, mag
_AB_MINUS_VEGA = {"G": 25.8010 - 25.6874, "BP": 25.3540 - 25.3385, "RP": 25.1040 - 24.7479}


@pytest.fixture(scope="module")
def axp(tmp_path_factory) -> pd.DataFrame:
    mp = pytest.MonkeyPatch()
    mp.setenv("OCFEH_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
    try:
        yield load_apogee_xp()
    finally:
        mp.undo()


def _ab_spectrum(mag_ab: float, n: int = 1) -> np.ndarray:
    """f_lambda [W m^-2 nm^-1] of a flat-f_nu source of AB magnitude mag_ab on the XP grid."""
    lam_aa = XP_WAVELENGTH_NM * 10.0
    f = 3631e-26 * 10 ** (-0.4 * mag_ab) * _C_AA_S / lam_aa**2 * 10.0
    return np.tile(f, (n, 1))


# --- XP-synthetic photometry --------------------------------------------------------------


def test_flat_fnu_source_has_its_ab_magnitude_in_every_covered_band():
    flux = _ab_spectrum(15.0)
    mags, _, _, info = xp_synthetic_mags(flux, 0.01 * flux, JPLUS_BANDS)
    for b in JPLUS_BANDS:
        if info[b]["computed"]:
            assert mags[b][0] == pytest.approx(15.0, abs=2e-3), b
    # a power law continues flat beyond 1020 nm only approximately: zSDSS is the only extended band
    assert [b for b in JPLUS_BANDS if info[b]["extended"]] == ["zSDSS"]


def test_scale_argument_multiplies_the_flux():
    flux = _ab_spectrum(0.0)
    mags, *_ = xp_synthetic_mags(flux / 1e-6, flux, ["rSDSS"], scale=np.array([1e-6]))
    assert mags["rSDSS"][0] == pytest.approx(0.0, abs=2e-3)


def test_truncated_uJAVA_is_nan_unless_allowed():
    flux = _ab_spectrum(14.0)
    mags, errs, _, info = xp_synthetic_mags(flux, 0.01 * flux, ["uJAVA", "J0378"])
    assert info["uJAVA"]["frac_outside"] == pytest.approx(0.137, abs=0.005)
    assert info["J0378"]["frac_outside"] == 0.0
    assert np.isnan(mags["uJAVA"]).all() and np.isnan(errs["uJAVA"]).all()
    loose, *_ = xp_synthetic_mags(flux, 0.01 * flux, ["uJAVA"], max_truncation=0.2)
    assert loose["uJAVA"][0] == pytest.approx(14.0, abs=0.02)  # flat continuation of a flat-f_nu source


def test_propagated_errors_match_monte_carlo_for_independent_noise():
    rng = np.random.default_rng(3)
    n = 4000
    flux = _ab_spectrum(13.0, n)
    err = 0.05 * flux
    noisy = flux + rng.normal(size=flux.shape) * err
    mags, errs, errs_corr, _ = xp_synthetic_mags(noisy, err, ["J0660", "gSDSS"])
    for b in ("J0660", "gSDSS"):
        assert np.std(mags[b]) == pytest.approx(np.median(errs[b]), rel=0.08), b
        assert np.median(errs_corr[b]) > 2 * np.median(errs[b])  # the fully correlated upper bound


def test_non_positive_flux_gives_nan_and_bad_shape_raises():
    flux = -_ab_spectrum(13.0)
    mags, *_ = xp_synthetic_mags(flux, np.abs(flux), ["rSDSS"])
    assert np.isnan(mags["rSDSS"]).all()
    with pytest.raises(ValueError, match="shape"):
        xp_synthetic_mags(np.ones((2, 100)), np.ones((2, 100)), ["rSDSS"])


def test_band_weights_integrate_the_curve():
    bw = band_weights("J0660")
    curve = get_band("J0660").curve
    # a spectrum f_lambda = 1 gives int T lam dlam
    assert bw.weights.sum() == pytest.approx(
        np.trapezoid(curve.throughput * curve.wavelength_aa, curve.wavelength_aa), rel=2e-3
    )


# --- positions, extinction, split --------------------------------------------------------------


def test_parse_designation():
    ra, dec = parse_apogee_designation(
        ["2M14300843-6315371", "AP18122080-3134591", "2M00000000+0000000", "bad"]
    )
    assert ra[0] == pytest.approx(15 * (14 + 30 / 60 + 8.43 / 3600))
    assert dec[0] == pytest.approx(-(63 + 15 / 60 + 37.1 / 3600))
    assert ra[1] == pytest.approx(15 * (18 + 12 / 60 + 20.80 / 3600))
    assert dec[1] == pytest.approx(-(31 + 34 / 60 + 59.1 / 3600))
    assert (ra[2], dec[2]) == (0.0, 0.0)
    assert np.isnan(ra[3]) and np.isnan(dec[3])


def test_ak_to_a0_follows_g23():
    a0 = ak_to_a0(np.array([0.0, 0.1]))
    assert a0[0] == 0.0
    assert a0[1] == pytest.approx(0.956, abs=0.01)  # G23, R_V = 3.1: A_K / A_0 = 0.1046


# --- the real dataset --------------------------------------------------------------


def test_dataset_size_columns_and_cleaning(axp):
    df = axp
    assert 23_000 < len(df) < 26_000  # the issue: about 25,000 stars with SNR > 70 and G < 17
    assert df.source_id.is_unique
    steps = df.attrs["cleaning"]
    assert steps[0]["remaining"] == 40226 and steps[-1]["remaining"] == len(df)
    for prev, cur in itertools.pairwise(steps):
        assert prev["remaining"] - cur["removed"] == cur["remaining"]
    assert {r["step"]: r["removed"] for r in steps}["duplicates"] == 375
    for col in (
        "ra",
        "dec",
        "a0",
        "teff",
        "logg",
        "feh",
        "teff_err",
        "snr",
        "mag_G",
        "mag_BP",
        "mag_RP",
        "mag_J",
        "mag_H",
        "mag_Ks",
        "mag_rSDSS",
        "mag_err_rSDSS",
    ):
        assert np.isfinite(df[col]).all(), col
    assert (df.snr > 70).all() and (df.mag_G < 17).all() and (df.a0 >= 0).all()
    assert (df.label_source == "apogee").all()
    assert "uJAVA" not in df.attrs["bands"] and {"J", "H", "Ks", "zSDSS"} <= set(df.attrs["bands"])
    mags = df[[f"mag_{b}" for b in df.attrs["bands"]]].to_numpy()
    assert np.nanmax(mags) < 30 and np.nanmin(mags) > 0  # no 99 sentinels
    assert "parallax" not in df and "distance_pc" not in df  # colours only


def test_positions_fall_in_the_gaia_source_id_healpix_pixel(axp):
    nested = pytest.importorskip("cdshealpix.nested")
    import astropy.units as u
    from astropy.coordinates import Latitude, Longitude

    pix = nested.lonlat_to_healpix(
        Longitude(axp.ra.to_numpy() * u.deg), Latitude(axp.dec.to_numpy() * u.deg), 12
    )
    # Gaia source_id // 2**35 is the HEALPix level-12 (nested) pixel; proper motions move a few out
    assert np.mean(pix == (axp.source_id.to_numpy() >> 35)) > 0.98


def test_g_minus_r_against_bp_minus_rp_is_tight_and_monotonic(axp):
    bprp = axp.mag_BP - axp.mag_RP
    gr = axp.mag_gSDSS - axp.mag_rSDSS
    edges = np.arange(0.5, 2.6, 0.1)
    med, sd = [], []
    for lo, hi in itertools.pairwise(edges):
        d = gr[(bprp >= lo) & (bprp < hi)]
        med.append(np.median(d))
        sd.append(1.4826 * np.median(np.abs(d - np.median(d))))
    assert np.all(np.diff(med) > 0.05)  # ~0.9 mag of g-r per mag of BP-RP
    assert max(sd) < 0.1  # reddening and metallicity only


def _synth_ab(wave_aa, flam, band):
    curve = get_band(band).curve
    lam = np.arange(curve.wavelength_aa[0], curve.wavelength_aa[-1] + 1.0)
    thr = np.interp(lam, curve.wavelength_aa, curve.throughput)
    f = np.array([np.interp(lam, wave_aa, fl) for fl in flam])
    return -2.5 * np.log10(np.trapezoid(f * thr * lam, lam, axis=1) / np.trapezoid(thr / lam, lam))


def test_colours_of_dwarfs_match_kurucz_synthetic_photometry(axp):
    grids = pytest.importorskip("ocfeh.synthphot.spectra")
    g = grids.load_grid("kurucz")
    sel = (g.logg == 4.5) & (g.feh == 0.0) & (g.teff >= 4500) & (g.teff <= 6500)
    fl = g.flam(sel)
    m = {
        b: _synth_ab(g.wavelength_aa, fl, b) - _AB_MINUS_VEGA.get(b, 0.0)
        for b in ("gSDSS", "rSDSS", "G", "BP", "RP")
    }
    dwarfs = axp[(axp.a0 < 0.2) & (axp.logg > 4.0) & (axp.feh.abs() < 0.3)]
    bprp = (dwarfs.mag_BP - dwarfs.mag_RP).to_numpy()
    for i in range(sel.sum()):
        near = np.abs(bprp - (m["BP"][i] - m["RP"][i])) < 0.03
        assert near.sum() >= 20
        rg = np.median((dwarfs.mag_rSDSS - dwarfs.mag_G)[near])
        gr = np.median((dwarfs.mag_gSDSS - dwarfs.mag_rSDSS)[near])
        # solar-type stars: r_AB - G_Vega about -0.03 (r brighter); Kurucz within 0.03 mag
        assert rg == pytest.approx(m["rSDSS"][i] - m["G"][i], abs=0.03)
        assert gr == pytest.approx(m["gSDSS"][i] - m["rSDSS"][i], abs=0.06)


def test_feh_distribution_is_plausible_for_apogee(axp):
    feh = axp.feh
    assert -0.5 < feh.median() < 0.0
    assert 0.01 < (feh < -1.0).mean() < 0.2
    assert feh.max() < 0.7 and feh.min() > -2.6
    assert 3000 < axp.teff.min() and axp.teff.max() < 8000


def test_cache_round_trip_and_split(axp):
    again = load_apogee_xp()  # from the module's cache directory
    pd.testing.assert_frame_equal(again, axp)
    assert again.attrs["cleaning"] == axp.attrs["cleaning"]
    df = load_dataset("apogee-xp", seed=3)
    assert set(df.split) == {"train", "val", "test"}
    assert df.attrs["split"]["seed"] == 3 and df.attrs["provenance"]["seed"] == 3
    assert (df.split == load_dataset("apogee-xp", seed=3).split).all()
    with pytest.raises(InputError, match="apogee-xp"):
        load_dataset("apogee_xp")
    with pytest.raises(InputError, match="xp_error"):
        load_apogee_xp(xp_error="covariance")


def test_cli_writes_the_table(axp, tmp_path):
    from typer.testing import CliRunner

    from ocfeh.cli import app

    out = tmp_path / "axp.csv"
    res = CliRunner().invoke(
        app, ["dataset", "apogee-xp", "-o", str(out), "--seed", "1", "--xp-error", "correlated"]
    )
    assert res.exit_code == 0, res.output
    df = pd.read_csv(out)
    assert len(df) == len(axp) and "split" in df
    upper = axp.attrs["xp_error_model"]["median_err_fully_correlated"]["rSDSS"]
    assert df.mag_err_rSDSS.median() == pytest.approx(upper, rel=1e-3)
    assert df.mag_err_rSDSS.median() > 3 * axp.mag_err_rSDSS.median()
    assert (tmp_path / "axp.csv.json").is_file()
    bad = CliRunner().invoke(app, ["dataset", "apogee-xp", "-o", str(tmp_path / "x.txt")])
    assert bad.exit_code != 0


def test_cli_max_truncation_adds_xp_synthetic_ujava(axp, tmp_path):
    from scipy.stats import spearmanr
    from typer.testing import CliRunner

    from ocfeh.cli import app

    assert axp.mag_uJAVA.isna().all()  # 13.7 % of uJAVA lies below 336 nm: dropped by default
    out = tmp_path / "axp18.parquet"
    res = CliRunner().invoke(app, ["dataset", "apogee-xp", "-o", str(out), "--max-truncation", "0.15"])
    assert res.exit_code == 0, res.output
    df = pd.read_parquet(out)
    assert len(df) == len(axp) and np.isfinite(df.mag_uJAVA).mean() > 0.99
    np.testing.assert_array_equal(df.mag_J0378.to_numpy(), axp.mag_J0378.to_numpy())
    # the Balmer-jump region: uJAVA - gSDSS gets bluer with Teff, as for any F-K star
    assert spearmanr(df.teff, df.mag_uJAVA - df.mag_gSDSS, nan_policy="omit").statistic < -0.5


def test_demo_on_apogee_xp_uses_the_benchmarked_model_settings(monkeypatch, tmp_path):
    """`ocfeh demo --dataset apogee-xp` trains with MODEL_SETTINGS (what bench_models measures); --small not."""
    from typer.testing import CliRunner

    import ocfeh.pipeline.demo_run
    from ocfeh.cli import app
    from ocfeh.datasets import MODEL_SETTINGS
    from ocfeh.profiles import apply_profile
    from ocfeh.train.model import ModelConfig

    seen = []

    class _Result:
        run_dir = tmp_path

    monkeypatch.setattr(ocfeh.pipeline.demo_run, "run", lambda cfg, from_stage=None: seen.append(cfg) or _Result())
    for extra in ([], ["--small"]):
        res = CliRunner().invoke(app, ["demo", "--dataset", "apogee-xp", "--out", str(tmp_path / "r"), *extra])
        assert res.exit_code == 0, res.output
    full, small = seen
    mcfg = apply_profile(full.section("model"), full.run.profile)
    assert mcfg.objective == "huber" and mcfg.n_models == MODEL_SETTINGS["model"]["n_models"]
    assert mcfg.n_estimators == MODEL_SETTINGS["model"]["n_estimators"]  # not the profile's 500
    assert full.section("selection").final_learning_rate == MODEL_SETTINGS["selection"]["final_learning_rate"]
    assert full.section("features").curvatures == MODEL_SETTINGS["features"]["curvatures"]
    assert full.section("features").a0_feature and not small.section("features").a0_feature
    assert small.section("model").objective == ModelConfig().objective



@pytest.mark.parametrize("fractions", [(0.7, 0.2, 0.2), (0.7, 0.4, -0.1), (0.8, 0.2)])
def test_load_dataset_rejects_bad_fractions_before_loading(monkeypatch, fractions):
    import ocfeh.datasets as ds

    def never(**_):
        raise AssertionError("loaded before the fractions were checked")

    monkeypatch.setitem(ds.DATASETS, "apogee-xp", never)
    with pytest.raises(InputError, match="'fractions' parameter of load_dataset must be three shares"):
        load_dataset("apogee-xp", seed=1, fractions=fractions)
