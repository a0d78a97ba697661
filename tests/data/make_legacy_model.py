"""Write the saved-model fixture of the package layout before the redesign (issue 28).

``tests/data/legacy_model/`` is a model directory as the train stage wrote it up to commit bcc2d16
(LightGBM text models, a network ``.npz``, JSON cards, ``uncertainty.pkl`` naming the classes of
``ocfeh.uncertainty`` and ``ocfeh.ood``); ``tests/data/legacy_predictor/`` is a pickled
``ocfeh.predict.Predictor`` (``Predictor.save``, feature builder ``"ocfeh.predict:plain_features"``).
``legacy_expected.csv`` holds what that code predicted for 40 toy stars, ``legacy_stars.csv`` the stars.
The test that loads them is ``tests/test_model_files.py``.

This script imports the old module paths, so it runs only against the old code::

    git worktree add /tmp/old bcc2d16
    PYTHONPATH=/tmp/old/src python tests/data/make_legacy_model.py
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd

from ocfeh.features import FeatureConfig, make_features
from ocfeh.model import TargetModel
from ocfeh.predict import _toy_predictor, _toy_table, calibrate, calibrate_model_dir, load_predictor, predict_frame
from ocfeh.uncertainty import UncertaintyConfig

HERE = Path(__file__).resolve().parent
BANDS = ["J0395", "gSDSS", "rSDSS", "iSDSS", "G", "W1"]


def main() -> None:
    stars = _toy_table(1200, seed=3, bands=BANDS)
    stars["split"] = np.random.default_rng(4).choice(["train", "val", "test"], len(stars), p=[0.6, 0.3, 0.1])
    test = stars[stars["split"] == "test"].head(40).reset_index(drop=True)
    fc = FeatureConfig(bands=BANDS, extinction="pivot").model_dump(mode="json")
    train = stars[stars["split"] == "train"]
    X = make_features(train, FeatureConfig(**fc))
    unc = UncertaintyConfig(min_bin_size=20, ood_k=5)

    model_dir = HERE / "legacy_model"
    shutil.rmtree(model_dir, ignore_errors=True)
    for target in ("teff", "logg", "feh"):
        net = {"weight": 0.5, "layers": [8], "alpha": 1e-4} if target == "feh" else None
        TargetModel(target, n_estimators=15, params={"learning_rate": 0.3, "num_leaves": 7},
                    feature_config=fc, seed=1, network=net).fit(X, train[target]).save(model_dir)
    calibrate_model_dir(model_dir, stars, unc, seed=5)

    pred_dir = HERE / "legacy_predictor"
    shutil.rmtree(pred_dir, ignore_errors=True)
    toy = calibrate(_toy_predictor(stars, n_estimators=15, bands=BANDS), stars, unc, seed=6)
    toy.save(pred_dir)

    test.to_csv(HERE / "legacy_stars.csv", index=False, float_format="%.17g")
    out = []
    for name, directory in (("model", model_dir), ("predictor", pred_dir)):
        res = predict_frame(load_predictor(directory), test)
        res.insert(0, "fixture", name)
        out.append(res)
    pd.concat(out).to_csv(HERE / "legacy_expected.csv", index=False, float_format="%.17g")


if __name__ == "__main__":
    main()
