"""Tests of ocfeh.clusters: members, cluster [Fe/H] (median, MCMC), membership, references, pipeline."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ocfeh.clusters import (
    ClusterConfig,
    compare_with_references,
    find_members,
    fit_cluster_feh,
    median_feh,
    name_key,
    read_references,
    select_members,
)
from ocfeh.clusters.membership import compare_members
from ocfeh.clusters.metallicity import MIN_TAU_MULTIPLE
from ocfeh.exceptions import FewMembersWarning, InputError


def _cluster(rng, n, mu, spread=0.03, err=(0.05, 0.15)):
    e = rng.uniform(*err, n)
    return mu + spread * rng.standard_normal(n) + e * rng.standard_normal(n), e


# --------------------------------------------------------------------------- median + MCMC
def test_median_bootstrap_error_matches_theory():
    rng = np.random.default_rng(1)
    x = rng.normal(-0.2, 0.1, 400)
    r = median_feh(x, n_bootstrap=2000, seed=2)
    assert abs(r.median + 0.2) < 3 * r.err
    # asymptotic error of a median of a Gaussian: 1.2533 sigma / sqrt(n) = 0.00627
    assert 0.7 * 0.00627 < r.err < 1.3 * 0.00627


def test_mcmc_recovers_known_mean_within_error():
    rng = np.random.default_rng(3)
    x, e = _cluster(rng, 40, -0.35)
    r = fit_cluster_feh(x, e, n_walkers=16, n_steps=600, n_burn=200, seed=4)
    assert abs(r.mu + 0.35) < 2.5 * r.mu_err
    assert r.mu_p16 < r.mu < r.mu_p84
    assert 0.2 < r.acceptance < 0.9
    assert r.outlier_prob.shape == (40,)


def test_mcmc_68_percent_intervals_cover_truth():
    rng = np.random.default_rng(11)
    hits, n_sim = 0, 80
    for k in range(n_sim):
        mu = rng.uniform(-0.6, 0.3)
        x, e = _cluster(rng, int(rng.integers(10, 50)), mu, spread=rng.uniform(0, 0.08))
        r = fit_cluster_feh(x, e, n_walkers=10, n_steps=250, n_burn=80, seed=k)
        hits += r.mu_p16 <= mu <= r.mu_p84
    assert 0.58 <= hits / n_sim <= 0.78, hits / n_sim


def test_injected_outliers_get_high_outlier_probability():
    rng = np.random.default_rng(5)
    x, e = _cluster(rng, 40, 0.0, err=(0.05, 0.08))
    x[:4] = [1.0, -1.1, 0.95, -1.2]
    r = fit_cluster_feh(x, e, n_walkers=16, n_steps=600, n_burn=200, seed=6)
    assert np.all(r.outlier_prob[:4] > 0.8)
    assert np.mean(r.outlier_prob[4:] < 0.5) > 0.9
    assert abs(r.mu) < 0.05  # not dragged by the outliers


def test_few_members_warns_and_too_few_raises():
    with pytest.warns(FewMembersWarning, match="only 4 members"):
        fit_cluster_feh([0.1, 0.0, 0.2, 0.05], [0.1] * 4, n_walkers=8, n_steps=120, n_burn=20)
    with pytest.raises(InputError, match="at least 2 stars"), pytest.warns(FewMembersWarning):
        fit_cluster_feh([0.1, np.nan], [0.1, 0.1])
    with pytest.raises(InputError, match="differ in length"):
        fit_cluster_feh([0.1, 0.2], [0.1])


# --------------------------------------------------------------------------- catalogue members
def test_select_members_counts_each_step():
    pred = pd.DataFrame({
        "source_id": np.arange(10),
        "feh": [0.0, 0.1, np.nan, 0.0, 0.1, 0.2, 0.0, 0.1, 0.0, 0.0],
        "feh_err": [0.1, 0.1, 0.1, 0.1, 0.9, 0.1, 0.1, 0.1, 0.1, 0.1],
        "ood_flag": [False, False, False, True, False, False, False, False, False, False],
    })
    mem = pd.DataFrame({"Name": ["A"] * 8 + ["B"] * 3, "GaiaDR3": [0, 1, 2, 3, 4, 5, 6, 99, 7, 8, 9],
                        "Prob": [0.9] * 6 + [0.1, 0.9, 0.9, 0.9, 0.9]})
    sel = select_members(pred, mem, prob_min=0.5, max_feh_err=0.5)
    steps = sel.steps.set_index("cluster")
    assert steps.loc["A"].tolist() == [8, 7, 6, 5, 4, 3]
    assert steps.loc["B"].tolist() == [3, 3, 3, 3, 3, 3]
    assert set(sel.members.loc[sel.members.cluster == "A", "source_id"]) == {0, 1, 5}
    with pytest.raises(InputError, match="missing column"):
        select_members(pred, pd.DataFrame({"x": [1]}))


# --------------------------------------------------------------------------- own membership
def _field(rng, n_cl=120, n_field=900):
    cl = pd.DataFrame({
        "source_id": np.arange(n_cl), "ra": 120 + 0.08 * rng.standard_normal(n_cl),
        "dec": 20 + 0.08 * rng.standard_normal(n_cl), "pmra": -3 + 0.08 * rng.standard_normal(n_cl),
        "pmdec": 2 + 0.08 * rng.standard_normal(n_cl), "parallax": 1.0 + 0.03 * rng.standard_normal(n_cl),
    })
    g = rng.uniform(10, 18, n_cl)
    cl["mag_G"], cl["mag_BP"] = g, g + 0.1 * (g - 10) + 0.3 + 0.01 * rng.standard_normal(n_cl)
    cl["mag_RP"] = g - 0.2
    fd = pd.DataFrame({
        "source_id": np.arange(1000, 1000 + n_field), "ra": rng.uniform(119, 121, n_field),
        "dec": rng.uniform(19, 21, n_field), "pmra": rng.normal(0, 5, n_field), "pmdec": rng.normal(0, 5, n_field),
        "parallax": rng.exponential(0.8, n_field),
    })
    g = rng.uniform(10, 18, n_field)
    fd["mag_G"], fd["mag_BP"], fd["mag_RP"] = g, g + rng.uniform(0.2, 1.8, n_field), g - 0.2
    return pd.concat([cl, fd], ignore_index=True)


def test_hdbscan_recovers_cluster_members():
    rng = np.random.default_rng(7)
    field = _field(rng)
    # one off-sequence impostor with the cluster's astrometry
    field.loc[0, "mag_BP"] += 1.5
    res = find_members(field, known_ids=np.arange(1, 100))
    own = field.loc[res.table["member_prob_own"] > 0.5, "source_id"]
    cmp = compare_members(own, np.arange(120))
    assert cmp["recovered_fraction"] > 0.8
    assert cmp["n_new"] <= 10
    assert res.table.loc[0, "cmd_weight"] < 0.1  # the CMD refinement rejects the impostor
    assert res.n_groups >= 1


def test_members_in_cones_finds_each_cluster_and_its_uncatalogued_members():
    from ocfeh.clusters.membership import members_in_cones

    rng = np.random.default_rng(3)
    a = _field(rng, n_field=1500)
    b = _field(rng, n_field=1500)
    b["source_id"] += 10_000
    b["ra"] += 5.0  # a second cluster 5 deg away, with different motion
    b.loc[b["source_id"] < 10_120, "pmra"] += 6.0
    stars = pd.concat([a, b], ignore_index=True)
    catalogue = pd.DataFrame({"cluster": ["A"] * 90 + ["B"] * 90,
                              "source_id": np.r_[np.arange(90), 10_000 + np.arange(90)]})  # 30 of 120 left out
    centres = pd.DataFrame({"cluster": ["A", "B", "C"], "ra": [120.0, 125.0, 200.0], "dec": [20.0, 20.0, -30.0],
                            "radius_deg": [1.0, 1.0, 1.0]})
    summary, own = members_in_cones(stars, centres, catalogue)
    s = summary.set_index("cluster")
    assert (s.loc[["A", "B"], "own_recovered_fraction"] > 0.8).all()
    assert s.loc["C", "n_field"] == 0 and np.isnan(s.loc["C", "own_recovered_fraction"])
    for name, first in (("A", 0), ("B", 10_000)):
        new = own[(own["cluster"] == name) & ~own["in_catalogue"]]["source_id"]
        assert len(new) >= 15 and new.between(first + 90, first + 119).mean() > 0.8  # the uncatalogued members
    with pytest.raises(InputError, match="parallax"):
        members_in_cones(stars.drop(columns="parallax"), centres, catalogue)


# --------------------------------------------------------------------------- references
def test_name_key_normalises():
    assert name_key("NGC_2682") == name_key("NGC 2682") == "ngc2682"


def test_reference_tables_and_comparison(shared_data):
    refs = read_references(shared_data / "open_clusters")
    assert {"NETOPIL2022", "DONOR2020", "HEITER2014", "SPINA2022", "NETOPIL2016"} <= set(refs["reference"])
    assert refs["feh_ref"].between(-2.5, 1.0).all()
    ours = pd.DataFrame({"cluster": ["NGC_2682", "Nonexistent_1"], "feh_mcmc": [0.0, 0.1]})
    out = compare_with_references(ours, refs)
    m67 = out[out.cluster == "NGC_2682"]
    assert len(m67) >= 3 and set(out.cluster) == {"NGC_2682"}
    # M67 is near solar in every spectroscopic compilation
    assert m67.loc[m67.kind.str.startswith("spectro"), "feh_ref"].between(-0.15, 0.1).all()
    assert np.allclose(m67["delta_feh_mcmc"], -m67["feh_ref"])


# --------------------------------------------------------------------------- pipeline + CLI
def _run_dir(tmp_path, rng, n_clusters=3):
    preds, mems, cl = [], [], []
    sid = 0
    for k in range(n_clusters):
        mu = rng.uniform(-0.5, 0.2)
        n = [30, 25, 4][k % 3]
        x, e = _cluster(rng, n, mu)
        ids = np.arange(sid, sid + n)
        sid += n
        preds.append(pd.DataFrame({"source_id": ids, "feh": x, "feh_err": e, "ood_flag": False}))
        mems.append(pd.DataFrame({"cluster": f"Cl_{k}", "source_id": ids, "member_prob": 0.9,
                                  "feh_true": mu, "mag_G": rng.uniform(10, 17, n)}))
        mems[-1]["mag_BP"] = mems[-1]["mag_G"] + 0.5
        mems[-1]["mag_RP"] = mems[-1]["mag_G"] - 0.5
        cl.append({"cluster": f"Cl_{k}", "feh_true": mu})
    pd.concat(preds).to_parquet(tmp_path / "predictions.parquet")
    pd.concat(mems).to_parquet(tmp_path / "members.parquet")
    pd.DataFrame(cl).to_csv(tmp_path / "clusters_catalog.csv", index=False)
    return pd.DataFrame(cl)


def _inputs(tmp_path, **given):
    from ocfeh.clusters import ClusterInputs

    return ClusterInputs.of_run(tmp_path, members=tmp_path / "members.parquet",
                                clusters=tmp_path / "clusters_catalog.csv", **given)


def test_run_clusters_writes_table(tmp_path):
    from ocfeh.clusters import run_clusters

    truth = _run_dir(tmp_path, np.random.default_rng(8))
    cfg = ClusterConfig(isochrones=False, n_steps=300, n_burn=100, n_walkers=12)
    out = run_clusters(tmp_path, _inputs(tmp_path), cfg, seed=1)
    df = pd.read_csv(out)
    for col in ("n_members_used", "feh_median", "feh_median_err", "feh_mcmc", "feh_mcmc_p16", "feh_mcmc_p84",
                "feh_spread", "iso_log_age", "flags", "feh_true"):
        assert col in df
    assert df["n_members_used"].tolist() == [30, 25, 4]
    assert np.allclose(df["feh_true"], truth["feh_true"])
    ok = df["n_members_used"] >= 10
    assert (np.abs(df.loc[ok, "feh_mcmc"] - df.loc[ok, "feh_true"]) < 3 * df.loc[ok, "feh_mcmc_p84"]
            - 3 * df.loc[ok, "feh_mcmc_p16"]).all()
    assert "too_few_members" in df.loc[2, "flags"] and "few_members" in df.loc[2, "flags"]
    fitted = df[df["feh_mcmc"].notna()]
    short = fitted["feh_mcmc_n_kept"] < MIN_TAU_MULTIPLE * fitted["feh_mcmc_tau"]
    assert (fitted["flags"].fillna("").str.contains("short_chain") == short).all()
    assert (tmp_path / "clusters" / "Cl_0.png").is_file()
    assert (tmp_path / "clusters.provenance.json").is_file()
    steps = pd.read_csv(tmp_path / "cluster_member_steps.csv")
    assert steps["n_err_ok"].tolist() == [30, 25, 4]


def test_cli_clusters(tmp_path):
    from typer.testing import CliRunner

    from ocfeh.cli import app

    _run_dir(tmp_path, np.random.default_rng(9))
    cfg = tmp_path / "c.toml"
    cfg.write_text("[clusters]\nn_steps = 200\nn_burn = 50\nn_walkers = 8\nfigures = 'none'\n")
    res = CliRunner().invoke(app, ["clusters", str(tmp_path), "--no-isochrones", "--config", str(cfg)])
    assert res.exit_code != 0 and "no members table: pass --members" in str(res.exception)  # named, not searched for
    res = CliRunner().invoke(app, ["clusters", str(tmp_path), "--no-isochrones", "--config", str(cfg),
                                   "--members", str(tmp_path / "members.parquet")])
    assert res.exit_code == 0, res.output
    assert len(pd.read_csv(tmp_path / "clusters.csv")) == 3
    empty = tmp_path / "empty"
    empty.mkdir()
    res = CliRunner().invoke(app, ["clusters", str(empty), "--no-isochrones", "--members", str(tmp_path / "members.parquet")])
    assert res.exit_code != 0 and "no predictions file" in str(res.exception)


def test_config_forbids_unknown_keys():
    with pytest.raises(ValueError):
        ClusterConfig(member_prob=0.5)


def test_short_chain_is_extended_until_it_spans_enough_autocorrelation_times():
    x, e = _cluster(np.random.default_rng(13), 20, -0.1)
    r = fit_cluster_feh(x, e, n_walkers=12, n_steps=150, n_burn=50, seed=3, warn_members=0)
    # 100 kept steps are a few autocorrelation times (~30 steps each): the chain grows, up to 3 x 150 steps
    assert 100 < r.n_kept <= 400 and r.samples.shape == (12 * r.n_kept, 3)
    assert r.converged == bool(np.all(r.n_kept >= MIN_TAU_MULTIPLE * r.tau))
    assert np.all(r.tau > 5)  # a measured time, not a placeholder
    fixed = fit_cluster_feh(x, e, n_walkers=12, n_steps=150, n_burn=50, seed=3, warn_members=0, max_extend=1)
    assert fixed.n_kept == 100 and not fixed.converged


# --------------------------------------------------------------------------- calibration + coverage
def _heldout(rng, n, alpha, beta, label_noise=0.1, pred_noise=0.1, group_sys=0.0, n_groups=9):
    """Held-out labelled stars: labels with noise, predictions through a linear response."""
    true = rng.normal(-0.2, 0.35, n)
    g = rng.integers(0, n_groups, n)
    offset = rng.normal(0.0, group_sys, n_groups)[g] if group_sys else 0.0
    pred = alpha + beta * true + offset + pred_noise * rng.standard_normal(n)
    label = true + label_noise * rng.standard_normal(n)
    return pred, label, g


def test_calibration_recovers_response_despite_label_noise():
    from ocfeh.clusters.calibration import fit_calibration

    rng = np.random.default_rng(21)
    pred, label, _ = _heldout(rng, 3000, -0.02, 0.9, label_noise=0.15)
    cal = fit_calibration(pred, label, np.full(pred.size, 0.15), seed=1)
    va, vb, _ = cal.cov
    assert abs(cal.beta - 0.9) < 3 * np.sqrt(vb) and abs(cal.alpha + 0.02) < 3 * np.sqrt(va) + 0.005
    naive = fit_calibration(pred, label, seed=1)  # label noise ignored: slope attenuated by ~15 %
    assert naive.beta < cal.beta - 5 * np.sqrt(vb)
    with pytest.raises(InputError, match="at least 30"):
        fit_calibration(pred[:10], label[:10])


def test_calibration_systematic_recovers_injected_group_offsets():
    from ocfeh.clusters.calibration import fit_calibration

    hits = []
    for seed in range(6):
        rng = np.random.default_rng(seed)
        pred, label, g = _heldout(rng, 4000, 0.0, 0.92, label_noise=0.0, group_sys=0.04, n_groups=27)
        groups = pd.DataFrame({"a": g % 3, "b": (g // 3) % 3, "c": g // 9}).astype(float)
        groups += rng.uniform(0, 0.1, groups.shape)  # distinct values for the quantile bins
        cal = fit_calibration(pred, label, groups=groups, n_per_axis=3, min_bin=30, seed=seed)
        assert cal.n_bins == 27
        hits.append(cal.sigma_sys)
    # 27 group offsets of sd 0.04: the sd estimate has a relative error of ~1/sqrt(2*26) = 14 %
    assert 0.04 * 0.7 < np.mean(hits) < 0.04 * 1.3, hits
    rng = np.random.default_rng(7)
    pred, label, g = _heldout(rng, 4000, 0.0, 0.92, label_noise=0.0)
    groups = pd.DataFrame({"a": g % 3, "b": g // 3}).astype(float) + rng.uniform(0, 0.1, (4000, 2))
    assert fit_calibration(pred, label, groups=groups, seed=1).sigma_sys < 0.012  # no offsets: ~0


def test_calibration_bins_on_labels_so_noise_alone_gives_no_systematic():
    """Without any systematic, bins of the predicted [Fe/H] select on the noise of the residuals and
    find one (~0.04 dex here); calibration_from_sample bins on the labels and finds ~0."""
    from ocfeh.clusters.calibration import calibration_from_sample, fit_calibration

    rng = np.random.default_rng(11)
    n = 6000
    truth = rng.normal(-0.3, 0.35, n)
    label = truth + rng.normal(0, 0.03, n)
    pred = -0.05 + 0.85 * truth + rng.normal(0, 0.12, n)
    sample = pd.DataFrame({"source_id": np.arange(n), "feh": label, "feh_err": 0.03, "split": "test",
                           "teff": rng.uniform(4500, 6500, n), "logg": rng.uniform(3.5, 4.8, n)})
    preds = pd.DataFrame({"source_id": np.arange(n), "feh": pred, "teff": sample["teff"] + rng.normal(0, 80, n),
                          "logg": sample["logg"] + rng.normal(0, 0.1, n)})
    on_pred = fit_calibration(pred, label, np.full(n, 0.03), groups=preds[["teff", "logg", "feh"]], seed=1)
    assert on_pred.sigma_sys > 0.025  # the selection effect the label bins avoid
    cal = calibration_from_sample(sample, preds, seed=1)
    assert cal.n_bins == 27 and cal.sigma_sys < 0.01
    assert abs(cal.beta - 0.85) < 0.02


def test_err_scale_turns_label_widths_into_the_scatter_about_the_response():
    """Per-star widths measured against noisy labels (here 1.4 x the true scatter) are rescaled so that
    68% of the predictions lie within err_scale x feh_err of alpha + beta * truth."""
    from ocfeh.clusters.calibration import fit_calibration

    rng = np.random.default_rng(3)
    n = 8000
    truth = rng.normal(-0.3, 0.35, n)
    label = truth + rng.normal(0, 0.05, n)
    s = rng.uniform(0.05, 0.15, n)
    pred = -0.03 + 0.9 * truth + s * rng.standard_normal(n)
    cal = fit_calibration(pred, label, np.full(n, 0.05), seed=1, pred_err=1.4 * s)
    assert cal.err_scale == pytest.approx(1 / 1.4, rel=0.05)
    inside = np.abs(pred - cal.alpha - cal.beta * truth) <= cal.err_scale * 1.4 * s
    assert abs(inside.mean() - 0.6827) < 0.02
    assert fit_calibration(pred, label, np.full(n, 0.05), seed=1).err_scale == 1.0  # without errors: unscaled


def test_calibrated_mcmc_removes_regression_bias_and_covers_with_systematic():
    from ocfeh.clusters.calibration import FehCalibration

    rng = np.random.default_rng(5)
    alpha, beta, sys = -0.02, 0.88, 0.03
    cal = FehCalibration(alpha=alpha, beta=beta, sigma_sys=sys)
    n_sim, raw_err, cal_err, hits_raw, hits = 60, [], [], 0, 0
    for k in range(n_sim):
        mu = rng.uniform(-0.6, 0.3)
        x, e = _cluster(rng, int(rng.integers(15, 50)), alpha + beta * mu, spread=0.02)
        x += rng.normal(0.0, sys)  # shared by the cluster's members
        raw = fit_cluster_feh(x, e, n_walkers=10, n_steps=250, n_burn=80, seed=k)
        r = fit_cluster_feh(x, e, n_walkers=10, n_steps=250, n_burn=80, seed=k, calibration=cal)
        raw_err.append((raw.mu - mu, mu))
        cal_err.append(r.mu - mu)
        hits_raw += raw.mu_p16 <= mu <= raw.mu_p84
        hits += r.mu_p16 <= mu <= r.mu_p84
        assert r.sigma_sys == pytest.approx(sys / beta, rel=1e-6)
    cal_err = np.array(cal_err)
    d_raw, mus = np.array(raw_err).T
    # uncalibrated: metal-rich clusters come out too low (regression to the mean), intervals too narrow
    assert np.mean(d_raw[mus > 0.1]) < -0.03 and hits_raw / n_sim < 0.5
    assert abs(cal_err.mean()) < 3 * cal_err.std() / np.sqrt(n_sim)
    assert abs(np.polyfit(mus, cal_err, 1)[0]) < 0.06  # no slope left with [Fe/H]
    # binomial sd of a 68 % rate over 60 clusters: 0.06
    assert 0.56 <= hits / n_sim <= 0.80, hits / n_sim


def test_training_box_and_coverage_step(tmp_path):
    from ocfeh.clusters import run_clusters
    from ocfeh.clusters.coverage import inside_box, training_box

    rng = np.random.default_rng(8)
    _run_dir(tmp_path, rng)
    preds = pd.read_parquet(tmp_path / "predictions.parquet")
    n = 400  # labelled stars: G 12-16, 20 % held out
    true = rng.normal(-0.2, 0.3, n)
    sample = pd.DataFrame({"source_id": np.arange(10_000, 10_000 + n), "feh": true + 0.05 * rng.standard_normal(n),
                           "feh_err": 0.05, "mag_G": rng.uniform(12, 16, n),
                           "split": np.where(np.arange(n) < 320, "train", "test")})
    lab_pred = pd.DataFrame({"source_id": sample.source_id, "feh": -0.02 + 0.9 * true + 0.08 * rng.standard_normal(n),
                             "feh_err": 0.08, "ood_flag": False})
    pd.concat([preds, lab_pred]).to_parquet(tmp_path / "predictions.parquet")
    sample.to_parquet(tmp_path / "sample.parquet")
    box = training_box(sample[sample.split == "train"], ["mag_G", "nope"], quantile=0.0)
    assert list(box) == ["mag_G"] and 12 <= box["mag_G"][0] < 12.1 and 15.9 < box["mag_G"][1] <= 16
    assert inside_box(pd.DataFrame({"mag_G": [11.0, 14.0, np.nan]}), box).tolist() == [False, True, False]
    cfg = ClusterConfig(isochrones=False, n_steps=200, n_burn=50, n_walkers=8, figures="none",
                        coverage_columns=["mag_G"], coverage_quantile=0.0)
    run_clusters(tmp_path, _inputs(tmp_path, stars=tmp_path / "members.parquet"), cfg, seed=1)  # not the sample
    steps = pd.read_csv(tmp_path / "cluster_member_steps.csv")
    mem = pd.read_parquet(tmp_path / "members.parquet")
    inside = mem[mem.mag_G.between(*box["mag_G"])].groupby("cluster").size().reindex(["Cl_0", "Cl_1", "Cl_2"], fill_value=0)
    assert steps.set_index("cluster")["n_covered"].to_dict() == inside.to_dict()
    df = pd.read_csv(tmp_path / "clusters.csv")
    assert (df["feh_sys"].dropna() > 0).all() and df["feh_sys"].notna().any()
    import json

    prov = json.loads((tmp_path / "clusters.provenance.json").read_text())
    assert 0.8 < prov["feh_calibration"]["beta"] < 1.0 and prov["training_coverage"]["mag_G"][0] >= 12


def test_parallax_distance_prior_recovers_distance_with_zero_point():
    from ocfeh.clusters.analyse import parallax_distance

    rng = np.random.default_rng(3)
    cfg = ClusterConfig()
    d_true, n = 1600.0, 80
    err = rng.uniform(0.02, 0.1, n)
    plx = 1000.0 / d_true + cfg.iso_parallax_zp_mas + err * rng.standard_normal(n)
    d, sig = parallax_distance(pd.DataFrame({"parallax": plx, "parallax_error": err}), cfg)
    assert abs(d - d_true) < 3 * sig
    # the systematic floor bounds the error from below however many members there are
    assert sig >= d * cfg.iso_parallax_sys_mas / (1000.0 / d) - 1e-9
    # without the zero point the distance would be biased by ~ d * zp * d / 1000 (2.7 % here)
    naive = 1000.0 / np.average(plx, weights=err**-2)
    assert naive > d
    assert parallax_distance(pd.DataFrame({"parallax": plx[:2], "parallax_error": err[:2]}), cfg) is None
    far = pd.DataFrame({"parallax": 0.01 + 0.5 * rng.standard_normal(n), "parallax_error": 0.5})
    assert parallax_distance(far, cfg) is None  # mean parallax not significant


def test_isochrone_members_cuts():
    from ocfeh.clusters.analyse import isochrone_members

    mem = pd.DataFrame({"cluster": "C", "source_id": np.arange(6), "member_prob": [0.9, 0.9, 0.9, 0.9, 0.9, 0.2]})
    pred = pd.DataFrame({"source_id": np.arange(6), "mag_G": [12.0, np.nan, 13.0, 14.0, 15.0, 16.0],
                         "ruwe": [1.0, 1.0, 2.5, 1.1, 1.0, 1.0], "jplus_flags": [0, 0, 0, 4, 0, 0],
                         "mag_gSDSS": 15.0, "mag_BP": 15.5})
    out = isochrone_members(pred, mem, ClusterConfig(member_prob_min=0.5, iso_max_ruwe=1.4))
    assert out["source_id"].tolist() == [0, 3, 4]  # G missing, RUWE 2.5 and the low-probability star go
    assert np.isnan(out.loc[out.source_id == 3, "mag_gSDSS"]).all()  # flagged J-PLUS blanked ...
    assert (out.loc[out.source_id == 3, "mag_BP"] == 15.5).all()  # ... Gaia kept
    assert (out.loc[out.source_id != 3, "mag_gSDSS"] == 15.0).all()


@pytest.mark.parametrize(("values", "key"), [({"n_burn": 2000, "n_steps": 1000}, "n_burn"),
                                             ({"iso_n_burn": 400}, "iso_n_burn")])
def test_config_burn_in_must_be_below_the_steps(values, key):
    from ocfeh.pipeline.config import load_config

    with pytest.raises(InputError, match=rf"\[clusters\] {key}: must be below \w*n_steps = \d+"):
        load_config(clusters=values).section("clusters")
    assert load_config(clusters={"n_burn": 999, "n_steps": 1000}).section("clusters").n_burn == 999


def test_common_member_errors_remove_the_bias_of_errors_that_follow_the_residuals():
    """When a star's error shrinks as its prediction runs high (errors from the same colours as the
    prediction), weighting by them biases the cluster mean; one common error does not."""
    from ocfeh.clusters.metallicity import member_errors

    rng = np.random.default_rng(2)
    biased, common = [], []
    for k in range(20):
        resid = rng.normal(0, 0.1, 30)
        err = 0.1 * np.exp(-3 * resid)  # over-predicted stars look easy
        biased.append(fit_cluster_feh(resid, member_errors(err, "per_star"), seed=k, n_steps=400, n_burn=150,
                                      warn_members=0).mu)
        common.append(fit_cluster_feh(resid, member_errors(err), seed=k, n_steps=400, n_burn=150, warn_members=0).mu)
    se = np.std(common) / np.sqrt(len(common))
    assert np.mean(biased) > 0.02 and abs(np.mean(common)) < 3 * se + 0.005
    e = member_errors([0.1, np.nan, 0.3, -1.0])
    assert e[0] == e[2] == pytest.approx(0.2) and np.isnan(e[1]) and e[3] == -1.0
    with pytest.raises(InputError, match="member_errors must be"):
        member_errors([0.1], "weighted")


# --------------------------------------------------------------------------- survey-scale inputs
def _sky_run(tmp_path, rng):
    """Two clusters with their fields (cones of own membership) and a far field no cluster uses, written
    as a directory of Parquet parts; members, cluster table."""
    a, b = _field(rng, n_field=1200), _field(rng, n_field=1200)
    b["source_id"] += 10_000
    b["ra"] += 5.0
    far = _field(rng, n_field=3000).iloc[120:].assign(ra=lambda d: d["ra"] + 80.0)
    far["source_id"] += 50_000
    stars = pd.concat([a, b, far], ignore_index=True)
    stars["feh"] = np.where(stars["source_id"] < 10_000, -0.2, 0.1) + 0.05 * rng.standard_normal(len(stars))
    stars["feh_err"], stars["ood_flag"] = 0.08, False
    parts = tmp_path / "predictions"
    parts.mkdir()
    for i, rows in enumerate(np.array_split(np.arange(len(stars)), 3)):
        stars.iloc[rows].to_parquet(parts / f"part-{i}.parquet", index=False)
    members = pd.DataFrame({"cluster": ["A"] * 90 + ["B"] * 90, "member_prob": 0.9,
                            "source_id": np.r_[np.arange(90), 10_000 + np.arange(90)]})
    clusters = pd.DataFrame({"cluster": ["A", "B"], "ra": [120.0, 125.0], "dec": [20.0, 20.0], "r50": [0.1, 0.1]})
    return parts, members, clusters, len(stars)


def test_cluster_stage_reads_only_the_rows_it_uses_and_gives_the_same_clusters(tmp_path, monkeypatch):
    import ocfeh.clusters.stage as stage
    from ocfeh.clusters import ClusterInputs, run_clusters
    from ocfeh.clusters.tables import read_table

    parts, members, clusters, n_sky = _sky_run(tmp_path, np.random.default_rng(4))
    cfg = ClusterConfig(isochrones=False, n_steps=300, n_burn=100, n_walkers=12, figures="none",
                        own_membership=True, own_radius_r50=10.0, own_min_radius_deg=0.5)
    inputs = ClusterInputs(predictions=parts, members=members, clusters=clusters)
    for name in ("rows", "whole"):
        (tmp_path / name).mkdir()
    kept = []
    real = stage.read_rows
    monkeypatch.setattr(stage, "read_rows", lambda *a, **k: kept.append(len(out := real(*a, **k))) or out)
    run_clusters(tmp_path / "rows", inputs, cfg, seed=3)
    monkeypatch.setattr(stage, "read_rows", lambda table, ids=None, cones=None: read_table(table))
    run_clusters(tmp_path / "whole", inputs, cfg, seed=3)
    assert 180 < kept[0] < n_sky - 2500  # members and both cones, not the far field
    bounded, whole = (pd.read_csv(tmp_path / d / "clusters.csv").drop(columns="seconds") for d in ("rows", "whole"))
    pd.testing.assert_frame_equal(bounded, whole)
    assert bounded["n_members_own"].notna().all() and (bounded["n_members_used"] == 90).all()
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "rows" / "cluster_members.parquet"),
                                  pd.read_parquet(tmp_path / "whole" / "cluster_members.parquet"))


def test_read_rows_keeps_ids_and_cones_in_table_order(tmp_path):
    from ocfeh.clusters.tables import read_rows

    t = pd.DataFrame({"source_id": np.arange(10, 0, -1), "ra": [10.0, 10.0, 50, 10.02, np.nan, 80, 10, 10, 10, 10],
                      "dec": [5.0, 5.0, 5, 5.0, 5.0, 5, -60, 5.5, 5.0, 5.0]})
    for i, rows in enumerate(np.array_split(np.arange(len(t)), 3)):
        t.iloc[rows].to_parquet(tmp_path / f"p{i}.parquet", index=False)
    cones = pd.DataFrame({"ra": [10.0], "dec": [5.0], "radius_deg": [0.1]})
    got = read_rows(tmp_path, ids=[5, 7, 99], cones=cones)
    assert got["source_id"].tolist() == [10, 9, 7, 5, 2, 1]  # in order; the NaN position (6) is outside
    assert got.index.tolist() == list(range(6))
    pd.testing.assert_frame_equal(read_rows(t, ids=[5, 7, 99], cones=cones), got)
    with pytest.raises(InputError, match="source_id"):
        read_rows(t.drop(columns="source_id"), ids=[1])
