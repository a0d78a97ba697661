"""The small profile end to end, run as a user runs it (issue 8 checks)."""

import json
import re
import subprocess
import sys
import warnings

import pandas as pd
import pytest

from .browser import page_state

# `make test` runs each file on one worker (`--dist loadfile`), so the demo run below is made once
pytestmark = pytest.mark.slow

STAGES = ["simulate", "sample", "train", "evaluate", "predict", "clusters", "report"]


def _ocfeh(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "ocfeh.cli", *args], capture_output=True, text=True, cwd=cwd)


@pytest.fixture(scope="session")  # made once per worker, whatever other tests run in between
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo") / "run"
    res = _ocfeh("demo", "--small", "--out", str(out))
    assert res.returncode == 0, res.stderr[-3000:]
    return out


def test_run_directory_has_every_stage_output(run_dir):
    for name in ("sources/gaia_source.parquet", "sample.parquet", "cleaning.csv", "catalog.parquet",
                 "model", "metrics.json", "predictions.parquet", "clusters.csv", "report.html", "config.json"):
        assert (run_dir / name).exists(), name
    cleaning = pd.read_csv(run_dir / "cleaning.csv")
    sample = pd.read_parquet(run_dir / "sample.parquet")
    assert cleaning["n_remaining"].iloc[-1] == len(sample)
    assert set(sample["split"]) == {"train", "val", "test"}


def test_each_stage_stamp_records_its_time_and_peak_memory(run_dir):
    for name in STAGES:
        stamp = json.loads((run_dir / ".stages" / f"{name}.json").read_text())
        assert stamp["seconds"] > 0, name
        assert 50 < stamp["peak_rss_mb"] < 8000, name  # a Python process with numpy holds tens of MB at least


def test_every_parquet_output_records_seed_and_versions(run_dir):
    import pyarrow.parquet as pq

    files = sorted(run_dir.glob("*.parquet"))
    assert {"sample.parquet", "catalog.parquet", "predictions.parquet", "cluster_members.parquet"} <= {
        f.name for f in files}
    for f in files:
        meta = json.loads(pq.read_schema(f).metadata[b"ocfeh"])
        assert meta["seed"] == 42 and "numpy" in meta["versions"], f.name


def test_metrics_hold_blind_test_scores_against_labels_and_truth(run_dir):
    m = json.loads((run_dir / "metrics.json").read_text())
    for target, worst in (("teff", 250.0), ("logg", 0.3), ("feh", 0.3)):
        for key in ("mae", "rmse", "bias", "robust_scatter", "mae_true", "coverage_68", "coverage_95"):
            assert key in m[target], (target, key)
        assert 0 < m[target]["mae"] < worst
        assert 0.4 < m[target]["coverage_68"] < 0.95 and m[target]["coverage_95"] > 0.75
    assert m["provenance"]["seed"] == 42


def test_tile_zero_points_are_skipped_on_a_sky_of_few_tiles(run_dir):
    # the small profile has 4 J-PLUS tiles: too few to measure offsets against; the skip is recorded
    meta = json.loads((run_dir / "sample.json").read_text())
    assert "at least 10 tiles" in meta["tile_zero_points"]["skipped"]
    assert not (run_dir / "zero_points.csv").exists()


def test_colour_check_finds_the_mock_photometry_consistent_with_its_synthetic_colours(run_dir):
    # the mock is made from the same spectra: offsets are only GSP-Phot A_0 and label errors, and the
    # [Fe/H] sensitivity measured on the noisy labelled stars (corrected for the label noise) is the
    # synthetic one within its error
    cc = pd.read_csv(run_dir / "colour_check.csv").set_index("band")
    meta = json.loads((run_dir / "sample.json").read_text())["colour_check"]
    assert meta["reference"] == "rSDSS" and meta["flagged"] == []
    assert (cc["offset"].abs() < 0.2).all()
    for b in ("uJAVA", "J0395", "J0410", "BP"):
        r = cc.loc[b]
        assert 0.9 < r["label_reliability"] < 1.0
        assert abs(r["sensitivity_ratio"] - 1) < 3 * r["sensitivity_ratio"] * r["slope_observed_err"] / r["slope_observed"], b
    assert cc.loc["J0395", "slope_observed"] > 2 * cc.loc["J0410", "slope_observed"] > 0


def test_predictions_cover_the_catalogue_in_order_with_intervals(run_dir):
    cat = pd.read_parquet(run_dir / "catalog.parquet", columns=["source_id", "mag_rSDSS"])
    pred = pd.read_parquet(run_dir / "predictions.parquet")
    assert len(pred) == len(cat) and (pred["source_id"].to_numpy() == cat["source_id"].to_numpy()).all()
    ok = pred["reason"] == ""
    # faint stars lack WISE or GSP-Phot A_0 and are kept with a reason; bright ones are predicted
    assert ok[(cat["mag_rSDSS"] < 18).to_numpy()].mean() > 0.9
    assert pred.loc[~ok, "reason"].str.startswith("missing").all()
    assert (pred.loc[ok, "feh_lo68"] <= pred.loc[ok, "feh"]).all() and (pred.loc[ok, "feh"] <= pred.loc[ok, "feh_hi68"]).all()


def test_clusters_recover_the_true_metallicity_roughly(run_dir):
    c = pd.read_csv(run_dir / "clusters.csv")
    assert {"n_members_used", "feh_median", "feh_median_err", "feh_mcmc", "feh_mcmc_p16", "feh_mcmc_p84",
            "feh_true"} <= set(c.columns)
    fitted = c.dropna(subset=["feh_mcmc", "feh_true"])
    assert len(fitted) >= 3
    assert (fitted["feh_mcmc"] - fitted["feh_true"]).abs().median() < 0.3
    # the age offset is simulated for clusters with an isochrone fit; its zero points are recorded
    aged = fitted.dropna(subset=["iso_log_age"])
    assert aged["feh_age_offset"].notna().any() and (aged["feh_age_offset"].abs() < 0.2).all()
    zp = json.loads((run_dir / "clusters.provenance.json").read_text())["age_offset"]["zero_points"]
    assert abs(zp["G"]) < 1e-12 and all(abs(v) < 0.3 for v in zp.values())


def test_the_same_tables_as_user_files_give_the_same_sample_and_clusters(run_dir, tmp_path):
    """dataset = "files": the survey tables in native columns, as `ocfeh fetch` leaves them, named in the
    config with relative paths (cluster tables under [clusters]); no truth anywhere. The sample stage gives
    the demo's sample and catalogue; on them the demo's model (made from the sample by the same model
    sections) predicts, and `ocfeh clusters` gives the demo's clusters."""
    import shutil

    from ocfeh.pipeline.runner import run_stage

    data = tmp_path / "data"
    data.mkdir()
    names = {"jplus": ("jplus_magabdualobj", "jplus"), "jplus_extinction": ("jplus_mwextinction", "jplus_extinction"),
             "gaia": ("gaia_source", "gaia"), "gaia_ap": ("gaia_astrophysical_parameters", "gaia_ap"),
             "distances": ("gaia_edr3_distances", "bailer_jones"), "catwise": ("catwise2020", "catwise"),
             "labels": ("lamost_dr8_lrs_stellar", "lamost")}
    for stem in [n for n, _ in names.values()] + ["hr23_clusters", "hr23_members"]:
        shutil.copy(run_dir / "sources" / f"{stem}.parquet", data)
    toml = '[run]\ndataset = "files"\nprofile = "small"\nout = "out"\n'
    toml += "".join(f'[sample.sources.{k}]\npath = "data/{n}.parquet"\nreader = "{r}"\n' for k, (n, r) in names.items())
    toml += '[clusters]\ncatalogue = "data/hr23_clusters.parquet"\nmembers = "data/hr23_members.parquet"\n'
    (tmp_path / "run.toml").write_text(toml)
    res = _ocfeh("sample", "run.toml", cwd=tmp_path)
    assert res.returncode == 0, res.stderr[-3000:]
    out = tmp_path / "out"
    truth = {"teff_true", "logg_true", "feh_true", "a0_true", "distance_true_pc", "cluster", "component"}
    for name in ("sample.parquet", "catalog.parquet"):
        mine, demo = pd.read_parquet(out / name), pd.read_parquet(run_dir / name)
        assert set(mine.columns) == set(demo.columns) - truth, name
        pd.testing.assert_frame_equal(mine, demo[mine.columns])
    shutil.copytree(run_dir / "model", out / "model")
    run_stage(out, "predict")
    # `ocfeh clusters RUN` from elsewhere finds the config's tables (paths relative to the TOML)
    res = _ocfeh("clusters", str(out), cwd=data)
    assert res.returncode == 0, res.stderr[-2000:]
    mine = pd.read_csv(out / "clusters.csv").set_index("cluster")
    demo = pd.read_csv(run_dir / "clusters.csv").set_index("cluster")
    assert mine["feh_true"].isna().all() and mine["feh_mcmc"].notna().sum() >= 3
    for col in ("n_members_used", "feh_median", "feh_mcmc", "own_recovered_fraction"):
        pd.testing.assert_series_equal(mine[col], demo[col], rtol=1e-6)


def test_report_shows_figures_and_key_numbers_in_a_browser(run_dir):
    m = json.loads((run_dir / "metrics.json").read_text())
    state = page_state(run_dir / "report.html")
    assert len(state["images"]) >= 8
    assert all(ok for _, ok in state["images"]), [a for a, ok in state["images"] if not ok]
    assert f"{m['feh']['mae']:.3g}" in state["text"]
    assert "MockOC_001" in state["text"]
    for heading in ("The data", "The method", "Results", "Open clusters", "Provenance"):
        assert heading in state["text"]


def test_second_run_skips_every_stage_and_a_lost_output_is_redone(run_dir):
    res = _ocfeh("demo", "--small", "--out", str(run_dir))
    assert res.returncode == 0, res.stderr[-2000:]
    assert res.stderr.count("inputs unchanged, skipped") == len(STAGES)
    (run_dir / "report.html").unlink()  # as if the run had been interrupted before its last stage
    res = _ocfeh("demo", "--small", "--out", str(run_dir))
    assert res.returncode == 0 and res.stderr.count("inputs unchanged, skipped") == len(STAGES) - 1
    assert (run_dir / "report.html").is_file()


def test_a_copied_run_is_reused_and_the_stage_commands_redo_its_numbers(run_dir, tmp_path):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(run_dir, copy)
    res = _ocfeh("demo", "--small", "--out", "copy", cwd=tmp_path)  # another place, a relative spelling
    assert res.returncode == 0 and res.stderr.count("inputs unchanged, skipped") == len(STAGES), res.stderr[-2000:]
    (copy / "metrics.json").unlink()
    (copy / "report.html").unlink()
    for cmd in ("evaluate", "report"):  # step by step, each on the run's own files and config (for
        # `ocfeh clusters`, see the user-files test)
        res = _ocfeh(cmd, str(copy))
        assert res.returncode == 0, res.stderr[-2000:]
    res = _ocfeh("demo", "--small", "--out", str(copy))  # the stages those commands redid count as done
    assert res.returncode == 0 and res.stderr.count("inputs unchanged, skipped") == len(STAGES), res.stderr[-2000:]
    m, m0 = (json.loads((d / "metrics.json").read_text()) for d in (copy, run_dir))
    for t in ("teff", "logg", "feh"):
        assert m[t]["coverage_68"] == m0[t]["coverage_68"] and m[t]["mae"] == m0[t]["mae"]
    assert m["coverage"] == m0["coverage"]
    assert (copy / "report.html").is_file()


@pytest.mark.parametrize("case", ["bad-config", "missing-config", "unwritable"])
def test_failures_are_one_line_errors_without_traceback(tmp_path, case):
    if case == "bad-config":
        cfg = tmp_path / "c.toml"
        cfg.write_text("[run]\nprofile = 'huge'\n")
        res = _ocfeh("run", str(cfg))
        expect = "profile"
    elif case == "missing-config":
        res = _ocfeh("run", str(tmp_path / "nope.toml"))
        expect = "config file not found"
    else:
        (tmp_path / "file").write_text("")
        res = _ocfeh("demo", "--small", "--out", str(tmp_path / "file" / "run"))
        expect = "not writable"
    assert res.returncode != 0
    assert "Traceback" not in res.stderr and expect in res.stderr
    assert len([ln for ln in res.stderr.splitlines() if ln.strip()]) <= 3


def test_mock_trained_model_warns_on_a_table_that_is_not_the_mock_sky(run_dir):
    import ocfeh
    from ocfeh.exceptions import OcfehWarning

    model = ocfeh.load_model(run_dir / "model")
    assert model.meta["training_set"]["kind"] == "mock"
    catalog = pd.read_parquet(run_dir / "catalog.parquet").head(200)
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always", OcfehWarning)
        model.predict(catalog)  # the mock sky itself (truth columns): no mock warning
    assert not [w for w in seen if "mock sky" in str(w.message)]
    real_like = catalog.drop(columns=["teff_true", "logg_true", "feh_true"])
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always", OcfehWarning)
        model.predict(real_like)
    assert any(re.search(r"trained on the mock sky.*apogee-xp", str(w.message)) for w in seen)


def test_docs_build_with_every_tutorial_executed_on_this_run(run_dir, tmp_path):
    from .test_docs import build_docs, check_built_site

    res = build_docs(run_dir, tmp_path / "html")
    assert res.returncode == 0, (res.stdout + res.stderr)[-4000:]
    check_built_site(tmp_path / "html")
