"""Toy tables and predictors for tests, doctests and benchmarks: seeded, fast, with known labels.

>>> from ocfeh.testing import toy_table
>>> len(toy_table(10, seed=0))
10
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from .predict import Predictor
from .train import FeatureConfig, TargetModel, make_features
from .train.features import feature_names

__all__ = ["TOY_BANDS", "toy_predictor", "toy_table"]


TOY_BANDS = ("J0395", "gSDSS", "rSDSS", "iSDSS", "G", "W1")


def toy_table(n: int, seed: int = 0, bands: Sequence[str] = TOY_BANDS) -> pd.DataFrame:
    """A seeded toy canonical table with known labels (tests, doctests and benchmarks only).

    Absolute magnitudes are smooth functions of (Teff, log g, [Fe/H]) with band-dependent
    metallicity sensitivity (bluer bands more); magnitude errors grow with apparent magnitude, so
    the difficulty varies from star to star. About 35% giants and 20% metal-poor stars. Not physics:
    a stand-in for the mock sky of :mod:`ocfeh.simulate`.

    Examples
    --------
    >>> t = toy_table(5, seed=1)
    >>> sorted(c for c in t.columns if c.startswith("mag_") and "err" not in c)[:2]
    ['mag_G', 'mag_J0395']
    """
    rng = np.random.default_rng(seed)
    giant = rng.random(n) < 0.35
    teff = np.where(giant, rng.uniform(4000, 5500, n), rng.uniform(4200, 7000, n))
    logg = np.where(giant, rng.uniform(1.0, 3.4, n), rng.uniform(3.8, 4.8, n))
    feh = np.where(rng.random(n) < 0.2, rng.uniform(-2.5, -1.0, n), rng.normal(-0.2, 0.3, n))
    distance = rng.uniform(100, 3000, n)
    a0 = rng.uniform(0, 0.5, n)
    x = 5040.0 / teff
    out = {"source_id": np.arange(n, dtype=np.int64) * 7 + 3}
    dm = 5 * np.log10(distance / 10)
    for i, b in enumerate(bands):
        k = (len(bands) - i) / len(bands)  # bluer = more sensitive
        M = 4.0 + 6.0 * k * (x - 1.0) * 2 + 2.2 * (logg - 4.4) + 0.5 * k**2 * feh * (1 + x) - 1.5 * (1 - k)
        m = M + dm
        err = 0.004 + 0.03 * np.exp((m - 16) / 2.0) * k
        out[f"mag_{b}"] = m + err * rng.standard_normal(n)
        out[f"mag_err_{b}"] = err
    out.update(distance_pc=distance, distance_lo_pc=distance * 0.95, distance_hi_pc=distance * 1.05,
               a0=a0, a0_err=np.full(n, 0.05), teff=teff, logg=logg, feh=feh)
    return pd.DataFrame(out)


def toy_predictor(sample: pd.DataFrame, n_estimators: int = 300, seed: int = 0,
                  bands: Sequence[str] = TOY_BANDS) -> Predictor:
    """LightGBM models (:class:`~ocfeh.train.TargetModel`) on the ``train`` rows of a toy table, on absolute
    magnitudes and colours taken as they are (``extinction = "none"``)."""
    feature_config = {"bands": list(bands), "extinction": "none"}
    names = feature_names(bands)
    train = sample[sample["split"] == "train"] if "split" in sample else sample
    X = make_features(train, FeatureConfig(**feature_config))
    models = {t: TargetModel(t, n_estimators=n_estimators, params={"learning_rate": 0.05, "num_leaves": 31},
                             feature_config=feature_config, seed=seed, n_jobs=2).fit(X, train[t])
              for t in ("teff", "logg", "feh")}
    return Predictor(models, {t: names for t in models}, feature_config)
