"""Property-based tests of reading and predicting user tables (issue 36): whatever the table holds (sentinels,
NaN, text columns, no rows or one, any column order), there is no traceback but a one-line InputError, every
row in is a row out, and every row without a prediction says why."""

from __future__ import annotations

import tempfile
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from ocfeh.exceptions import InputError, OcfehWarning
from ocfeh.predict import calibrate, load_predictor, predict_table
from ocfeh.testing import toy_predictor, toy_table
from ocfeh.train.uncertainty import UncertaintyConfig

SENTINELS = [np.nan, 99.0, -99.0, -9999.0, 99.99, 0.0, np.inf]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    s = toy_table(4000, seed=4)
    s["split"] = np.array(["train", "val", "test"])[np.arange(len(s)) % 3]
    pred = toy_predictor(s, n_estimators=30)
    calibrate(pred, s, UncertaintyConfig(min_bin_size=200), seed=1)
    d = tmp_path_factory.mktemp("model")
    pred.save(d)
    return d


POOL = toy_table(400, seed=9).drop(columns=["teff", "logg", "feh"])


@st.composite
def user_tables(draw):
    """A table as users have them: rows from a toy catalogue, damaged at random."""
    n = draw(st.sampled_from([0, 1, 2, 7, 40]))
    rows = draw(st.lists(st.integers(0, len(POOL) - 1), min_size=n, max_size=n))
    t = POOL.iloc[rows].reset_index(drop=True).copy()
    for col in [c for c in t if c.startswith(("mag_", "distance", "a0"))]:
        if n and draw(st.booleans()):
            hit = draw(st.lists(st.integers(0, n - 1), max_size=n))
            t.loc[hit, col] = draw(st.sampled_from(SENTINELS))
    if draw(st.booleans()):
        t["comment"] = draw(st.lists(st.text(alphabet="ab ,;\"'-", max_size=6), min_size=n, max_size=n))
    if draw(st.booleans()):
        t.insert(0, "star_name", [f"star {i}" for i in range(n)])
    order = draw(st.permutations(list(t.columns)))
    return t[list(order)]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(table=user_tables())
def test_predict_keeps_every_row_and_says_why(model_dir, table):
    model = load_predictor(model_dir)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", OcfehWarning)
        try:
            out = model.predict(table)
        except InputError as err:  # e.g. a column of sentinels whose median is no magnitude
            assert "\n" not in str(err)
            event("refused")
            return
    event("predicted")
    assert len(out) == len(table) and out.index.equals(table.index)
    unpredicted = out["teff"].isna() | out["feh"].isna()
    assert (out.loc[unpredicted, "reason"] != "").all()
    assert (out.loc[out["reason"] == "", ["teff", "logg", "feh"]].notna()).all().all()


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(table=user_tables(), fmt=st.sampled_from(["csv", "parquet", "fits"]))
def test_predict_table_reads_every_row_of_every_format(model_dir, table, fmt):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"stars.{fmt}"
        if fmt == "csv":
            table.to_csv(path, index=False)
        elif fmt == "parquet":
            table.to_parquet(path)
        else:
            from astropy.table import Table

            Table.from_pandas(table).write(path)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", OcfehWarning)
                res = predict_table(model_dir, path, Path(tmp) / "out.parquet", progress=False, shift="off",
                                    chunk_size=16)
        except InputError as err:
            event("refused")
            assert "\n" not in str(err)
            assert len(table) == 0 or not (Path(tmp) / "out.parquet").exists()
            assert not [p for p in Path(tmp).iterdir() if p.name.startswith(".") or p.suffix in (".parts", ".lock")]
            return
        event("predicted")
        out = pd.read_parquet(res.output)
        assert len(out) == res.n_rows == len(table)
        assert ((out["reason"] != "") == out["feh"].isna()).all()
        if "star_name" in table:
            assert out["star_name"].tolist() == table["star_name"].tolist()
        assert sorted(p.name for p in Path(tmp).iterdir()) == ["out.parquet", f"stars.{fmt}"]
