import json

import pytest

from ocfeh.exceptions import InputError, StageError
from ocfeh.pipeline.config import load_config
from ocfeh.pipeline.runner import run
from ocfeh.pipeline.stage import Stage


def _stages(calls, fail_at=None):
    def make(name, src, dst):
        def func(run_dir, cfg):
            calls.append(name)
            if name == fail_at:
                raise ValueError("simulated crash")
            text = (run_dir / src).read_text() if src else str(cfg.run.seed)
            (run_dir / dst).write_text(text + name)
        return Stage(name, func, (src,) if src else (), (dst,), ("run",))

    return [make("a", None, "a.txt"), make("b", "a.txt", "b.txt"), make("c", "b.txt", "c.txt")]


def test_second_run_skips_every_stage_and_from_redoes_the_tail(tmp_path):
    calls = []
    res = run(load_config(), out=tmp_path, stages=_stages(calls))
    assert res.ran == ["a", "b", "c"]
    res = run(load_config(), out=tmp_path, stages=_stages(calls))
    assert res.skipped == ["a", "b", "c"] and calls == ["a", "b", "c"]
    res = run(load_config(), out=tmp_path, stages=_stages(calls), from_stage="b")
    assert res.ran == ["b", "c"] and res.skipped == ["a"]


def test_changed_config_reruns_and_unchanged_outputs_stop_the_cascade(tmp_path):
    calls = []
    run(load_config(), out=tmp_path, stages=_stages(calls))
    cfg = load_config(run={"seed": 7})
    res = run(cfg, out=tmp_path, stages=_stages(calls))
    assert res.ran == ["a", "b", "c"]
    assert (tmp_path / "c.txt").read_text() == "7abc"


def test_interrupted_run_resumes_at_the_failed_stage(tmp_path):
    calls = []
    with pytest.raises(StageError, match="stage 'b' failed.*simulated crash"):
        run(load_config(), out=tmp_path, stages=_stages(calls, fail_at="b"))
    assert not (tmp_path / "b.txt").exists()
    calls.clear()
    res = run(load_config(), out=tmp_path, stages=_stages(calls))
    assert res.skipped == ["a"] and res.ran == ["b", "c"]


def test_bad_config_names_key_and_allowed_values(tmp_path):
    bad = tmp_path / "c.toml"
    bad.write_text("[run]\nprofil = 'small'\n")
    with pytest.raises(InputError, match=r"unknown key \[run\] profil\. Did you mean 'profile'\?"):
        load_config(bad)
    bad.write_text("[run]\nprofile = 'huge'\n")
    with pytest.raises(InputError, match=r"\[run\] profile.*'small', 'default' or 'full'.*huge"):
        load_config(bad)
    bad.write_text("[rnu]\n")
    with pytest.raises(InputError, match=r"unknown section \[rnu\]\. Did you mean 'run'"):
        load_config(bad)
    with pytest.raises(InputError, match="config file not found"):
        load_config(tmp_path / "nope.toml")


def test_unwritable_run_directory_is_a_clear_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(InputError, match="not writable"):
        run(load_config(), out=blocker / "run", stages=_stages([]))


def test_a_relative_run_directory_is_taken_from_the_working_directory_and_printed(tmp_path, monkeypatch):
    from rich.console import Console

    (tmp_path / "cfgdir").mkdir()
    cfg_file = tmp_path / "cfgdir" / "run.toml"
    cfg_file.write_text('[run]\nout = "runs/x"\n')
    monkeypatch.chdir(tmp_path)
    console = Console(record=True, width=300)
    run(cfg_file, stages=_stages([]), console=console)
    assert (tmp_path / "runs" / "x" / "c.txt").is_file() and not (tmp_path / "cfgdir" / "runs").exists()
    assert f"run directory: {tmp_path / 'runs' / 'x'}" in console.export_text()


def test_a_copied_run_or_another_spelling_of_its_path_skips_every_stage(tmp_path, monkeypatch):
    import shutil

    calls = []
    run(load_config(run={"out": str(tmp_path / "a")}), stages=_stages(calls))
    shutil.copytree(tmp_path / "a", tmp_path / "b")
    assert run(load_config(run={"out": str(tmp_path / "b")}), stages=_stages(calls)).skipped == ["a", "b", "c"]
    monkeypatch.chdir(tmp_path)
    assert run(load_config(run={"out": "./a/"}), stages=_stages(calls)).skipped == ["a", "b", "c"]
    assert calls == ["a", "b", "c"]
    rec = json.loads((tmp_path / "b" / "config.json").read_text())
    assert rec["config"]["run"]["out"] == str(tmp_path / "b")
    assert rec["provenance"]["config_hash"] == load_config().hash()  # the same config wherever it runs


def test_run_records_config_and_provenance(tmp_path):
    run(load_config(run={"seed": 3}), out=tmp_path, stages=_stages([]))
    rec = json.loads((tmp_path / "config.json").read_text())
    assert rec["config"]["run"]["seed"] == 3 and rec["provenance"]["seed"] == 3
    assert "numpy" in rec["provenance"]["versions"]


def test_real_dataset_runs_without_the_mock_stages_and_trains_on_its_own_bands():
    import numpy as np
    import pandas as pd

    from ocfeh.pipeline.stages import bands_in, default_stages

    names = [s.name for s in default_stages(load_config(run={"dataset": "apogee-xp"}))]
    assert names == ["dataset", "train", "evaluate", "report"]
    sample = pd.DataFrame({"mag_G": [1.0, 2.0], "mag_uJAVA": [np.nan, np.nan], "mag_Ks": [3.0, np.nan],
                           "mag_J": [1.0, 1.0]})
    assert bands_in(sample) == ["G", "J"]


def test_files_dataset_takes_cluster_tables_from_the_config(tmp_path):
    from ocfeh.pipeline.stages import cluster_tables, default_stages

    files = load_config(run={"dataset": "files"})
    assert cluster_tables(files) is None  # real tables without cluster lists: no cluster stage
    assert "clusters" not in [s.name for s in default_stages(files)]
    for name in ("hr23_clusters.csv", "hr23_members.csv"):
        (tmp_path / name).write_text("Name\nX\n")
    cfg = tmp_path / "run.toml"
    cfg.write_text('[run]\ndataset = "files"\n[clusters]\ncatalogue = "hr23_clusters.csv"\nmembers = "hr23_members.csv"\n')
    assert cluster_tables(load_config(cfg)) == (tmp_path / "hr23_clusters.csv", tmp_path / "hr23_members.csv")
    assert "clusters" in [s.name for s in default_stages(load_config(cfg))]
    cfg.write_text('[run]\ndataset = "files"\n[clusters]\ncatalogue = "hr23_clusters.csv"\n')
    with pytest.raises(InputError, match="both catalogue and members"):
        cluster_tables(load_config(cfg))
    cfg.write_text('[run]\ndataset = "files"\n[clusters]\ncatalogue = "a.csv"\nmembers = "b.csv"\n')
    with pytest.raises(InputError, match="a.csv does not exist"):
        cluster_tables(load_config(cfg))


def test_sample_sections_keep_cuts_turned_off_and_a_lone_labelled_table_is_the_catalogue(tmp_path):
    from ocfeh.pipeline.stages import sample_config

    cfg = tmp_path / "run.toml"
    cfg.write_text('[run]\ndataset = "files"\n[sample.sources.labels]\npath = "segue.csv"\nreader = "jplus_segue"\n'
                   '[sample.cuts]\nmax_ruwe = "off"\nmin_parallax_over_error = "off"\n')
    c = load_config(cfg)
    cuts = sample_config(c, tmp_path).cuts
    assert cuts.max_ruwe is None and cuts.min_parallax_over_error is None  # "off" survives, no default back
    cat = sample_config(c, tmp_path, with_labels=False).sources
    assert cat.labels is None and cat.table.path == "segue.csv" and cat.table.reader == "jplus_segue"


def test_a_changed_user_table_reruns_its_stage(tmp_path):
    table = tmp_path / "data" / "labels.csv"
    table.parent.mkdir()
    table.write_text("teff\n5000\n")
    calls = []

    def func(run_dir, cfg):
        calls.append("s")
        (run_dir / "s.txt").write_text(table.read_text())

    stages = [Stage("s", func, (str(table),), ("s.txt",), ("run",))]
    out = tmp_path / "run"
    assert run(load_config(), out=out, stages=stages).ran == ["s"]
    assert run(load_config(), out=out, stages=stages).skipped == ["s"]
    table.write_text("teff\n5100\n")
    assert run(load_config(), out=out, stages=stages).ran == ["s"] and calls == ["s", "s"]
    table.unlink()
    with pytest.raises(StageError, match="table file not found"):
        run(load_config(), out=out, stages=stages)


def test_files_stages_track_the_configured_tables_and_mock_refuses_user_tables(tmp_path):
    from ocfeh.pipeline.stages import default_stages

    for name in ("g.parquet", "l.parquet", "c.csv", "m.csv"):
        (tmp_path / name).write_text("x")
    body = ('[sample.sources.gaia]\npath = "g.parquet"\nreader = "gaia"\n'
            '[sample.sources.labels]\npath = "l.parquet"\nreader = "lamost"\n'
            '[clusters]\ncatalogue = "c.csv"\nmembers = "m.csv"\n')
    cfg = tmp_path / "run.toml"
    cfg.write_text('[run]\ndataset = "files"\n' + body)
    stages = {s.name: s for s in default_stages(load_config(cfg))}
    assert stages["sample"].inputs == (str(tmp_path / "g.parquet"), str(tmp_path / "l.parquet"))
    assert stages["clusters"].inputs == ("predictions.parquet", str(tmp_path / "c.csv"), str(tmp_path / "m.csv"))
    cfg.write_text(body)  # dataset left at "mock": the user's tables would be trained on beside a simulated sky
    with pytest.raises(InputError, match='dataset = "files"'):
        default_stages(load_config(cfg))


def test_unknown_nested_key_lists_the_keys_of_its_own_table(tmp_path):
    cfg = tmp_path / "run.toml"
    cfg.write_text('[sample.sources.lables]\npath = "x.csv"\nreader = "lamost"\n')
    with pytest.raises(InputError, match="Did you mean 'labels'\\? Allowed: table, jplus"):
        load_config(cfg).section("sample")
    cfg.write_text('[sample.sources.labels]\npath = "x.csv"\nreader = "lamost"\ncolum_map = {}\n')
    with pytest.raises(InputError, match="Did you mean 'column_map'\\? Allowed: path, reader"):
        load_config(cfg).section("sample")


def test_a_failed_train_stage_leaves_no_model(tmp_path, monkeypatch):
    import ocfeh.pipeline.stages
    from ocfeh.pipeline.stages import default_stages

    def fake_train(run_dir, *args, **kwargs):
        (run_dir / "model").mkdir()
        (run_dir / "model" / "feh.json").write_text("{}")

    def failing_calibration(*args, **kwargs):
        raise InputError("calibration needs >= 100 usable validation stars; got 6")

    monkeypatch.setattr(ocfeh.pipeline.stages, "train_run", fake_train)
    monkeypatch.setattr(ocfeh.pipeline.stages, "calibrate_model_dir", failing_calibration)
    import pandas as pd

    pd.DataFrame({"split": ["train"]}).to_parquet(tmp_path / "sample.parquet")
    with pytest.raises(InputError, match="calibration"):
        train = next(s for s in default_stages(load_config()) if s.name == "train")
        train.func(tmp_path, load_config())
    assert not (tmp_path / "model").exists()


def test_the_band_cut_follows_the_feature_bands_unless_set(tmp_path):
    from ocfeh.pipeline.stages import sample_config

    def sample_section(cfg):
        return sample_config(cfg, tmp_path)

    assert sample_section(load_config()).cuts.bands == ["all"]
    assert sample_section(load_config(features={"bands": "jplus"})).cuts.bands == ["jplus"]
    assert sample_section(load_config(features={"bands": ["G", "BP"]})).cuts.bands == ["G", "BP"]
    both = load_config(features={"bands": "jplus"}, sample={"cuts": {"bands": ["gaia"]}})
    assert sample_section(both).cuts.bands == ["gaia"]



def test_a_config_from_the_template_takes_the_profile_and_records_what_ran(tmp_path):
    import tomllib

    from ocfeh.pipeline.config import RunConfig, example_toml
    from ocfeh.pipeline.runner import stage_key
    from ocfeh.pipeline.stages import default_stages
    from ocfeh.train.model import ModelConfig

    raw = tomllib.loads(example_toml())
    raw["run"]["profile"] = "small"
    small = RunConfig(raw)
    preset = ModelConfig.PROFILES["small"]
    assert small.section("model").n_estimators == preset["n_estimators"]  # the template leaves it to the profile
    assert small.to_dict()["model"]["learning_rate"] == preset["learning_rate"]  # config.json records what ran
    mine = load_config(run={"profile": "small"}, model={"n_estimators": 7})
    assert mine.section("model").n_estimators == 7  # a value the file gives wins

    def train_key(cfg):
        return stage_key(next(s for s in default_stages(cfg) if s.name == "train"), tmp_path, cfg)

    assert train_key(small) == train_key(load_config(run={"profile": "small"}))
    assert train_key(small) != train_key(load_config())  # another profile trains another model: no reuse


def test_a_config_from_the_template_follows_its_feature_bands_and_the_sample_key_sees_them(tmp_path):
    import tomllib

    from ocfeh.pipeline.config import RunConfig, example_toml
    from ocfeh.pipeline.runner import stage_key
    from ocfeh.pipeline.stages import default_stages, sample_config

    raw = tomllib.loads(example_toml())
    raw["features"]["bands"] = "jplus"  # the one edit a J-PLUS-only user makes
    assert sample_config(RunConfig(raw), tmp_path).cuts.bands == ["jplus"]

    def sample_key(**features):
        cfg = load_config(features=features)
        return stage_key(next(s for s in default_stages(cfg) if s.name == "sample"), tmp_path, cfg)

    assert sample_key(bands="jplus") != sample_key(bands="all") == sample_key()  # the cut changes: redo the sample
    assert sample_key(curvatures=[1]) == sample_key()  # a feature option the sample does not use


def test_run_stage_uses_the_runs_config_and_falls_back_when_its_tables_moved(tmp_path, caplog):
    from ocfeh.pipeline.runner import run_stage

    assert run_stage(tmp_path, "report") is None  # no config.json: not a run's directory
    moved = {"run": {"dataset": "files"}, "sample": {"sources": {"labels": {"path": "gone.csv", "reader": "lamost"}}},
             "clusters": {"catalogue": "gone_clusters.parquet", "members": "gone_members.parquet"}}
    (tmp_path / "config.json").write_text(json.dumps({"config": moved, "source": str(tmp_path / "gone.toml")}))
    with caplog.at_level("WARNING", logger="ocfeh.pipeline"):
        assert run_stage(tmp_path, "clusters") is None
    assert "working on the directory's files alone" in caplog.text
    (tmp_path / "config.json").write_text(json.dumps({"config": {"run": {"profile": "small"}}}))
    with pytest.raises(StageError, match="input missing"):  # a usable config: the stage itself runs
        run_stage(tmp_path, "evaluate")


def test_cluster_tables_are_read_in_any_case_with_their_stated_units(tmp_path):
    """An HR23 export with upper-case names and r50 in arcmin (unit stated) gives the same tables as
    the native spelling; a member table without source_id names the file and the column."""
    import numpy as np
    import pandas as pd
    from astropy.table import Table

    from ocfeh.catalogs import read_hr23

    cat = pd.DataFrame({"Name": ["Alpha_1", "Beta_2"], "ID": [1, 2], "RA_ICRS": [10.0, 20.0], "DE_ICRS": [5.0, -5.0],
                        "pmRA": [1.0, 2.0], "pmDE": [0.5, -0.5], "Plx": [1.0, 0.5], "r50": [0.1, 0.2], "N": [50, 80]})
    mem = pd.DataFrame({"Name": ["Alpha_1"] * 3, "GaiaDR3": [4468651891799804416, 4468651891799804417,
                                                             4468651891799804418], "Prob": [0.9, 0.8, 0.95]})
    cat.to_parquet(tmp_path / "c.parquet")
    mem.to_parquet(tmp_path / "m.parquet")
    up = Table.from_pandas(cat.rename(columns=str.upper).assign(R50=cat["r50"] * 60))
    up["R50"].unit = "arcmin"
    up.write(tmp_path / "c.fits")
    Table.from_pandas(mem.rename(columns=str.upper)).write(tmp_path / "m.fits")
    native, upper = read_hr23(tmp_path / "c.parquet", "clusters"), read_hr23(tmp_path / "c.fits", "clusters")
    pd.testing.assert_frame_equal(native, upper, check_dtype=False)
    np.testing.assert_allclose(upper["r50_deg"], [0.1, 0.2])
    m = read_hr23(tmp_path / "m.fits", "members")
    assert m["source_id"].tolist() == mem["GaiaDR3"].tolist() and m["cluster"].tolist() == ["Alpha_1"] * 3
    mem.drop(columns="GaiaDR3").to_csv(tmp_path / "bad.csv", index=False)
    with pytest.raises(InputError, match=r"bad.csv: missing column\(s\) for reader 'hr23_members': source_id"):
        read_hr23(tmp_path / "bad.csv", "members")
