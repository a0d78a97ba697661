import subprocess
import sys

import pytest

COMMANDS = ["demo", "bands", "show-versions"]


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
