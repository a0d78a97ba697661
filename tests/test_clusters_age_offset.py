"""The age offset of the cluster [Fe/H] (ocfeh.clusters.age_offset): physical and statistical checks."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ocfeh.clusters.age_offset import AgeOffset, main_sequence, reference_log_ages, synthetic_zero_points
from ocfeh.clusters.metallicity import fit_cluster_feh, shift_posterior
from ocfeh.exceptions import InputError
from ocfeh.synthphot import magnitudes


@pytest.fixture(scope="module")
def grid():
    from ocfeh.synthphot import load_isochrones

    return load_isochrones().subset()


class AbsoluteMagnitudeReader:
    """A toy predictor whose [Fe/H] is k times the absolute G magnitude (A_G = 0.8 A_0 assumed)."""

    bands = ("G",)

    def __init__(self, k: float):
        self.k = k

    def point(self, table: pd.DataFrame) -> dict:
        m_abs = table["mag_G"] - 5 * np.log10(table["distance_pc"] / 10) - 0.8 * table["a0"]
        return {"feh": self.k * m_abs.to_numpy(float)}


def _dwarfs(teff, err=0.0):
    n = len(teff)
    return pd.DataFrame({"teff": teff, "logg": np.full(n, 4.5), "a0": np.full(n, 0.3),
                         "distance_pc": np.full(n, 800.0), "mag_err_G": np.full(n, err)})


def test_main_sequence_ends_at_the_turn_off_not_on_the_horizontal_branch(grid):
    """Old metal-poor isochrones have blue horizontal-branch points with log g > 3.6 at ~10,000 K,
    after the giant branch: the main sequence stops at the turn-off (~6,500 K)."""
    lt, lg, _ = main_sequence(grid, 10.1, -2.0)
    assert 6000 < 10 ** lt.max() < 7500 and lg.min() > 3.6
    lt0, _, _ = main_sequence(grid, 9.0, 0.0)  # 1 Gyr, solar: the turn-off with the hook of convective cores
    assert 7500 < 10 ** lt0.max() < 8500


def test_main_sequence_is_monotonic_and_older_dwarfs_are_brighter(grid):
    lt8, _, ll8 = main_sequence(grid, 8.5, 0.0)
    lt9, _, ll9 = main_sequence(grid, 9.9, 0.0)
    assert np.all(np.diff(lt8) > 0) and np.all(np.diff(lt9) > 0)
    assert lt8[-1] > lt9[-1] + 0.1  # the younger turn-off is hotter
    x = np.log10(5600.0)  # a solar-type dwarf has brightened by ~0.1-0.3 dex in L after 8 Gyr
    assert 0.05 < np.interp(x, lt9, ll9) - np.interp(x, lt8, ll8) < 0.4


def test_offset_of_a_luminosity_reader_follows_the_isochrone_luminosities(grid):
    k, young = 0.1, 8.3
    ref = reference_log_ages(1.0, 9.0, 5)
    model = AgeOffset(AbsoluteMagnitudeReader(k), grid, {"G": 0.0}, ref, n_draws=2)
    teff = np.array([4800.0, 5300.0, 5700.0])
    d = model.star_offsets(_dwarfs(teff), young, 0.0)
    # same Teff, so M_G differs as -2.5 log L (bolometric corrections nearly equal)
    lum = lambda a: np.interp(np.log10(teff), *main_sequence(grid, a, 0.0)[::2])
    expected = k * -2.5 * (lum(young) - np.mean([lum(a) for a in ref], axis=0))
    assert np.all(d > 0)  # young dwarfs are fainter, so this reader gives them a higher value
    np.testing.assert_allclose(d, expected, atol=k * 0.03)


def test_offset_vanishes_at_the_reference_age_despite_noise(grid):
    model = AgeOffset(AbsoluteMagnitudeReader(0.1), grid, {"G": 0.0}, np.array([9.3]), n_draws=4, seed=3)
    members = _dwarfs([4800.0, 5200.0, 5600.0, 6000.0], err=0.05)
    members.loc[len(members)] = [5000.0, 2.5, 0.3, 800.0, 0.05]  # a giant: not simulated
    d = model.star_offsets(members, 9.3, -0.2)
    assert np.isnan(d[-1])
    np.testing.assert_allclose(d[:-1], 0.0, atol=1e-12)
    delta, n = model.offset(members, 9.3, -0.2)
    assert n == 4 and abs(delta) < 1e-12


def test_offset_needs_member_columns(grid):
    model = AgeOffset(AbsoluteMagnitudeReader(0.1), grid, {}, np.array([9.3]))
    with pytest.raises(InputError, match="distance_pc"):
        model.star_offsets(_dwarfs([5000.0]).drop(columns="distance_pc"), 9.0, 0.0)


def test_synthetic_zero_points_recover_injected_offsets():
    rng = np.random.default_rng(0)
    n = 300
    stars = pd.DataFrame({"teff": rng.uniform(4500, 6500, n), "logg": rng.uniform(4.0, 4.6, n),
                          "feh": rng.uniform(-0.8, 0.3, n), "a0": rng.uniform(0.0, 1.0, n)})
    bands = ["G", "BP", "J0395", "W1"]
    true_zp = {"G": 0.0, "BP": 0.03, "J0395": -0.05, "W1": 0.08}
    syn = magnitudes(stars["teff"], stars["logg"], stars["feh"], a0=stars["a0"], radius=0.9, distance=500.0,
                     bands=bands)
    for b in bands:
        stars[f"mag_{b}"] = syn[b].to_numpy() + true_zp[b] + 0.01 * rng.standard_normal(n)
    zp = synthetic_zero_points(stars, bands)
    for b in bands:
        assert abs(zp[b] - true_zp[b]) < 0.005, (b, zp[b])
    with pytest.raises(InputError, match="a0"):
        synthetic_zero_points(stars.drop(columns="a0"), bands)


def test_shift_posterior_moves_the_mean_and_widens_by_the_systematic():
    rng = np.random.default_rng(1)
    x = 0.1 + 0.08 * rng.standard_normal(40)
    res = fit_cluster_feh(x, np.full(40, 0.08), n_walkers=16, n_steps=600, n_burn=200, seed=2)
    moved = shift_posterior(res, 0.03, 0.0)
    assert moved.mu == pytest.approx(res.mu - 0.03, abs=1e-12)
    assert moved.spread == res.spread and moved.outlier_fraction == res.outlier_fraction
    wide = shift_posterior(res, 0.03, 0.05, seed=4)
    expected = np.hypot(res.mu_err, 0.05)
    assert wide.mu_err == pytest.approx(expected, rel=0.1)
    assert wide.sigma_sys == pytest.approx(0.05)


def test_run_without_a_usable_model_or_labels_skips_the_age_offset(tmp_path, grid, caplog):
    from ocfeh.clusters.config import ClusterConfig
    from ocfeh.clusters.stage import age_offset_model

    class Iso:
        pass

    iso = Iso()
    iso.grid = grid
    sample = pd.DataFrame({"split": ["val"] * 3, "teff": [5000.0] * 3})
    assert age_offset_model(tmp_path, sample, iso, ClusterConfig(), 0) is None
    assert "no age offset" in caplog.text and "no trained model" in caplog.text
    assert age_offset_model(tmp_path, sample, iso, ClusterConfig(age_offset=False), 0) is None


def _iso_chain(rng, prior, n=40_000):
    """A chain drawn from a Gaussian [Fe/H] likelihood N(0.10, 0.05) times ``prior``, log age correlated."""
    from ocfeh.clusters.isochrone_fit import IsochroneFitResult

    (m0, s0), (ml, sl) = prior, (0.10, 0.05)
    var = 1 / (1 / s0**2 + 1 / sl**2)
    fe = var * (m0 / s0**2 + ml / sl**2) + np.sqrt(var) * rng.standard_normal(n)
    samples = np.column_stack([9.0 + 0.5 * fe + 0.01 * rng.standard_normal(n), np.full(n, 10.0),
                               np.full(n, 0.3), fe])
    return IsochroneFitResult(log_age=tuple(np.percentile(samples[:, 0], [16, 50, 84])), distance_pc=(1000.0,) * 3,
                              a0=(0.3,) * 3, feh_iso=tuple(np.percentile(fe, [16, 50, 84])), best={}, outlier_prob=np.array([]), bands=("G",), n=50,
                              acceptance=0.4, samples=samples, feh_prior=prior)


def test_isochrone_fit_reweighted_to_a_new_feh_prior_matches_a_fit_under_it():
    from ocfeh.clusters.isochrone_fit import with_feh_prior

    rng = np.random.default_rng(3)
    old, new = (0.0, 0.06), (-0.04, 0.07)
    got = with_feh_prior(_iso_chain(rng, old), new)
    want = _iso_chain(rng, new)  # drawn under the new prior directly
    assert got.feh_prior == new
    assert got.feh_iso == pytest.approx(want.feh_iso, abs=0.002)
    assert got.log_age == pytest.approx(want.log_age, abs=0.002)  # correlated parameters follow
    far = with_feh_prior(_iso_chain(rng, old), (-1.0, 0.01))  # no overlap: left as it was
    assert far.feh_prior == old


def test_age_offset_moves_the_isochrone_prior_with_the_cluster_feh():
    """The isochrone fit ran with the [Fe/H] before the age offset as its prior; after the offset its
    percentiles are those under the corrected [Fe/H]."""
    from ocfeh.clusters.analyse import iso_feh_prior, remove_age_offset

    class Offset:
        def offset(self, members, log_age, feh):
            return -0.04, 12  # predictions 0.04 dex low for this age

    rng = np.random.default_rng(5)
    x = -0.05 + 0.08 * rng.standard_normal(40)
    mcmc = fit_cluster_feh(x, np.full(40, 0.08), n_walkers=16, n_steps=600, n_burn=200, seed=2)
    fits = {"mcmc": mcmc, "iso": _iso_chain(rng, iso_feh_prior(mcmc))}
    row: dict = {}
    assert remove_age_offset("c", pd.DataFrame(), fits, row, Offset(), None, 0.5, rng) == []
    assert row["feh_mcmc"] == pytest.approx(mcmc.mu + 0.04, abs=0.01)
    assert fits["iso"].feh_prior == iso_feh_prior(fits["mcmc"])
    assert row["iso_feh"] > _iso_chain(rng, iso_feh_prior(mcmc)).feh_iso[1] + 0.005  # pulled up with the prior
    assert row["iso_feh"] == fits["iso"].feh_iso[1]
