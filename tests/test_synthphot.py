"""Physical checks of ocfeh.synthphot (issue 2, section 3): each can fail."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from ocfeh.bands import JPLUS_BANDS, get_band
from ocfeh.exceptions import UnknownBandError
from ocfeh.synthphot import extinction, extinction_coefficients, magnitudes, radius_from_mass_logg

OPTICAL = list(JPLUS_BANDS) + ["G", "BP", "RP"]


def test_sun_gaia_colour_and_absolute_magnitude():
    sun = magnitudes(5772.0, 4.44, 0.0, radius=1.0, distance=10.0)
    assert bool(sun["in_grid"][0])
    assert 0.78 <= sun["BP"][0] - sun["RP"][0] <= 0.86
    assert 4.6 <= sun["G"][0] <= 4.8


def test_extinction_coefficients_5000k_dwarf():
    k = extinction_coefficients(5000.0, 4.5, 0.0, a0=1.0)
    assert 0.75 <= k["G"][0] <= 0.90
    assert k["W1"][0] < 0.1
    # A_band falls with wavelength within each system (broad bands have colour-dependent
    # effective wavelengths, so Gaia is ordered separately from the J-PLUS narrow bands)
    for order in (list(JPLUS_BANDS), ["BP", "G", "RP", "W1", "W2"], ["zSDSS", "W1"]):
        order = sorted(order, key=lambda b: get_band(b).pivot_wavelength_aa)
        vals = k[order].to_numpy()[0]
        assert np.all(np.diff(vals) < 0), dict(zip(order, vals))


def test_extinction_grows_with_a0_and_matches_magnitude_difference():
    a0 = np.array([0.0, 0.5, 2.0, 5.0])
    ext = extinction(6000.0, 4.0, -0.5, a0)
    assert np.all(np.diff(ext["G"]) > 0)
    m = magnitudes(6000.0, 4.0, -0.5, a0=a0)
    np.testing.assert_allclose(m["G"] - m["G"][0], ext["G"], atol=1e-9)


def test_band_order_does_not_change_reddened_magnitudes():
    # every band in a non-canonical order once took the extinction of the band at the same position
    canonical = magnitudes([5800.0, 4500.0], 4.4, 0.0, a0=1.5)
    names = [c for c in canonical.columns if c != "in_grid"]
    for order in (names[::-1], sorted(names)):
        m = magnitudes([5800.0, 4500.0], 4.4, 0.0, a0=1.5, bands=order)
        np.testing.assert_allclose(m[names].to_numpy(), canonical[names].to_numpy(), atol=1e-9)
        k = extinction_coefficients(5800.0, 4.4, 0.0, a0=1.5, bands=order)
        assert k["uJAVA"][0] > k["G"][0] > k["W2"][0]


@pytest.mark.parametrize("teff, logg", [(5000.0, 4.5), (6000.0, 4.0), (4500.0, 2.5)])
def test_metal_sensitive_colours_redden_with_feh(teff, logg):
    feh = np.array([-2.0, -1.5, -1.0, -0.5, 0.0, 0.5])
    m = magnitudes(teff, logg, feh, bands=["uJAVA", "gSDSS", "J0395", "J0410"])
    assert m["in_grid"].all()
    assert np.all(np.diff(m["J0395"] - m["J0410"]) > 0)
    assert np.all(np.diff(m["uJAVA"] - m["gSDSS"]) > 0)


def test_outside_grid_gives_nan_and_flag():
    m = magnitudes([5000.0, 1000.0, 5000.0, 5000.0, 30000.0, 5000.0],
                   [4.5, 4.5, 9.0, 4.5, 0.5, np.nan], [0.0, 0.0, 0.0, 3.0, 0.0, 0.0],
                   a0=[0.0, 0.0, 0.0, 0.0, 0.0, 0.0], bands="gaia")
    assert m["in_grid"].tolist() == [True, False, False, False, False, False]
    assert m.loc[~m["in_grid"], ["G", "BP", "RP"]].isna().all().all()
    assert m.loc[m["in_grid"], ["G", "BP", "RP"]].notna().all().all()
    high = magnitudes(5000.0, 4.5, 0.0, a0=50.0, bands="G")
    assert not bool(high["in_grid"][0]) and np.isnan(high["G"][0])


def test_unphysical_distance_radius_a0_are_nan_and_counted(caplog):
    with caplog.at_level(logging.WARNING, logger="ocfeh.synthphot.stellar"):
        m = magnitudes(5000.0, 4.5, 0.0, a0=[0.0, -0.2, 0.0, 0.0, np.nan], radius=[1.0, 1.0, 0.0, 1.0, 1.0],
                       distance=[10.0, 10.0, 10.0, -5.0, 10.0], bands="G")
    assert m["in_grid"].tolist() == [True, False, False, False, False]
    assert m["G"].isna().tolist() == [False, True, True, True, True]
    text = caplog.text
    assert "1 of 5 stars have a negative A_0" in text and "1 of 5 stars have a distance <= 0 pc" in text
    assert "1 of 5 stars have a radius <= 0" in text  # the NaN A_0 is missing, not counted


def test_unknown_band_lists_known_bands():
    with pytest.raises(UnknownBandError, match="Known: .*J0660"):
        magnitudes(5000.0, 4.5, 0.0, bands=["G", "J0661"])


def test_broadcasting_and_distance_modulus():
    m = magnitudes(np.full(3, 5772.0), 4.44, 0.0, distance=[10.0, 100.0, 1000.0], bands="G")
    np.testing.assert_allclose(np.diff(m["G"]), [5.0, 5.0])
    r2 = magnitudes(5772.0, 4.44, 0.0, radius=2.0, bands="G")
    r1 = magnitudes(5772.0, 4.44, 0.0, radius=1.0, bands="G")
    assert r1["G"][0] - r2["G"][0] == pytest.approx(5 * np.log10(2.0))


def test_radius_from_mass_logg():
    assert radius_from_mass_logg(1.0, 4.438) == pytest.approx(1.0, abs=2e-3)
    np.testing.assert_allclose(radius_from_mass_logg([1.0, 4.0], [4.438, 4.438]), [1.0, 2.0], rtol=2e-3)


def test_cli_synth_prints_magnitudes_and_rejects_outside_grid():
    from typer.testing import CliRunner

    from ocfeh.cli import app

    runner = CliRunner()
    ok = runner.invoke(app, ["synth", "5772", "4.44", "0.0", "--bands", "gaia"])
    assert ok.exit_code == 0, ok.output
    assert "BP" in ok.output and "4.6" in ok.output
    bad = runner.invoke(app, ["synth", "5772", "9.0", "0.0", "--bands", "G"])
    assert bad.exit_code != 0 and "outside the model grid" in bad.output


def test_cli_synth_takes_a_negative_feh_and_rejects_bad_distance_or_a0():
    from typer.testing import CliRunner

    from ocfeh.cli import app

    runner = CliRunner()
    g = float(magnitudes(5000.0, 4.5, -1.0, a0=0.5, distance=100.0, bands="G")["G"][0])
    for args in (["synth", "5000", "4.5", "-1.0", "--bands", "G", "--a0", "0.5", "--distance", "100"],
                 ["synth", "--bands", "G", "--a0", "0.5", "--distance", "100", "5000", "4.5", "-1.0"],
                 ["synth", "5000", "--bands", "G", "4.5", "--distance=100", "-1", "--a0", "0.5"]):
        res = runner.invoke(app, args)
        assert res.exit_code == 0, res.output
        assert f"{g:.3f}" in res.output and "BP" not in res.output  # --bands applied, whatever its place
    for opt, value, msg in (("--distance", "0", "distance must be > 0 pc"),
                            ("--distance", "-5", "distance must be > 0 pc"),
                            ("--a0", "-1", "A_0 must be >= 0 mag")):
        res = runner.invoke(app, ["synth", "5000", "4.5", "-1.0", opt, value])
        assert res.exit_code == 2 and msg in res.output and "outside the model grid" not in res.output, res.output
    # an unknown option is still refused (not silently taken as a number)
    res = runner.invoke(app, ["synth", "5000", "4.5", "-1.0", "--bandz", "G"])
    assert res.exit_code == 2 and "--bandz" in res.output
