import subprocess
import sys

import pytest

from ocfeh.cli.entry import app

# the data flow: set-up, the stages in their order, then the run as a whole and the ready-made data
COMMANDS = ["show-versions", "bands", "demo", "synth", "simulate", "sample", "convert", "readers", "fetch",
            "train", "evaluate", "build-model", "predict", "clusters", "run", "config", "report", "dataset"]


def test_help_lists_the_commands_in_the_order_of_the_data_flow():
    assert [c.name for c in app.registered_commands + app.registered_groups] == COMMANDS


def _run(*args):
    return subprocess.run([sys.executable, "-m", "ocfeh.cli", *args], capture_output=True, text=True)


@pytest.mark.parametrize("cmd", COMMANDS)
def test_every_command_has_help(cmd):
    res = _run(cmd, "--help")
    assert res.returncode == 0
    assert "Usage" in res.stdout


def test_bad_argument_is_one_line_error_without_traceback():
    res = _run("bands", "sdss")
    assert res.returncode == 1
    assert "Traceback" not in res.stderr
    assert "Unknown band set 'sdss'" in res.stderr


def test_error_naming_a_config_section_prints_it(tmp_path):
    # a labelled table without Gaia or WISE: the default band cut names its [sample.cuts] key
    (tmp_path / "labels.csv").write_text("obsid,ra,dec,teff,teff_err,logg,logg_err,feh,feh_err,snrg\n"
                                         "1,10.0,20.0,5800,50,4.4,0.1,-0.2,0.05,80\n")
    cfg = tmp_path / "run.toml"
    cfg.write_text(f'[run]\ndataset = "files"\nout = "{tmp_path / "out"}"\n'
                   f'[sample.sources.labels]\npath = "{tmp_path / "labels.csv"}"\nreader = "lamost"\n')
    res = _run("run", str(cfg))
    assert res.returncode == 1 and "Traceback" not in res.stderr
    assert "[sample.cuts]" in " ".join(res.stderr.split())


def test_config_check_names_the_bad_value_once(tmp_path):
    cfg = tmp_path / "run.toml"
    cfg.write_text("[sample.split]\nfractions = [0.5, 0.3, 0.1]\n")
    res = _run("config", "--check", str(cfg))
    msg = " ".join(res.stderr.split())
    assert res.returncode == 1 and "split.fractions" in msg and "sum 0.9" in msg
    assert msg.count("got") == 1 and "Value error" not in msg


def test_convert_maps_native_columns_onto_the_schema(tmp_path):
    import pandas as pd
    import pyarrow.parquet as pq

    (tmp_path / "cw.csv").write_text("source_name,ra,dec,w1mpro,w1sigmpro,w2mpro,w2sigmpro\n"
                                     "J1,10.0,20.0,12.5,0.02,12.4,0.03\nJ2,10.1,20.1,99.0,0.02,13.0,0.05\n")
    res = _run("convert", str(tmp_path / "cw.csv"), "--reader", "catwise", "-o", str(tmp_path / "cw.parquet"))
    assert res.returncode == 0, res.stderr
    df = pd.read_parquet(tmp_path / "cw.parquet")
    assert df["mag_W1"].iloc[0] == 12.5 and pd.isna(df["mag_W1"].iloc[1])  # the 99 sentinel is NaN
    assert df["mag_err_W2"].tolist() == pytest.approx([0.03, 0.05], rel=1e-7)  # float32 precision
    assert b"catwise" in pq.read_schema(tmp_path / "cw.parquet").metadata[b"ocfeh"]
    bad = _run("convert", str(tmp_path / "cw.csv"), "--reader", "nope", "-o", str(tmp_path / "x.parquet"))
    assert bad.returncode == 1 and "nope" in bad.stderr and not (tmp_path / "x.parquet").exists()
    again = _run("convert", str(tmp_path / "cw.csv"), "--reader", "catwise", "-o", str(tmp_path / "cw.parquet"))
    assert again.returncode == 1 and "--overwrite" in again.stderr
    same = _run("convert", str(tmp_path / "cw.parquet"), "--reader", "catwise", "-o", str(tmp_path / "cw.parquet"),
                "--overwrite")
    assert same.returncode == 1 and "is the input" in same.stderr and (tmp_path / "cw.parquet").is_file()


def test_convert_takes_a_column_map_a_format_and_comment_lines(tmp_path):
    import pandas as pd

    # a VizieR-style export: '#' comment lines, a renamed column, a suffix that does not say CSV
    (tmp_path / "cw.dat").write_text("# CatWISE2020 extract\n# columns: see ReadMe\n"
                                     "source_name,ra,dec,W1mag,w1sigmpro,w2mpro,w2sigmpro\n"
                                     "J1,10.0,20.0,12.5,0.02,12.4,0.03\n")
    res = _run("convert", str(tmp_path / "cw.dat"), "-r", "catwise", "--format", "csv",
               "--column-map", "mag_W1=W1mag", "-o", str(tmp_path / "cw.parquet"))
    assert res.returncode == 0, res.stderr
    assert pd.read_parquet(tmp_path / "cw.parquet")["mag_W1"].tolist() == [12.5]
    bad = _run("convert", str(tmp_path / "cw.dat"), "-r", "catwise", "--format", "csv", "--column-map", "mag_W1",
               "-o", str(tmp_path / "x.parquet"))
    assert bad.returncode == 1 and "canonical=native" in bad.stderr


def test_report_of_a_directory_that_is_no_run_is_an_error(tmp_path):
    res = _run("report", str(tmp_path / "typo"))
    assert res.returncode == 1 and "not a run directory" in res.stderr and not (tmp_path / "typo").exists()


def test_help_prints_config_section_names():
    assert "[run]" in _run("train", "--help").stdout


@pytest.mark.parametrize(("toml", "expected"), [
    ('[features]\nvariants = ["foo"]\n', "[features] variants: Unknown band set 'foo'"),
    ("[features]\nbands = []\n", "[features]: bands needs at least two different bands"),
    ('[features]\nbands = ["G", "foo"]\n', "band sets: jplus, gaia, wise, gaia+wise, all"),
    ("[uncertainty]\nlevels = [0.68, 1.5]\n", "[uncertainty] levels: must be two coverages in (0, 1)"),
    ("[run]\nseed = -1\n", "[run] seed: Input should be greater than or equal to 0"),
    ('[predict]\nscheduler = "foo"\n', "[predict] scheduler: must be 'local', a Dask scheduler address"),
    ("[clusters]\nn_burn = 2000\nn_steps = 1000\n", "[clusters] n_burn: must be below n_steps = 1000"),
])
def test_config_check_rejects_what_used_to_fail_later(tmp_path, toml, expected):
    cfg = tmp_path / "run.toml"
    cfg.write_text(toml)
    res = _run("config", "--check", str(cfg))
    msg = " ".join(res.stderr.split())
    assert res.returncode == 1 and "Traceback" not in res.stderr and expected in msg, msg


def test_show_versions_lists_dask_and_distributed():
    from importlib import metadata

    res = _run("show-versions")
    cells = [ln.split("│") for ln in res.stdout.splitlines() if ln.count("│") == 3]
    rows = {c[1].strip(): c[2].strip() for c in cells}
    for name in ("dask", "distributed"):
        try:
            expected = metadata.version(name)
        except metadata.PackageNotFoundError:
            expected = "not installed"
        assert rows[name] == expected


def test_step_by_step_simulate_and_sample_are_the_run_stages(tmp_path):
    from ocfeh.pipeline.config import load_config
    from ocfeh.pipeline.runner import run
    from ocfeh.pipeline.stages import default_stages

    cfg = tmp_path / "c.toml"
    cfg.write_text('[run]\nprofile = "small"\nseed = 3\n[simulate]\nn_stars = 20000\nn_clusters = 2\n')
    out = tmp_path / "run"
    for cmd in (["simulate", "--config", str(cfg), "-o", str(out)], ["sample", str(cfg), "--out", str(out)]):
        res = _run(*cmd)
        assert res.returncode == 0, res.stderr[-2000:]
    assert (out / "sources" / "gaia_source.parquet").is_file() and (out / "catalog.parquet").is_file()
    loaded = load_config(cfg)
    res = run(loaded, out=out, stages=default_stages(loaded)[:2])  # what `ocfeh run` would do first
    assert res.skipped == ["simulate", "sample"]


def test_convert_adopts_distance_and_a0_as_the_sample_stage_does(shared_data, tmp_path):
    import numpy as np
    import pandas as pd

    out = tmp_path / "green.parquet"
    res = _run("convert", str(shared_data / "lamost_gaia_wise" / "green2020_half_a.csv"), "--reader", "green2020",
               "-o", str(out))
    assert res.returncode == 0, res.stderr
    assert "distance_pc from parallax" in res.stderr and "a0 from 3.1 ebv" in res.stderr
    df = pd.read_parquet(out)
    pos = df["parallax"] > 0
    np.testing.assert_allclose(df.loc[pos, "distance_pc"], 1000.0 / df.loc[pos, "parallax"])
    np.testing.assert_allclose(df["a0"], 3.1 * df["ebv"])  # predict then has what the model needs
