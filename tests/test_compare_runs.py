"""benchmarks/accuracy/compare_runs.py: two run directories are judged equal only when every number is."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "accuracy" / "compare_runs.py"


def _compare_module():
    sys.path.insert(0, str(SCRIPT.parents[1]))
    try:
        spec = importlib.util.spec_from_file_location("compare_runs", SCRIPT)
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
    finally:
        sys.path.remove(str(SCRIPT.parents[1]))
    return mod


def _run(path: Path, bump: bool = False, extra: bool = False) -> Path:
    def last_digit(x):  # the next float up: a change in the last digit
        return float(np.nextafter(x, np.inf)) if bump else x

    (path / "model").mkdir(parents=True)
    metrics = {"teff": {"mae": 70.1}, "feh": {"mae": last_digit(0.0661), "coverage": [0.68, np.nan]},
               "provenance": {"date": str(path)}}
    (path / "metrics.json").write_text(json.dumps(metrics))
    pd.DataFrame({"cluster": ["A", "B"], "feh_mcmc": [0.01, last_digit(-0.2)], "seconds": [1.0, float(extra)]}
                 ).to_csv(path / "clusters.csv", index=False)
    cat = pd.DataFrame({"source_id": [1, 2], "mag_G": [12.0, np.nan]})
    if extra:
        cat["phot_quality"] = [True, False]
    cat.to_parquet(path / "catalog.parquet")
    (path / "model" / "feh.txt").write_text("tree\n")
    return path


def test_equal_runs_are_identical_whatever_their_times_and_provenance(tmp_path):
    cr = _compare_module()
    res = cr.compare(_run(tmp_path / "a"), _run(tmp_path / "b", extra=True), {"catalog.parquet": {"phot_quality"}})
    assert res["identical"] and res["n_differences"] == 0
    assert res["checked"] == ["metrics.json", "clusters.csv", "catalog.parquet", "model/feh.txt"]
    assert res["columns_left_out"] == {"catalog.parquet": ["phot_quality"]}


def test_one_number_in_the_last_digit_or_a_new_column_is_a_difference(tmp_path):
    cr = _compare_module()
    a = _run(tmp_path / "a")
    res = cr.compare(a, _run(tmp_path / "b", bump=True, extra=True))
    assert not res["identical"]
    assert res["differences"] == ["metrics.json/feh/mae: 0.0661 != 0.06610000000000002",
                                  "clusters.csv: column feh_mcmc differs",
                                  "catalog.parquet: columns differ (['phot_quality'])"]
    (tmp_path / "b" / "model" / "feh.txt").write_text("tree \n")
    assert "model/feh.txt differs" in cr.compare(a, tmp_path / "b")["differences"]
