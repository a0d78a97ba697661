"""Training sample: config, cuts and the cleaning table, stratified splits, build_sample and the CLI."""

from __future__ import annotations

import json
import logging

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from pydantic import ValidationError

from ocfeh import build_sample
from ocfeh.exceptions import InputError
from ocfeh.pipeline.config import load_config
from ocfeh.pipeline.stages import sample_config
from ocfeh.sample import (
    CutsConfig,
    SampleConfig,
    SplitConfig,
    apply_cuts,
    build_catalog,
    stratified_split,
)

from .test_sample_mocksky import make_sky, write_native_tables


def _catalog(toml, path, **kw):
    cfg = load_config(toml)
    return build_catalog(sample_config(cfg, path.parent, with_labels=False), path, seed=cfg.run.seed,
                         base_dir=cfg.base_dir, source=cfg.source, **kw)



def _toml(paths, out, extra: str = "") -> str:
    return f"""
[run]
seed = 5
out = "{out}"

[sample.sources.jplus]
path = "{paths['jplus'].name}"
reader = "jplus"
[sample.sources.gaia]
path = "{paths['gaia'].name}"
reader = "gaia"
[sample.sources.gaia_ap]
path = "{paths['gaia_ap'].name}"
reader = "gaia_ap"
[sample.sources.distances]
path = "{paths['bailer_jones'].name}"
reader = "bailer_jones"
[sample.sources.catwise]
path = "{paths['catwise'].name}"
reader = "catwise"
[sample.sources.labels]
path = "{paths['lamost'].name}"
reader = "lamost"
{extra}
"""


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    folder = tmp_path_factory.mktemp("sky")
    paths = write_native_tables(folder, n=3000, seed=21)
    cfg = folder / "run.toml"
    cfg.write_text(_toml(paths, folder / "run", "[sample.cuts]\nmin_parallax_over_error = 3\n"))
    return build_sample(cfg, folder / "run"), paths, make_sky(3000, seed=21)


def test_build_sample_writes_files_with_provenance(built):
    out, _, _ = built
    df = pd.read_parquet(out.sample)
    meta = json.loads(pq.read_schema(out.sample).metadata[b"ocfeh"])
    assert meta["seed"] == 5 and meta["config_hash"] and meta["versions"]["numpy"]
    assert meta["distance_source"] == "photogeo" and meta["extinction_source"] == "column"
    assert set(df["split"]) == {"train", "val", "test"}
    side = json.loads(out.meta.read_text())
    assert side["crossmatch"]["jplus"]["n_pairs"] > 0
    assert not list(out.sample.parent.glob("*.part"))


def test_one_tile_skips_zero_points_and_given_offsets_calibrate_the_catalogue(built, tmp_path):
    out, paths, _ = built
    side = json.loads(out.meta.read_text())
    assert "at least 10 tiles" in side["tile_zero_points"]["skipped"]  # the tiny sky is one J-PLUS tile
    assert out.zero_points is None and not (out.sample.parent / "zero_points.csv").exists()
    cfg = out.sample.parent.parent / "run.toml"
    plain = pd.read_parquet(_catalog(cfg, tmp_path / "plain.parquet"))
    offsets = pd.DataFrame({"jplus_tile_id": [10001, 10001, 777], "band": ["uJAVA", "rSDSS", "uJAVA"],
                            "offset_mag": [0.03, -0.01, 5.0]})
    offsets.to_csv(tmp_path / "zp.csv", index=False)
    shifted = pd.read_parquet(_catalog(cfg, tmp_path / "zp.parquet", zero_points=tmp_path / "zp.csv"))
    np.testing.assert_allclose(shifted["mag_uJAVA"], plain["mag_uJAVA"] - 0.03, atol=1e-9)
    np.testing.assert_allclose(shifted["mag_rSDSS"], plain["mag_rSDSS"] + 0.01, atol=1e-9)
    np.testing.assert_array_equal(shifted["mag_gSDSS"], plain["mag_gSDSS"])
    meta = json.loads(pq.read_schema(tmp_path / "zp.parquet").metadata[b"ocfeh"])
    assert meta["tile_zero_points"].endswith("zp.csv")


def test_cleaning_counts_equal_rows_kept(built):
    out, _, _ = built
    cleaning = pd.read_csv(out.cleaning, keep_default_na=False)
    df = pd.read_parquet(out.sample)
    assert list(cleaning.columns) == ["step", "n_remaining", "n_removed", "fraction", "note"]
    assert cleaning["n_remaining"].iloc[-1] == len(df)
    assert (np.diff(cleaning["n_remaining"]) <= 0).all()
    assert cleaning["step"].iloc[0] == "gaia rows read" and cleaning["n_remaining"].iloc[0] == 3000
    np.testing.assert_allclose(cleaning["fraction"], cleaning["n_remaining"] / 3000, rtol=1e-5)
    # each configured cut holds on the rows kept
    assert (df["ruwe"] < 1.4).all() and (df["parallax"] / df["parallax_error"] > 3).all()
    assert (df["snr"] >= 30).all() and df["a0"].notna().all() and (df["jplus_flags"] == 0).all()
    mags = df[[c for c in df if c.startswith("mag_err_")]]
    assert mags.notna().all().all() and (mags.to_numpy() <= 0.2).all()


def test_sample_rows_are_true_matches(built):
    """Each sample star's J-PLUS, Gaia and LAMOST rows belong to the same simulated star."""
    out, _, sky = built
    df = pd.read_parquet(out.sample)
    gaia_row = (df["source_id"].to_numpy() - 4_000_000_000_000) // 7919
    lam = sky["lamost"].set_index("obsid")
    assert (lam.loc[df["lamost_obsid"], "truth_gaia_row"].to_numpy() == gaia_row).mean() > 0.995
    jt = sky["jplus"]["truth_gaia_row"][df["jplus_number"].to_numpy() - 1]
    assert (jt == gaia_row).mean() > 0.995
    np.testing.assert_allclose(df["teff"], sky["lamost"].set_index("obsid").loc[df["lamost_obsid"], "teff"])
    np.testing.assert_allclose(df["distance_pc"], df["distance_photogeo_pc"])


def test_apply_cuts_table_and_missing_column():
    df = pd.DataFrame({"teff": [5000.0, 9000, 6000, np.nan], "logg": [4.0, 4, 4, 4], "feh": [0.0, 0, -3, 0],
                       "snr": [50.0, 50, 50, 50]})
    cuts = CutsConfig(bands=[], max_ruwe=None, min_parallax_over_error=None, require_distance=False,
                      require_a0=False)
    kept, table = apply_cuts(df, cuts)
    assert kept["teff"].tolist() == [5000.0]
    assert table["n_remaining"].tolist() == [4, 3, 2, 2, 1, 1]
    assert table["n_removed"].sum() == 3
    with pytest.raises(InputError, match=r"cut 'ruwe < 1\.4' needs column\(s\) ruwe.*\"off\""):
        apply_cuts(df, CutsConfig(bands=[], min_parallax_over_error=None))
    with pytest.raises(InputError, match=r"2 cut\(s\) need.*max_ruwe = \"off\".*min_parallax_over_error = \"off\""):
        apply_cuts(df, CutsConfig(bands=[], require_distance=False, require_a0=False))  # all at once, each its key
    _, t2 = apply_cuts(df, CutsConfig(bands=[], on_missing_column="skip"))
    assert "skipped: no column ruwe" in set(t2["note"])
    # a J-PLUS-only table under the default 17-band cut: the error names the bands it has
    jp = df.assign(mag_gSDSS=17.0, mag_rSDSS=16.5)
    with pytest.raises(InputError, match=r"has the bands \['gSDSS', 'rSDSS'\]: set \[sample.cuts\] bands"):
        apply_cuts(jp, CutsConfig())
    flagless = jp.assign(ruwe=1.0, parallax=1.0, parallax_error=0.1, mag_err_gSDSS=0.01)
    with pytest.raises(InputError, match=r"jplus_flags_zero = false"):  # a boolean cut is not turned "off"
        apply_cuts(flagless, CutsConfig(bands=["gSDSS"]))
    # 2MASS bands, which features accept, are bands of the cut too
    two = flagless.assign(mag_J=[12.0, np.nan, 13.0, 14.0], mag_err_J=0.02, distance_pc=100.0, a0=0.1)
    kept, _ = apply_cuts(two, CutsConfig(bands=["J"], min_snr=None, teff_range=None, feh_range=None))
    assert kept["mag_J"].notna().all() and len(kept) == 2


def test_the_cut_that_empties_the_sample_is_named_with_its_setting():
    from ocfeh.sample.cleaning import CleaningSteps, emptying_step

    df = pd.DataFrame({"teff": [5000.0, 5500], "logg": [4.0, 4], "feh": [0.0, -0.5], "snr": [50.0, 50],
                       "distance_pc": np.nan})  # colours only: no distances
    cuts = CutsConfig(bands=[], max_ruwe=None, min_parallax_over_error=None, require_a0=False)
    steps = CleaningSteps()
    kept, table = apply_cuts(df, cuts, steps)
    assert kept.empty
    assert emptying_step(table, steps.settings) == (
        "'distance known' removed the last 2 (relax it with [sample.cuts] require_distance = false (colour "
        "features only))")
    steps = CleaningSteps()
    _, table = apply_cuts(df.assign(snr=10.0), cuts, steps)
    assert emptying_step(table, steps.settings) == (
        "'snr >= 30' removed the last 2 (relax it with [sample.cuts] min_snr = \"off\")")


def test_every_cut_names_a_setting_that_removes_it():
    """Each cut's setting is a [sample.cuts] field; where it is a value ("off", false), that value
    removes the cut."""
    import tomllib

    from ocfeh.sample.cleaning import CleaningSteps

    cuts = CutsConfig(on_missing_column="skip", max_teff_err=100.0, max_logg_err=0.2, max_feh_err=0.1,
                      max_mag_err=0.1)
    steps = CleaningSteps()
    _, table = apply_cuts(pd.DataFrame({"x": [1.0]}), cuts, steps)
    names = list(table["step"].iloc[1:])
    assert len(names) >= 14 and set(names) == set(steps.settings)
    for name, setting in steps.settings.items():
        assignment = setting.split(" (")[0].split(", or ")[0]
        field = assignment.split(" = ")[0]
        assert field in CutsConfig.model_fields, setting
        if assignment.endswith(("false", '"off"')):
            relaxed = CutsConfig.model_validate({**cuts.model_dump(), **tomllib.loads(assignment)})
            _, t2 = apply_cuts(pd.DataFrame({"x": [1.0]}), relaxed)
            assert name not in set(t2["step"]), setting


def test_cuts_config_off_and_forbidden_keys():
    c = CutsConfig.model_validate({"max_ruwe": "off", "feh_range": [-1, 0.5]})
    assert c.max_ruwe is None and c.feh_range == (-1.0, 0.5)
    with pytest.raises(ValidationError, match="extra"):
        CutsConfig.model_validate({"max_rewe": 1.4})
    with pytest.raises(ValidationError, match="low < high"):
        CutsConfig.model_validate({"teff_range": [8000, 3000]})
    with pytest.raises(ValidationError, match="sum to 1"):
        SplitConfig.model_validate({"fractions": [0.7, 0.2, 0.2]})
    assert CutsConfig.model_validate({"min_snr": "25"}).min_snr == 25.0
    with pytest.raises(ValidationError, match='expected a number, or "off"'):
        CutsConfig.model_validate({"min_snr": "of"})  # a typo of "off" says what is allowed
    with pytest.raises(ValidationError, match=r'expected \[low, high\], or "off"'):
        CutsConfig.model_validate({"teff_range": "none!"})


def test_split_is_seeded_stratified_and_covers_rare_region():
    rng = np.random.default_rng(0)
    n = 5000
    lab = pd.DataFrame({"teff": rng.uniform(4000, 7000, n), "feh": rng.normal(-0.3, 0.3, n),
                        "logg": rng.uniform(1, 5, n)})
    rare = rng.random(n) < 0.01  # 50 very metal-poor stars
    lab.loc[rare, "feh"] = rng.uniform(-2.5, -2.0, rare.sum())
    s1 = stratified_split(lab, seed=3)
    assert np.array_equal(s1, stratified_split(lab, seed=3))
    assert not np.array_equal(s1, stratified_split(lab, seed=4))
    frac = pd.Series(s1).value_counts(normalize=True)
    assert frac["train"] == pytest.approx(0.7, abs=0.01) and frac["test"] == pytest.approx(0.1, abs=0.01)
    rare_counts = pd.Series(s1[rare]).value_counts()
    assert set(rare_counts.index) == {"train", "val", "test"}
    assert rare_counts["test"] >= 3  # ~10 % of 50, not left to chance
    # in every quantile bin of [Fe/H], the test share is close to 10 %
    bins = pd.qcut(lab["feh"], 10, labels=False)
    shares = pd.Series(s1 == "test").groupby(bins.to_numpy()).mean()
    assert shares.between(0.07, 0.13).all()


def test_config_sections_and_errors(tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text('[sample.cuts]\nmax_ruwe = 1.2\n[sample.split]\nfractions = [0.8, 0.1, 0.1]\n')
    loaded = load_config(cfg)
    sc = loaded.section("sample")
    assert isinstance(sc, SampleConfig) and sc.cuts.max_ruwe == 1.2
    with pytest.raises(InputError, match=r"\[sample.sources\] is missing"):
        build_sample(cfg, tmp_path / "run")
    cfg.write_text('[sample.sources.gaia]\npath = "nope.fits"\nreader = "gaia"\n')
    with pytest.raises(InputError, match="table file not found: .*nope.fits"):
        build_sample(cfg, tmp_path / "run")
    cfg.write_text('[sample.sources.gaia]\npath = "nope.fits"\nreader = "gaai"\n')
    with pytest.raises(InputError, match="Did you mean 'gaia'"):
        build_sample(cfg, tmp_path / "run")
    cfg.write_text('[sample.sources.gaia]\npath = "x.fits"\nreader = "gaia"\ncolour = 1\n')
    with pytest.raises(InputError, match="unknown key"):
        load_config(cfg).section("sample")
    assert not (tmp_path / "run" / "sample.parquet").exists()


def test_cli_sample(tmp_path):
    from typer.testing import CliRunner

    from ocfeh.cli import app

    paths = write_native_tables(tmp_path, n=600, seed=2)
    cfg = tmp_path / "run.toml"
    text = _toml(paths, tmp_path / "r", "[sample.cuts]\nmin_parallax_over_error = \"off\"\n")
    cfg.write_text(text.replace("[run]\n", '[run]\ndataset = "files"\n', 1))
    res = CliRunner().invoke(app, ["sample", str(cfg), "--out", str(tmp_path / "cli_run")])
    assert res.exit_code == 0, res.output
    assert "cleaning" in res.output
    # the pipeline's sample stage: the catalogue too, and a later `ocfeh run` reuses it
    for name in ("sample.parquet", "cleaning.csv", "catalog.parquet", ".stages/sample.json"):
        assert (tmp_path / "cli_run" / name).exists(), name


def test_real_table_sample(shared_data, tmp_path, caplog):
    """The shared Green et al. table as one pre-joined source: distance from parallax, labels, splits;
    without J-PLUS tiles the zero points are skipped with an info line, not a warning."""
    cfg = tmp_path / "real.toml"
    cfg.write_text(f"""
[sample]
extinction_source = "zero"
[sample.sources.table]
path = "{shared_data / 'lamost_gaia_wise' / 'green2020_half_a.csv'}"
reader = "green2020"
[sample.cuts]
bands = ["gaia", "wise"]
min_snr = "off"
max_ruwe = "off"
""")
    with caplog.at_level(logging.INFO, logger="ocfeh.sample"):
        out = build_sample(cfg, tmp_path / "run")
    zp = [r for r in caplog.records if "tile zero points skipped" in r.getMessage()]
    assert [r.levelno for r in zp] == [logging.INFO]
    df = pd.read_parquet(out.sample)
    cleaning = pd.read_csv(out.cleaning, keep_default_na=False)
    assert cleaning["n_remaining"].iloc[0] == 5000 and cleaning["n_remaining"].iloc[-1] == len(df) > 1000
    assert json.loads(out.meta.read_text())["distance_source"] == "parallax"
    assert (df["parallax"] / df["parallax_error"] > 5).all()
    assert df.groupby("split").size()["test"] == pytest.approx(0.1 * len(df), abs=5)
