"""The binned (monotone broken-line) [Fe/H] response of the cluster calibration."""

import json
import logging

import numpy as np
import pytest

from ocfeh.clusters import fit_cluster_feh
from ocfeh.clusters.calibration import fit_calibration
from ocfeh.clusters.response import expected_true_labels, fit_response, hat_basis, response_knots


def _bent(t):
    """A response that flattens below -0.8 dex and falls steeply below -1.3, as on real metal-poor stars."""
    t = np.asarray(t, dtype=float)
    return np.where(t > -0.8, -0.05 + 0.85 * t, np.where(t > -1.3, -0.73 + 0.5 * (t + 0.8), -0.98 + 1.4 * (t + 1.3)))


def _held_out(rng, n=8000, label_noise=0.05, pred_noise=0.1):
    truth = np.concatenate([rng.normal(-0.2, 0.25, n - n // 8), rng.normal(-1.3, 0.4, n // 8)])
    return truth, _bent(truth) + pred_noise * rng.standard_normal(n), truth + label_noise * rng.standard_normal(n)


def test_hat_basis_interpolates_and_continues_the_end_segments():
    k, v = np.array([-1.0, 0.0, 0.5]), np.array([-2.0, 0.0, 0.25])
    x = np.array([-2.0, -1.0, -0.5, 0.0, 0.25, 1.5])
    assert hat_basis(x, k) @ v == pytest.approx([-4.0, -2.0, -1.0, 0.0, 0.125, 0.75])
    assert hat_basis(x, k).sum(axis=-1) == pytest.approx(np.ones(x.size))


def test_expected_true_labels_is_the_deming_shrinkage_for_gaussian_labels():
    rng = np.random.default_rng(2)
    s_t, s_e, m = 0.3, 0.1, -0.2
    y = m + s_t * rng.standard_normal(40_000) + s_e * rng.standard_normal(40_000)
    t = expected_true_labels(y, np.full(y.size, s_e))
    lam = s_t**2 / (s_t**2 + s_e**2)
    mid = np.abs(y - m) < 2 * np.hypot(s_t, s_e)  # the smoothed density's tails are noisier
    assert np.max(np.abs(t - (m + lam * (y - m)))[mid]) < 0.01
    assert np.array_equal(expected_true_labels(y, np.zeros(y.size)), y)  # no label noise: no change


def test_binned_response_recovers_a_bent_response_that_a_line_misses():
    rng = np.random.default_rng(4)
    _, pred, label = _held_out(rng)
    binned = fit_calibration(pred, label, np.full(label.size, 0.05), seed=1, response="binned")
    linear = fit_calibration(pred, label, np.full(label.size, 0.05), seed=1)
    assert binned.kind == "binned" and linear.kind == "linear"
    mu = np.array([-1.8, -1.5, -1.1, -0.8, -0.4, 0.0, 0.3])
    sd = binned.systematic(mu)  # sigma_sys is 0 here: the bootstrap error of the response
    miss = binned.response(mu) - _bent(mu)
    # a broken line with knots every 0.25 dex cannot follow the kinks exactly: 0.02 dex allowed
    assert np.all(np.abs(miss) < 3 * sd + 0.02), (miss, sd)
    assert np.max(np.abs(linear.response(mu) - _bent(mu))) > 0.1  # the straight line misses by far more
    assert np.all(np.diff(binned.values) > 0)
    json.dumps(binned.to_dict())  # the run's clusters.json holds it


def test_binned_response_with_label_noise_keeps_the_slope_of_a_straight_response():
    """Regressing on noisy labels would flatten the slope by s_t^2 / (s_t^2 + s_e^2) = 0.90 here."""
    rng = np.random.default_rng(9)
    truth = rng.normal(-0.2, 0.3, 12_000)
    pred = 0.02 + 0.8 * truth + 0.08 * rng.standard_normal(truth.size)
    label = truth + 0.1 * rng.standard_normal(truth.size)
    cal = fit_calibration(pred, label, np.full(truth.size, 0.1), seed=1, response="binned")
    inner = (np.array(cal.knots[:-1]) > -0.6) & (np.array(cal.knots[1:]) < 0.2)
    slopes = cal.slope(np.array(cal.knots[:-1]) + 1e-9)[inner]
    assert abs(np.average(slopes, weights=np.diff(cal.knots)[inner]) - 0.8) < 0.03


def test_binned_response_is_increasing_and_invertible_where_the_data_dip():
    rng = np.random.default_rng(5)
    t = rng.uniform(-1.0, 0.5, 5000)
    pred = np.where(np.abs(t + 0.25) < 0.2, -0.25 - 0.3 * (t + 0.25), t) + 0.05 * rng.standard_normal(t.size)
    k = response_knots(t, step=0.1, min_stars=50)
    v = fit_response(pred, t, k, min_slope=0.05)
    assert np.all(np.diff(v) / np.diff(k) >= 0.05 - 1e-9)
    cal = fit_calibration(pred, t, seed=0, response="binned", knot_step=0.1)
    mu = np.linspace(-2.0, 1.5, 71)  # beyond the end knots too
    assert cal.invert(cal.response(mu)) == pytest.approx(mu, abs=1e-9)


def test_too_few_held_out_stars_fall_back_to_the_straight_line(caplog):
    rng = np.random.default_rng(6)
    truth = rng.normal(-0.2, 0.3, 40)  # >= 30 for a calibration, < 50 between two knots
    with caplog.at_level(logging.WARNING, logger="ocfeh.clusters.calibration"):
        cal = fit_calibration(0.9 * truth + 0.05 * rng.standard_normal(40), truth, seed=0, response="binned",
                              min_stars=50)
    assert cal.kind == "linear" and "straight line" in caplog.text
    assert cal.response(0.1) == pytest.approx(cal.alpha + cal.beta * 0.1)


def test_mcmc_through_the_binned_response_recovers_metal_poor_clusters():
    rng = np.random.default_rng(8)
    _, pred, label = _held_out(rng)
    cals = {kind: fit_calibration(pred, label, np.full(label.size, 0.05), seed=1, response=kind)
            for kind in ("linear", "binned")}
    n_sim = 24
    err = {kind: [] for kind in cals}
    hits = 0
    for k in range(n_sim):
        mu = (-1.6, -1.05)[k % 2]  # the steep and the flat part, away from the kinks
        x = _bent(mu + 0.02 * rng.standard_normal(20)) + 0.1 * rng.standard_normal(20)
        for kind, cal in cals.items():
            r = fit_cluster_feh(x, np.full(x.size, 0.1), n_walkers=10, n_steps=300, n_burn=100, seed=k,
                                calibration=cal)
            err[kind].append(r.mu - mu)
            hits += kind == "binned" and r.mu_p16 <= mu <= r.mu_p84
    binned, linear = np.array(err["binned"]), np.array(err["linear"])
    for lo in (0, 1):  # each [Fe/H]: unbiased through the binned response
        assert abs(binned[lo::2].mean()) < 3 * binned[lo::2].std() / np.sqrt(n_sim / 2) + 0.02
    assert linear[1::2].mean() > 0.05  # the line misses where the response flattens (+0.08 dex)
    assert hits / n_sim >= 0.5


def test_robust_response_follows_most_stars_not_a_tail_of_bad_predictions():
    """A one-sided tail (10 % of stars predicted 0.4 dex too high) moves a least-squares line by 0.04 dex;
    the Huber fit stays near the bulk (0.013 dex here), where a cluster's robust mean lies."""
    rng = np.random.default_rng(12)
    t = rng.normal(-0.3, 0.3, 6000)
    pred = 0.9 * t + 0.06 * rng.standard_normal(t.size) + np.where(rng.random(t.size) < 0.1, 0.4, 0.0)
    k = response_knots(t)
    mu = np.array([-0.7, -0.3, 0.1])
    robust = hat_basis(mu, k) @ fit_response(pred, t, k)
    squares = hat_basis(mu, k) @ fit_response(pred, t, k, huber=None)
    assert np.all(np.abs(robust - 0.9 * mu) < 0.02), robust - 0.9 * mu  # Huber's bias is bounded, not zero
    assert np.all(squares - 0.9 * mu > 0.035)


def test_correct_median_inverts_the_response_and_adds_the_systematic():
    from ocfeh.clusters.calibration import FehCalibration

    cal = FehCalibration(alpha=-0.03, beta=0.8, sigma_sys=0.02)
    m, err = cal.correct_median(-0.11, 0.015)
    assert m == pytest.approx((-0.11 + 0.03) / 0.8) and err == pytest.approx(np.hypot(0.015, 0.02) / 0.8)
