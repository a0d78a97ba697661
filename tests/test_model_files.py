"""Saved models of the layout before the redesign keep loading and predict the same numbers; saving
them again writes no pickle, and the re-saved directory predicts the same numbers too.

The fixtures under ``tests/data/`` were written by the old code (``tests/data/make_legacy_model.py``):
a model directory with ``uncertainty.pkl`` naming the old module paths, and a pickled Predictor.
"""

from __future__ import annotations

import os
import pickle
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ocfeh.exceptions import InputError
from ocfeh.predict import load_predictor, predict_frame

DATA = Path(__file__).resolve().parent / "data"
STARS = pd.read_csv(DATA / "legacy_stars.csv")
EXPECTED = pd.read_csv(DATA / "legacy_expected.csv")


def _assert_same(got: pd.DataFrame, fixture: str) -> None:
    want = EXPECTED[EXPECTED["fixture"] == fixture].drop(columns="fixture").reset_index(drop=True)
    got = got.reset_index(drop=True)
    # the columns of the gap model came later: a model without one predicts only complete stars ("full"); so did
    # flag_reason (the OOD flag in words; no photometric check in these models, so no phot_* columns)
    added = ["model", "missing", "teff_mae_expected", "logg_mae_expected", "feh_mae_expected", "beyond_training",
             "flag_reason"]
    assert [c for c in got.columns if c not in added] == list(want.columns)
    assert got["model"].tolist() == ["full" if r == "" else "" for r in got["reason"]]
    assert (got["missing"] == "").all() and got["feh_mae_expected"].isna().all()
    assert got["flag_reason"].ne("").tolist() == got["ood_flag"].tolist()
    got = got[list(want.columns)]
    for col in want.columns:
        if pd.api.types.is_float_dtype(got[col]) or pd.api.types.is_integer_dtype(got[col]):
            # %.17g round-trips float64 exactly: the same numbers to the last digit
            np.testing.assert_array_equal(got[col].to_numpy(float), want[col].to_numpy(float), err_msg=col)
        else:
            # an empty text field (a reason of none) reads back from CSV as NaN
            expected = ["" if pd.isna(v) else str(v) for v in want[col]]
            assert got[col].astype(str).tolist() == expected, col


@pytest.mark.parametrize("fixture, directory", [("model", "legacy_model"), ("predictor", "legacy_predictor")])
def test_a_saved_model_of_the_old_layout_predicts_what_it_predicted(fixture, directory, tmp_path):
    model_dir = tmp_path / directory
    shutil.copytree(DATA / directory, model_dir)
    _assert_same(predict_frame(load_predictor(model_dir), STARS), fixture)


def test_saving_again_writes_no_pickle_and_predicts_the_same(tmp_path):
    out = load_predictor(DATA / "legacy_model").save(tmp_path / "resaved")
    assert not list(out.rglob("*.pkl"))
    assert (out / "calibration.json").is_file() and (out / "ood.npz").is_file()
    _assert_same(predict_frame(load_predictor(out), STARS), "model")


def test_a_predictor_of_plain_regressors_loads_but_is_not_saved_as_a_pickle_again(tmp_path):
    pred = load_predictor(DATA / "legacy_predictor")
    with pytest.raises(InputError, match="TargetModel models only; the teff, logg, feh model"):
        pred.save(tmp_path / "resaved")
    assert not (tmp_path / "resaved").exists()


class _Calls:
    """Unpickling calls ``func(*args)``."""

    def __init__(self, func, *args):
        self.func, self.args = func, args

    def __reduce__(self):
        return self.func, self.args


@pytest.mark.parametrize("func, args, name", [
    (os.system, ("true",), "system"),
    (eval, ("1 + 1",), "builtins.eval"),
    (exec, ("x = 1",), "builtins.exec"),
    (getattr, (1, "real"), "builtins.getattr"),
])
def test_a_pickle_that_calls_anything_but_model_classes_is_refused_with_the_file_named(tmp_path, func, args, name):
    model_dir = tmp_path / "m"
    shutil.copytree(DATA / "legacy_model", model_dir)
    with open(model_dir / "uncertainty.pkl", "wb") as fh:
        pickle.dump({"teff": _Calls(func, *args)}, fh)
    with pytest.raises(InputError, match=rf"uncertainty.pkl: not a readable saved model .*{name} is not part"):
        load_predictor(model_dir)
