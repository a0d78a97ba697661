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
