import shutil

import pytest

from ocfeh import datafiles
from ocfeh.datafiles import DATA_FILES, DataFile, data_path
from ocfeh.exceptions import DataFileError


def test_every_registered_file_is_installed_and_verified():
    from importlib import metadata

    for key, entry in DATA_FILES.items():
        if entry.distribution == "gyrointerp":  # optional in the Makefile (an sdist to build)
            try:
                metadata.version("gyrointerp")
            except metadata.PackageNotFoundError:
                continue
        assert data_path(key).is_file()


def test_altered_file_names_distribution_file_and_checksum(tmp_path, monkeypatch):
    src = data_path("filter:J0660")
    bad = tmp_path / "site" / "milespy" / "config_files" / "filters" / src.name
    bad.parent.mkdir(parents=True)
    shutil.copy(src, bad)
    with open(bad, "a") as fh:
        fh.write("9999 0.5\n")
    entry = DATA_FILES["filter:J0660"]
    monkeypatch.setattr(datafiles, "_locate", lambda e: bad)
    with pytest.raises(DataFileError) as err:
        data_path("filter:J0660")
    msg = str(err.value)
    assert "milespy==1.0" in msg and entry.path in msg and entry.sha256 in msg


def test_missing_distribution_is_a_clear_error(monkeypatch):
    fake = DataFile("x", "no-such-dist", "1.0", "a/b.dat", "0" * 64, "")
    monkeypatch.setitem(DATA_FILES, "x", fake)
    with pytest.raises(DataFileError, match="no-such-dist==1.0.*not installed"):
        data_path("x")
    with pytest.raises(FileNotFoundError):  # also the builtin
        data_path("x")
