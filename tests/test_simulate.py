"""Tests of the mock sky (issue 3): physics of the populations and clusters, survey noise, selection
fractions, label noise, determinism, configuration and CLI."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from ocfeh.bands import JPLUS_ARRAY_ORDER
from ocfeh.exceptions import InputError
from ocfeh.simulate import FILES, SimulationConfig, simulate_sky
from ocfeh.synthphot import load_isochrones


@pytest.fixture(scope="module")
def sky(tmp_path_factory):
    """One small sky (about 10 s), shared by the tests of this module."""
    out = tmp_path_factory.mktemp("sky")
    paths = simulate_sky(out, profile="small", seed=7)
    return paths


def _jplus_with_truth(paths):
    j = pd.read_parquet(paths["jplus"])
    t = pd.read_parquet(paths["truth"])
    tj = t[t["jplus_number"] >= 0].set_index(["jplus_tile_id", "jplus_number"])
    return j, tj.reindex(pd.MultiIndex.from_arrays([j["tile_id"], j["number"]]))


# ---------------------------------------------------------------- isochrones and clusters
def test_isochrone_reader_units():
    iso = load_isochrones()
    assert iso.ages_myr[0] == 20 and iso.ages_myr[-1] == 14000  # Myr, not log
    assert iso.mh_range == (-2.5, 0.3)
    sun = iso.interpolate(4570.0, 0.06, 1.0)
    assert abs(sun["teff"][0] - 5772) < 150  # log Teff converted to K
    assert abs(sun["logg"][0] - 4.44) < 0.08
    dead = iso.interpolate(4000.0, 0.0, 3.0)
    assert not dead["alive"][0] and np.isnan(dead["teff"][0])


def test_cluster_cmd_follows_its_isochrone():
    """A 4 Gyr solar cluster: single members sit on the isochrone; turnoff and giants where expected."""
    from ocfeh.simulate.clusters import draw_clusters
    from ocfeh.simulate.stars import make_tiles
    from ocfeh.synthphot.stellar import magnitudes, radius_from_mass_logg

    cfg = SimulationConfig(cluster_age_range_myr=(4000.0, 4000.0), cluster_feh_range=(0.0, 0.0),
                           cluster_distance_range_pc=(2000.0, 2000.0), cluster_bright_members=(250, 250),
                           a0_per_kpc=0.0, cluster_max_members=20000)
    rng = np.random.default_rng(3)
    iso = load_isochrones()
    clusters, mem = draw_clusters(cfg, make_tiles(1, cfg, rng), 1, iso, rng)
    single = mem[mem["mass_ratio"] == 0]
    dm = 5 * np.log10(single["distance_true_pc"].to_numpy() / 10)
    abs_g = single["mag_G_true"].to_numpy() - dm
    col = (single["mag_BP_true"] - single["mag_RP_true"]).to_numpy()
    # the isochrone, through synthphot independently of the member draw
    ic = iso.isochrone(4000.0, 0.0)
    ic = ic[ic["eep"] < 600]  # main sequence to the base of the red-giant branch
    mags = magnitudes(ic["teff"], ic["logg"], 0.0, radius=radius_from_mass_logg(ic["mass"], ic["logg"]))
    ms = (abs_g > 4.5) & (abs_g < 9)
    iso_col = np.interp(abs_g[ms], mags["G"].to_numpy()[::-1], (mags["BP"] - mags["RP"]).to_numpy()[::-1])
    assert np.median(np.abs(col[ms] - iso_col)) < 0.02
    # turnoff of a 4 Gyr solar population: bluest dwarfs near BP-RP 0.75, M_G 3.5-4.5
    dwarfs = single["logg_true"].to_numpy() > 3.9
    assert 0.6 < np.min(col[dwarfs]) < 0.85
    assert 2.8 < np.min(abs_g[dwarfs]) < 4.6
    # red giants / clump: redder than 1.0 and brighter than M_G = 2
    giants = single["logg_true"].to_numpy() < 3.0
    assert giants.sum() >= 3
    assert np.all(col[giants] > 1.0) and np.all(abs_g[giants] < 2.5)


# ---------------------------------------------------------------- survey properties
def test_files_and_native_columns(sky):
    for key, name in FILES.items():
        assert sky[key].name == name and sky[key].exists()
    j = pq.read_table(sky["jplus"])
    assert j.schema.field("mag_aper_6_0").type.list_size == 12
    for col in ("tile_id", "number", "alpha_j2000", "delta_j2000", "class_star", "mag_err_aper_cor_6_0",
                "mag_auto", "flags", "mask_flags"):
        assert col in j.column_names
    g = pq.read_table(sky["gaia"]).column_names
    assert {"source_id", "parallax", "pmra", "phot_bp_mean_mag", "ruwe", "phot_g_mean_flux_over_error"} <= set(g)
    assert {"r_med_geo", "r_med_photogeo"} <= set(pq.read_table(sky["gaia_dist"]).column_names)
    assert {"azero_gspphot", "distance_gspphot", "ag_gspphot"} <= set(pq.read_table(sky["gaia_ap"]).column_names)
    assert {"source_name", "w1mpro", "w2sigmpro"} <= set(pq.read_table(sky["catwise"]).column_names)
    assert {"obsid", "teff_err", "feh", "snrg"} <= set(pq.read_table(sky["lamost"]).column_names)
    assert {"Name", "logAge50", "AV50", "dist50", "r50", "Plx"} <= set(pq.read_table(sky["hr23_clusters"]).column_names)
    assert {"GaiaDR3", "Prob"} <= set(pq.read_table(sky["hr23_members"]).column_names)
    meta = json.loads(pq.read_schema(sky["gaia"]).metadata[b"ocfeh"])
    assert meta["seed"] == 7 and len(meta["config_hash"]) == 16
    manifest = json.loads(sky["manifest"].read_text())
    assert manifest["row_counts"]["jplus"] == pq.ParquetFile(sky["jplus"]).metadata.num_rows


def test_number_counts_rise_with_magnitude(sky):
    j = pd.read_parquet(sky["jplus"])
    r = np.stack(j["mag_aper_cor_6_0"].to_numpy())[:, JPLUS_ARRAY_ORDER.index("rSDSS")]
    counts, _ = np.histogram(r, bins=np.arange(14.0, 21.01, 1.0))
    assert np.all(np.diff(counts) > 0), counts


def test_narrow_band_errors_exceed_broad_band_errors(sky):
    j = pd.read_parquet(sky["jplus"])
    m = np.stack(j["mag_aper_cor_6_0"].to_numpy())
    e = np.stack(j["mag_err_aper_cor_6_0"].to_numpy())
    def med_err(band):
        k = JPLUS_ARRAY_ORDER.index(band)
        sel = (m[:, k] > 19.0) & (m[:, k] < 19.5)
        return np.median(e[sel, k])
    for narrow in ("J0395", "J0410", "J0515", "J0660", "J0861"):
        assert med_err(narrow) > 1.1 * max(med_err("gSDSS"), med_err("rSDSS")), narrow
    # 99 marks non-detections, errors too; detections have sane errors
    assert np.all((m == 99) == (e == 99))
    assert np.all(np.isfinite(e[m < 99]) & (e[m < 99] > 0))


def test_jplus_photon_errors_match_real_catalogue_errors(sky, shared_data):
    """Without the simulated per-star floor, the mock's errors of the blue bands that carry [Fe/H] are
    those of real J-PLUS photometry at the same magnitude (J-PLUS IDR x SEGUE, 6-arcsec apertures)."""
    from ocfeh.catalogs import read_catalog
    from ocfeh.simulate.obs_jplus import photon_error

    j = pd.read_parquet(sky["jplus"])
    m = np.stack(j["mag_aper_cor_6_0"].to_numpy())
    e = photon_error(np.stack(j["mag_err_aper_cor_6_0"].to_numpy()), SimulationConfig().jplus_error_floor)
    real = read_catalog(shared_data / "jplus_segue" / "IDR_SEGUE.csv", "jplus_segue")
    for band in ("uJAVA", "J0378", "J0395", "J0410", "J0430"):
        k = JPLUS_ARRAY_ORDER.index(band)
        for lo in (16.5, 17.5):
            sel = (m[:, k] > lo) & (m[:, k] < lo + 1)
            obs = real.loc[real[f"mag_{band}"].between(lo, lo + 1), f"mag_err_{band}"].dropna()
            assert sel.sum() > 50 and len(obs) > 100
            assert 0.7 < np.median(e[sel, k]) / obs.median() < 1.4, (band, lo)


def test_counterpart_fractions_resemble_poster_table1(sky):
    """J-PLUS point sources with r < 19: ~98% Gaia, ~98% CatWISE, ~10% LAMOST (poster Table 1)."""
    j, tj = _jplus_with_truth(sky)
    r = np.stack(j["mag_aper_cor_6_0"].to_numpy())[:, JPLUS_ARRAY_ORDER.index("rSDSS")]
    sel = (r < 19.0) & (j["class_star"].to_numpy() > 0.5)
    s = tj[sel]
    assert sel.sum() > 500
    assert (s["source_id"] >= 0).mean() > 0.95
    assert s["catwise_source_name"].notna().mean() > 0.93
    assert 0.04 < (s["lamost_obsid"] >= 0).mean() < 0.2


def test_label_noise_has_configured_spread(sky):
    lam = pd.read_parquet(sky["lamost"])
    t = pd.read_parquet(sky["truth"]).query("lamost_obsid >= 0").set_index("lamost_obsid")
    tr = t.loc[lam["obsid"]]
    for lab, true in (("teff", "teff_true"), ("logg", "logg_true"), ("feh", "feh_true")):
        pull = (lam[lab].to_numpy() - tr[true].to_numpy()) / lam[f"{lab}_err"].to_numpy()
        assert abs(np.std(pull) - 1.0) < 0.15, lab
        assert abs(np.mean(pull)) < 0.2, lab
    cfg = SimulationConfig()
    from ocfeh.simulate.obs_lamost import label_sigma

    assert label_sigma(10.0, cfg.lamost_teff_noise_k, cfg.lamost_noise_floor) == pytest.approx(100.0)
    low = lam["snrg"].to_numpy() < 12
    assert low.sum() > 20
    resid = lam["feh"].to_numpy()[low] - tr["feh_true"].to_numpy()[low]
    assert 0.07 < np.std(resid) < 0.15  # ~0.10 dex at SNR ~10


def test_clusters_have_well_measured_members(sky):
    t = pd.read_parquet(sky["truth"])
    mem = pd.read_parquet(sky["hr23_members"])
    clusters = pd.read_parquet(sky["hr23_clusters"])
    truth_cl = pd.read_parquet(sky["truth_clusters"])
    assert len(clusters) == len(truth_cl) == SimulationConfig().sizes("small")[2]
    good = t[(t["cluster"].notna()) & (t["mag_rSDSS_true"] < 17.5) & t["hr23_listed"]]
    per = good.groupby("cluster").size()
    assert (per >= 10).all() and len(per) == len(clusters)
    # true members have high probabilities, contaminants lower
    truth_by_id = t.query("source_id >= 0").set_index("source_id")
    is_true = truth_by_id.loc[mem["GaiaDR3"], "cluster"].notna().to_numpy()
    assert np.median(mem["Prob"][is_true]) > 0.7
    if (~is_true).any():
        assert np.median(mem["Prob"][~is_true]) < np.median(mem["Prob"][is_true])
    # the catalogue's parallax and proper motion match the truth
    m = clusters.merge(truth_cl, on="Name")
    assert np.all(np.abs(m["Plx"] - 1000 / m["distance_true_pc"]) < 0.1)
    assert np.all(np.abs(m["pmRA"] - m["pmra"]) < 0.3)


def test_gspphot_distance_bias_beyond_2kpc(sky):
    ap = pd.read_parquet(sky["gaia_ap"])
    t = pd.read_parquet(sky["truth"]).query("source_id >= 0").set_index("source_id")
    d = t.loc[ap["source_id"], "distance_true_pc"].to_numpy()
    ratio = ap["distance_gspphot"].to_numpy() / d
    assert abs(np.median(ratio[d < 1000]) - 1) < 0.05
    assert np.median(ratio[d > 2500]) > 1.15


# ---------------------------------------------------------------- determinism, config, CLI
def _digests(paths):
    return {k: hashlib.sha256(p.read_bytes()).hexdigest() for k, p in paths.items() if k != "manifest"}


def test_same_seed_identical_files_different_seed_different(tmp_path):
    cfg = {"n_tiles": 2, "n_clusters": 1, "cluster_bright_members": (10, 10), "write_fits": True}
    a = simulate_sky(tmp_path / "a", n_stars=1500, profile="small", seed=11, config=cfg)
    b = simulate_sky(tmp_path / "b", n_stars=1500, profile="small", seed=11, config=cfg)
    c = simulate_sky(tmp_path / "c", n_stars=1500, profile="small", seed=12, config=cfg)
    da, db, dc = _digests(a), _digests(b), _digests(c)
    assert da == db
    assert "jplus_fits" in da
    assert all(da[k] != dc[k] for k in ("jplus", "gaia", "truth", "hr23_members"))
    ma, mb = (json.loads(p["manifest"].read_text()) for p in (a, b))
    for m in (ma, mb):
        m.pop("created_utc"), m.pop("runtime_s")
    assert ma == mb


def test_config_rejects_unknown_keys_and_bad_profile(tmp_path):
    with pytest.raises(ValueError, match="n_starz"):
        SimulationConfig.model_validate({"n_starz": 10})
    with pytest.raises(InputError, match="profile"):
        simulate_sky(tmp_path / "x", profile="huge")
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "f.txt").write_text("x")
    with pytest.raises(InputError, match="not empty"):
        simulate_sky(tmp_path / "full", profile="small")


def test_cli_simulate(tmp_path):
    from typer.testing import CliRunner

    from ocfeh.cli import app

    res = CliRunner().invoke(app, ["simulate", "--small", "--n-stars", "1000", "--seed", "3", "-o", str(tmp_path / "s")])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "s" / "truth.parquet").exists()
    assert "jplus" in res.output


def test_detect_limit_does_not_distort_brighter_stars():
    """Generating only stars that could beat r = 18 (the poster-scale profile) leaves the magnitude
    distribution of brighter stars unchanged, and raises their share of what is generated."""
    from scipy.stats import ks_2samp

    from ocfeh.simulate.stars import FieldModel, add_photometry, draw_stars, make_tiles

    iso = load_isochrones()

    def bright_r(limit, n, seed):
        cfg = SimulationConfig(detect_limit_r=limit)
        rng = np.random.default_rng(seed)
        tiles = make_tiles(3, cfg, rng)
        model = FieldModel(cfg, tiles, iso)
        stars = pd.concat([draw_stars(rng, model, s, s.start, s.start + s.count) for s in model.allocate(n, rng)
                           if s.count])
        r = add_photometry(stars.reset_index(drop=True), iso)["mag_rSDSS_true"].to_numpy()
        return r[(r > 12.0) & (r < 17.5)], n

    deep, n_deep = bright_r(23.0, 40_000, 1)
    shallow, n_shallow = bright_r(18.0, 10_000, 2)
    assert len(deep) > 300 and len(shallow) > 1000
    assert len(shallow) / n_shallow > 3 * len(deep) / n_deep  # generation is much more efficient
    assert ks_2samp(deep, shallow).pvalue > 0.001  # same shape of the bright counts


def test_cli_simulate_profiles_exclusive(tmp_path):
    import subprocess
    import sys

    res = subprocess.run([sys.executable, "-m", "ocfeh.cli", "simulate", "--small", "--full", "-o",
                          str(tmp_path / "s")], capture_output=True, text=True)
    assert res.returncode != 0
    assert "exclude each other" in res.stdout + res.stderr and "Traceback" not in res.stderr
    assert not (tmp_path / "s").exists()


@pytest.mark.parametrize("seed", ["1", -1, True, 1.5])
def test_bad_seed_is_an_input_error_before_the_directory_is_made(tmp_path, seed):
    with pytest.raises(InputError, match="'seed' parameter of simulate_sky must be a non-negative integer"):
        simulate_sky(tmp_path / "out", profile="small", seed=seed)
    assert not (tmp_path / "out").exists()


def test_early_failure_removes_the_directory_it_made(tmp_path, monkeypatch):
    from ocfeh.simulate import sky

    def broken():
        raise OSError("isochrone grid unreadable")

    monkeypatch.setattr(sky, "load_isochrones", broken)
    with pytest.raises(OSError, match="unreadable"):
        simulate_sky(tmp_path / "new" / "sky", profile="small")
    assert not (tmp_path / "new").exists()
    (tmp_path / "mine").mkdir()  # a folder the caller made stays
    with pytest.raises(OSError, match="unreadable"):
        simulate_sky(tmp_path / "mine", profile="small")
    assert (tmp_path / "mine").is_dir()


def test_docstring_sizes_are_the_profiles():
    import re

    from ocfeh.simulate import PROFILE_SIZES

    doc = " ".join(simulate_sky.__doc__.split())
    unit = {"k": 1_000, "M": 1_000_000}
    sizes = {p: int(n) * unit[u] for p, n, u in re.findall(r"(small|default|full) (\d+)([kM])", doc)}
    assert sizes == {p: v[0] for p, v in PROFILE_SIZES.items()}  # full was documented as 5M
