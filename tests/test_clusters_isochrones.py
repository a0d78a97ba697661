"""Isochrone fitting: a synthetic cluster made from a BaSTI-IAC isochrone is recovered.

The magnitudes come from a fast analytic stand-in for :func:`ocfeh.synthphot.magnitudes` (a black body
at each band's pivot wavelength with [Fe/H]-, log g- and A_0-dependent terms), used both to make and to
fit the cluster, so the test checks the fitting machinery, not the spectral grids.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ocfeh.bands import band_set, get_band


def toy_magnitudes(teff, logg, feh, a0=0.0, radius=1.0, distance=10.0, bands="all"):
    """Analytic magnitudes with the signature of ocfeh.synthphot.magnitudes (columns named by band)."""
    bands = band_set(bands) if isinstance(bands, str) else list(bands)
    teff = np.asarray(teff, float)
    shape = teff.shape
    h, c, k = 6.626e-27, 2.998e10, 1.381e-16
    out = {}
    for b in bands:
        lam = get_band(b).pivot_wavelength_aa * 1e-8
        fnu = np.pi * (2 * h * c / lam**3) / np.expm1(h * c / (lam * k * teff))
        fnu = fnu * (np.asarray(radius) * 6.957e10 / (np.asarray(distance) * 3.086e18)) ** 2
        m = -2.5 * np.log10(fnu) - 48.6
        m = m - 0.4 * np.asarray(feh) * (4500e-8 / lam) ** 2 + 0.05 * np.asarray(logg) * (4000e-8 / lam)
        m = m + np.asarray(a0) * (5414e-8 / lam) ** 1.3 * (1 - 0.01 * np.asarray(a0))
        out[b] = np.broadcast_to(m, shape).ravel()
    return pd.DataFrame(out)


@pytest.fixture(scope="module")
def iso():
    from ocfeh.synthphot import load_isochrones
    from ocfeh.synthphot.isochrone_mags import IsochroneMagnitudes, MagnitudeTable

    grid = load_isochrones().subset()
    return IsochroneMagnitudes(grid, MagnitudeTable.build(grid.mh, mag_fn=toy_magnitudes))


def _synthetic_cluster(iso, log_age, feh, distance_pc, a0, n, rng, n_binaries=0, grid=None, main_sequence=False):
    """Members drawn along the isochrone of ``grid`` (default ``iso.grid``) to the red-giant tip, or on the
    main sequence only (log L < 1)."""
    it = (grid or iso.grid).isochrone_at(log_age, feh)
    tip = int(np.argmax(it["log_lum"]))  # main sequence to the red-giant tip
    j = rng.choice(np.flatnonzero(it["log_lum"][:-1] < 1.0), n) if main_sequence else rng.integers(0, tip - 1, n)
    u = rng.uniform(size=n)
    lt, lg, ll = ((1 - u) * it[k][j] + u * it[k][j + 1] for k in ("log_teff", "logg", "log_lum"))
    radius = 10 ** (0.5 * ll - 2 * (lt - np.log10(5772.0)))
    df = toy_magnitudes(10**lt, lg, feh, a0=a0, radius=radius, distance=distance_pc)
    df.columns = [f"mag_{b}" for b in df.columns]
    for col in list(df.columns):
        e = rng.uniform(0.01, 0.03, n)
        df[col] = df[col] + e * rng.standard_normal(n)
        df[col.replace("mag_", "mag_err_")] = e
    df.loc[: n_binaries - 1, [c for c in df.columns if c.startswith("mag_") and "err" not in c]] -= 0.75
    df["distance_pc"] = distance_pc * (1 + 0.05 * rng.standard_normal(n))
    return df


def test_fit_recovers_age_distance_extinction(iso):
    from ocfeh.clusters.isochrone_fit import fit_isochrone

    rng = np.random.default_rng(0)
    truth = dict(log_age=9.1, feh=-0.1, distance_pc=1500.0, a0=0.6)
    stars = _synthetic_cluster(iso, truth["log_age"], truth["feh"], truth["distance_pc"], truth["a0"], 90, rng,
                               n_binaries=8)
    res = fit_isochrone(stars, iso, feh_prior=(-0.05, 0.1), distance_prior=(1550.0, 150.0),
                        n_walkers=12, n_steps=220, n_burn=120, max_stars=90, seed=1)
    assert abs(res.log_age[1] - truth["log_age"]) < 0.1
    assert abs(res.distance_pc[1] / truth["distance_pc"] - 1) < 0.1
    assert abs(res.a0[1] - truth["a0"]) < 0.15
    assert abs(res.feh_iso[1] - truth["feh"]) < 0.15
    assert res.log_age[0] <= res.log_age[1] <= res.log_age[2]
    # the injected equal-mass "binaries" (0.75 mag brighter) are flagged, the rest are not
    assert np.mean(res.outlier_prob[:8] > 0.5) >= 0.75
    assert np.mean(res.outlier_prob[8:] < 0.5) > 0.9
    s = res.summary()
    assert {"iso_log_age", "iso_log_age_p16", "iso_distance_pc_p84", "iso_a0", "iso_feh"} <= set(s)


def test_nearest_point_chi2_is_zero_on_the_curve():
    from ocfeh.clusters.isochrone_fit import Chi2

    P = np.array([[0.0, 0.0], [0.5, 0.5], [1.0, 0.0], [3.0, 0.0]])  # the last step is a phase gap
    stars = np.array([[0.25, 0.25], [0.75, 0.25], [0.5, 1.0], [2.0, 0.0]])
    ch = Chi2(stars, np.full_like(stars, 0.1), floor=0.0)
    c = ch(P)
    assert c[0] == pytest.approx(0.0, abs=1e-9) and c[1] == pytest.approx(0.0, abs=1e-9)
    assert c[2] == pytest.approx(25.0)  # 0.5 mag from the vertex (0.5, 0.5) in the second band at 0.1 mag
    assert c[3] == pytest.approx(100.0)  # not on the gap segment: 1 mag from the nearest point


def test_star_offset_chi2_is_the_minimum_under_the_full_covariance():
    """The rank-one (Sherman-Morrison) chi-square to the polyline equals a brute-force minimum of
    r^T C^-1 r over points of the curve, with C = diag(err^2 + floor^2) + s^2 1 1^T."""
    from ocfeh.clusters.isochrone_fit import Chi2

    rng = np.random.default_rng(3)
    P = np.cumsum(rng.uniform(0.0, 0.3, (6, 4)), axis=0)  # a curve in 4 bands
    stars = P[rng.integers(0, 5, 7)] + rng.normal(0.0, 0.05, (7, 4)) + rng.normal(0.0, 0.1, (7, 1))
    errs = rng.uniform(0.01, 0.04, stars.shape)
    errs[0, 1] = np.nan  # a missing band
    s, floor = 0.05, 0.01
    got = Chi2(stars, errs, floor, star_offset=s)(P)
    t = np.linspace(0.0, 1.0, 4001)[:, None, None]
    pts = (P[:-1] + t * np.diff(P, axis=0)).reshape(-1, 4)
    for i in range(len(stars)):
        ok = np.isfinite(errs[i])
        C = np.diag(errs[i, ok] ** 2 + floor**2) + s**2
        r = stars[i, ok] - pts[:, ok]
        brute = np.einsum("kb,bc,kc->k", r, np.linalg.inv(C), r).min()
        assert got[i] == pytest.approx(brute, rel=1e-4, abs=1e-6)
    # without the offset term a common shift of 0.1 mag costs far more
    assert np.all(Chi2(stars, errs, floor)(P) > got)


@pytest.mark.parametrize("star_offset", [0.0, 0.03])
def test_band_offset_term_is_the_marginal_over_a_common_offset_per_band(star_offset):
    """Stars near one point of a curve in 2 bands: the term equals ln of the integral, by quadrature, of
    the members' Gaussian likelihood over an offset per band shared by all of them (sigma 0.02 mag),
    divided by the likelihood without the offset."""
    from ocfeh.clusters.isochrone_fit import Chi2

    rng = np.random.default_rng(5)
    P = np.zeros((2, 2))  # a degenerate curve: every star's nearest point is the origin
    stars = np.array([0.015, -0.01]) + rng.normal(0.0, 0.005, (6, 2))
    errs = rng.uniform(0.02, 0.04, stars.shape)
    ch = Chi2(stars, errs, 0.0, star_offset=star_offset)
    c, near, _ = ch.nearest(P)
    sigma = 0.02
    got = ch.band_offset_term(c, near, sigma)
    x = np.linspace(-0.12, 0.12, 481)
    dx, dy = np.meshgrid(x, x, indexing="ij")
    d = np.stack([dx, dy], axis=-1)
    lnl = -0.5 * (dx**2 + dy**2) / sigma**2 - np.log(2 * np.pi * sigma**2)
    for m, e in zip(stars, errs):
        Cinv = np.linalg.inv(np.diag(e**2) + star_offset**2)
        r = m - d
        lnl = lnl - 0.5 * np.einsum("...b,bc,...c->...", r, Cinv, r)
    brute = np.log(np.exp(lnl).sum() * (x[1] - x[0]) ** 2) + 0.5 * c.sum()
    assert np.all(c < ch.chi2_cut - 10)  # all members: outlier weights below 0.7 %
    assert got == pytest.approx(brute, rel=0.02), (got, brute)
    # the stars share a 0.015 / -0.01 mag shift: the offsets explain it, so the term beats that of the same
    # stars without the shift
    ch0 = Chi2(stars - stars.mean(axis=0), errs, 0.0, star_offset=star_offset)
    c0, near0, _ = ch0.nearest(P)
    assert got > ch0.band_offset_term(c0, near0, sigma) + 0.5


def test_a_zero_point_shared_by_all_members_costs_little_with_band_offsets(iso):
    """Every member shifted by 0.03 mag in one band (a zero point): at the true parameters the
    log-likelihood drops by tens with independent members; with the offset per band marginalised
    (sigma 0.02 mag) by what the prior charges a 1.5-sigma offset, 1.5^2 / 2, as 80 members measure it
    well; and the term vanishes as sigma -> 0."""
    from ocfeh.clusters.isochrone_fit import Chi2, star_arrays

    rng = np.random.default_rng(11)
    truth = {"log_age": 9.3, "feh": -0.2, "distance_pc": 1200.0, "a0": 0.4}
    stars = _synthetic_cluster(iso, truth["log_age"], truth["feh"], truth["distance_pc"], truth["a0"], 80, rng)
    m0, k1, k2 = iso.at(truth["log_age"], truth["feh"])
    P = m0 + 5 * np.log10(truth["distance_pc"] / 10) + truth["a0"] * k1 + truth["a0"] ** 2 * k2

    def lnl(df, band_offset):
        mags, errs, used = star_arrays(df, iso.bands)
        ch = Chi2(mags, errs, 0.02)
        c, near, _ = ch.nearest(P[:, [iso.bands.index(b) for b in used]])
        out = np.logaddexp(-0.5 * c, -0.5 * ch.chi2_cut).sum()
        return out + (ch.band_offset_term(c, near, band_offset) if band_offset > 0 else 0.0)

    shifted = stars.copy()
    shifted["mag_J0395"] += 0.03
    drop_independent = lnl(stars, 0.0) - lnl(shifted, 0.0)
    drop_marginal = lnl(stars, 0.02) - lnl(shifted, 0.02)
    assert drop_independent > 20.0
    assert drop_marginal == pytest.approx(0.5 * (0.03 / 0.02) ** 2, abs=0.2)
    assert lnl(stars, 1e-6) == pytest.approx(lnl(stars, 0.0), abs=1e-3)


def test_grid_holes_in_logg_are_filled():
    from ocfeh.synthphot.isochrone_mags import fill_logg

    m = np.array([[np.nan, 1.0, 2.0, np.nan, np.nan]]).reshape(1, 5, 1)
    assert fill_logg(m).ravel().tolist() == [1.0, 1.0, 2.0, 2.0, 2.0]


def test_isochrone_figure(iso, tmp_path):
    import matplotlib.pyplot as plt

    from ocfeh.clusters.figures import plot_isochrone
    from ocfeh.clusters.isochrone_fit import IsochroneFitResult

    stars = _synthetic_cluster(iso, 8.5, 0.0, 800.0, 0.2, 30, np.random.default_rng(2))
    fit = IsochroneFitResult((8.4, 8.5, 8.6), (790, 800, 810), (0.1, 0.2, 0.3), (-0.1, 0.0, 0.1),
                             {"log_age": 8.5, "distance_pc": 800.0, "a0": 0.2, "feh_iso": 0.0},
                             np.zeros(30), iso.bands, 30, 0.4, np.zeros((1, 4)))
    ax = plot_isochrone(stars, fit, iso)
    assert ax.yaxis_inverted() and len(ax.lines) == 1
    line = ax.lines[0]
    # the curve passes through the stars' CMD: the median star is within 0.1 mag of it in colour
    col, g = line.get_xdata(), line.get_ydata()
    ms = (g > stars.mag_G.min()) & (g < stars.mag_G.max())
    star_col = stars.mag_BP - stars.mag_RP
    assert np.median(np.abs(star_col - np.interp(stars.mag_G, g[ms][::-1], col[ms][::-1]))) < 0.1
    plt.close(ax.figure)


def test_outside_grid_is_an_error(iso):
    from ocfeh.exceptions import InputError

    with pytest.raises(InputError, match="outside the isochrone grid"):
        iso.at(11.0, 0.0)


def test_fit_finds_the_mode_with_high_extinction_and_an_offset_feh_prior(iso):
    """A reddened cluster (A_0 = 1.1) whose [Fe/H] prior is 1.2 sigma off and falls between grid nodes:
    the start search must still reach the true mode, not an older, metal-poorer, less reddened one."""
    from ocfeh.clusters.isochrone_fit import fit_isochrone

    rng = np.random.default_rng(5)
    truth = dict(log_age=9.23, feh=-0.02, distance_pc=1900.0, a0=1.1)
    stars = _synthetic_cluster(iso, truth["log_age"], truth["feh"], truth["distance_pc"], truth["a0"], 120, rng,
                               n_binaries=12)
    res = fit_isochrone(stars, iso, feh_prior=(-0.12, 0.08), distance_prior=(1880.0, 190.0),
                        n_walkers=12, n_steps=220, n_burn=120, max_stars=120, seed=5)
    assert abs(res.log_age[1] - truth["log_age"]) < 0.1
    assert abs(res.a0[1] - truth["a0"]) < 0.15
    assert abs(res.feh_iso[1] - truth["feh"]) < 0.1


def test_eep_subset_keeps_the_uniform_step_and_samples_young_lower_main_sequences_finely():
    from ocfeh.synthphot.isochrones import eep_subset, load_isochrones

    src = load_isochrones()
    lt, ll = np.asarray(src.data["teff_out"], float), np.asarray(src.data["lumi_out"], float)
    k = eep_subset(lt, ll, eep_step=5, max_dlum=0.08)
    assert set(range(0, lt.shape[0], 5)) <= set(k) and k[-1] == lt.shape[0] - 1
    assert k.size < 0.35 * lt.shape[0]  # about 530 of 2100 points: the fit stays fast
    young = np.argmin(np.abs(np.asarray(src.ages_myr, float) - 90.0))
    for grid_k, limit in ((k, 0.08 * 1.01), (np.arange(0, lt.shape[0], 5), None)):
        L = ll[grid_k, young, :]
        steps = np.abs(np.diff(L, axis=0))[(L[1:] < 0.5) & (L[:-1] < 0.5)]
        native = np.abs(np.diff(ll[:, young, :], axis=0))[(ll[1:, young] < 0.5) & (ll[:-1, young] < 0.5)]
        if limit is None:  # the uniform step leaves jumps of up to 0.3 dex (0.75 mag) there
            assert steps.max() > 0.25
        else:  # jumps beyond the limit only where the native grid itself has them
            assert np.all((steps <= limit) | (steps <= native.max() + 1e-9))
            assert np.percentile(steps, 95) < limit


def test_young_cluster_from_the_full_resolution_isochrone_is_fitted_at_its_age(iso):
    """Stars made from BaSTI at its native resolution (2100 points), down to 0.1 Msun, as the mock sky
    makes them; with a uniform 1-in-5 subset the lower main sequence of a 90 Myr isochrone is sampled
    every 0.6-0.8 mag and the fit preferred ages near 2 Gyr."""
    from ocfeh.clusters.isochrone_fit import fit_isochrone
    from ocfeh.synthphot import load_isochrones

    rng = np.random.default_rng(4)
    log_age, feh, dist, a0, n = 7.95, -0.2, 600.0, 0.3, 80
    stars = _synthetic_cluster(iso, log_age, feh, dist, a0, n, rng, grid=load_isochrones().subset(eep_step=1, adaptive=False),
                               main_sequence=True)
    res = fit_isochrone(stars, iso, feh_prior=(feh, 0.1), distance_prior=(dist, 20.0), n_walkers=16, n_steps=300,
                        n_burn=150, max_stars=n, seed=2)
    assert abs(res.log_age[1] - log_age) < 0.15, res.log_age
