"""Prediction at any size: features, three targets, calibrated intervals and an OOD flag, in chunks.

:class:`Predictor` bundles the per-target estimators with the conformal calibration
(:mod:`ocfeh.uncertainty`) and the novelty score (:mod:`ocfeh.ood`). :func:`predict_frame` predicts
an in-memory canonical table; :func:`predict_table` streams any number of Parquet / CSV / FITS files
(or partitioned Parquet / HATS directories) through it chunk by chunk, writing one Parquet part per
chunk plus a manifest, so memory is bounded by the chunk size and an interrupted run resumes where it
stopped. ``scheduler=`` runs the same chunks as Dask tasks (a local cluster or a remote scheduler).

Output columns: the id columns of the input (``source_id``, ``ra``, ``dec`` when present), then for
each target ``t``: ``t``, ``t_lo68``, ``t_hi68``, ``t_lo95``, ``t_hi95``, ``t_err`` (68% half-width),
then ``ood_score``, ``ood_flag``, ``mondrian_bin`` and ``reason`` (empty when predicted, else why not,
e.g. ``"missing mag_J0660"``). Rows keep the input order.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import json
import logging
import os
import pickle
import re
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, field_validator

from .exceptions import InputError, NotFittedError
from .provenance import atomic_path, model_provenance, provenance, stable_hash, write_json
from .uncertainty import (
    LEVELS,
    ConformalIntervals,
    MondrianBins,
    UncertaintyConfig,
    coverage_metrics,
    coverage_table,
    interval_columns,
    mc_spread,
)

__all__ = [
    "PredictConfig",
    "PredictResult",
    "Predictor",
    "calibrate",
    "calibrate_model_dir",
    "evaluate_coverage",
    "from_model_dir",
    "load_predictor",
    "predict_frame",
    "predict_table",
    "save_calibration",
]

log = logging.getLogger(__name__)

ID_COLUMNS = ("source_id", "jplus_tile_id", "jplus_number", "ra", "dec")
PREDICTOR_FILE = "predictor.pkl"
UNCERTAINTY_FILE = "uncertainty.pkl"
MANIFEST = "_manifest.json"
A0_MIN = -0.05
"""Smallest usable extinction A_0 [mag]: rows below it (unphysical) are not predicted, like NaN a0."""
SCHEDULER_TIMEOUT_S = 5
"""Seconds to wait for a Dask scheduler to answer before giving up."""


class PredictConfig(BaseModel):
    """The ``[predict]`` section."""

    model_config = ConfigDict(extra="forbid")

    chunk_size: int = Field(200_000, ge=1, description="Stars per chunk (bounds memory: ~1 kB per star).")
    n_draws: int = Field(0, ge=0, description="Monte Carlo draws per star (0 = conformal intervals only).")
    scheduler: str | None = Field(
        None, description="Dask scheduler address (scheme://host:port, e.g. tcp://host:8786, or host:port), 'local', "
        "or none (in-process).")
    n_threads: int = Field(2, ge=1, description="Tree threads per prediction chunk; a local Dask cluster runs "
                           "cores // n_threads chunks at once.")
    float32: bool = Field(True, description="Compute features in float32 (half the memory, same trees).")

    @field_validator("scheduler")
    @classmethod
    def _check_scheduler(cls, v):
        # Dask takes tcp://, tls://, ucx://, inproc://, ws(s):// and host:port (= tcp); a bare word is a typo
        if v is None or v == "local" or re.fullmatch(r"[A-Za-z][\w+.-]*://\S+|[^\s:/]+:\d+", v):
            return v
        raise ValueError(f"must be 'local', a Dask scheduler address such as tcp://host:8786 (tls://, "
                         f"ucx://, inproc://; host:port means tcp://host:port) or unset for in-process; got {v!r}")


# ------------------------------------------------------------------------------------ features
def plain_features(table: pd.DataFrame, names: Sequence[str], dtype=np.float32, **_: Any) -> pd.DataFrame:
    """Absolute magnitudes ``M_<band>`` and colours ``<a>-<b>`` *without* extinction correction.

    A minimal builder for tests and benchmarks when no band coefficients are at hand:
    ``M = m - 5 log10(d / 10 pc)`` and ``<a>-<b> = m_a - m_b``. The pipeline uses
    :mod:`ocfeh.features` (which also removes extinction).
    """
    out = {}
    dm = None
    for name in names:
        if name.startswith("M_"):
            if dm is None:
                dm = 5.0 * np.log10(table["distance_pc"].to_numpy(dtype=np.float64) / 10.0)
            out[name] = (table[f"mag_{name[2:]}"].to_numpy(dtype=np.float64) - dm).astype(dtype)
        elif "-" in name:
            a, b = name.split("-", 1)
            out[name] = (table[f"mag_{a}"].to_numpy(dtype=np.float64)
                         - table[f"mag_{b}"].to_numpy(dtype=np.float64)).astype(dtype)
        else:
            raise InputError(f"plain_features cannot build feature {name!r} (expected M_<band> or <a>-<b>)")
    return pd.DataFrame(out, index=table.index)


def ocfeh_features(table: pd.DataFrame, names: Sequence[str], dtype=np.float32, **config: Any) -> pd.DataFrame:
    """The pipeline's features (:func:`ocfeh.features.make_features`, de-reddened), only ``names``.

    ``config`` holds :class:`ocfeh.features.FeatureConfig` fields (extinction mode, R_V ...) as at
    training; the bands are those ``names`` need.
    """
    from .features import FeatureConfig, bands_of_features, make_features

    names = list(names)
    cfg = {k: v for k, v in config.items() if v is not None}
    order = list(FeatureConfig(**cfg).resolved_bands())  # colour a-b keeps the training band order
    bands = sorted(bands_of_features(names), key=lambda b: order.index(b) if b in order else len(order))
    cfg.update(bands=bands, absolute_magnitudes=any(n.startswith("M_") for n in names))
    feats = make_features(table, FeatureConfig(**cfg))
    return feats[names].astype(dtype)


def _resolve(spec: str) -> Callable:
    module, name = spec.split(":")
    return getattr(importlib.import_module(module), name)


# ---------------------------------------------------------------------------- fast prediction
def _predict_fast(model: Any, X: np.ndarray, n_threads: int) -> np.ndarray:
    """Plain back-end prediction on a C-contiguous array (no pandas conversion, capped threads); an
    ocfeh TargetModel's network, if any, averaged in."""
    if hasattr(model, "blend") and hasattr(model, "booster_"):
        return model.blend(_predict_fast(model.booster_, X, n_threads), X)
    booster = getattr(model, "booster_", None)
    if booster is None and type(model).__name__ == "Booster":
        booster = model
    if booster is not None and hasattr(booster, "num_trees"):  # LightGBM (ocfeh TargetModel, sklearn, Booster)
        it = booster.best_iteration if getattr(booster, "best_iteration", 0) > 0 else None
        return booster.predict(X, num_iteration=it, num_threads=n_threads)
    if booster is not None and type(booster).__module__.startswith("catboost"):
        model = booster
    if type(model).__module__.startswith("catboost"):
        return model.predict(X, thread_count=n_threads)
    return model.predict(X)


# ---------------------------------------------------------------------------------- predictor
@dataclass
class Predictor:
    """Everything needed to predict a chunk: estimators, features, calibration and OOD score.

    Parameters
    ----------
    models : dict of target -> estimator
        Anything with ``predict(X)`` (LightGBM / CatBoost / scikit-learn regressors).
    features : dict of target -> list of str
        Feature names each estimator takes, in order.
    feature_builder : str, default="ocfeh.predict:plain_features"
        ``"module:function"`` with signature ``f(table, names, dtype, **feature_config) -> DataFrame``;
        the pipeline uses ``"ocfeh.predict:ocfeh_features"``.
    feature_config : dict
        Keyword arguments of the builder (e.g. the extinction mode used at training).
    conformal : dict of target -> ConformalIntervals, optional
    bins : MondrianBins, optional
    ood : KNNNoveltyScore, optional
    n_threads : int, default=2
    float32 : bool, default=True
    """

    models: dict[str, Any]
    features: dict[str, list[str]]
    feature_builder: str = "ocfeh.predict:plain_features"
    feature_config: dict[str, Any] = field(default_factory=dict)
    conformal: dict[str, ConformalIntervals] | None = None
    bins: MondrianBins | None = None
    ood: Any = None
    n_threads: int = 2
    float32: bool = True
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def targets(self) -> list[str]:
        return list(self.models)

    @property
    def all_features(self) -> list[str]:
        names: list[str] = []
        for t in self.targets:
            names += [f for f in self.features[t] if f not in names]
        if self.ood is not None:
            names += [f for f in self.ood.feature_names_in_ if f not in names]
        if self.conformal:
            for c in self.conformal.values():
                names += [f for f in c.difficulty_.feature_name_ if f not in names]
        return names

    @property
    def bands(self) -> list[str]:
        """Bands the features need (magnitudes ``M_x``, colours ``x-y``, curvatures ``x~y~z``)."""
        from .features import bands_of_features

        return bands_of_features(self.all_features)

    @property
    def required_columns(self) -> list[str]:
        """Input columns every predicted star needs (magnitudes of the used bands, distance, extinction)."""
        from .features import A0_FEATURE

        cols = [f"mag_{b}" for b in self.bands]
        if any(f.startswith("M_") for f in self.all_features):
            cols.append("distance_pc")
        if (self.feature_builder != "ocfeh.predict:plain_features" and self.feature_config.get("extinction") != "none"
                or A0_FEATURE in self.all_features):
            cols.append("a0")
        return cols

    def build_features(self, table: pd.DataFrame, names: Sequence[str] | None = None) -> pd.DataFrame:
        """Features of ``table`` (only those the models use)."""
        dtype = np.float32 if self.float32 else np.float64
        return _resolve(self.feature_builder)(table, list(names or self.all_features), dtype=dtype,
                                              **self.feature_config)

    def point(self, table: pd.DataFrame, feats: pd.DataFrame | None = None) -> dict[str, np.ndarray]:
        """Point predictions ``{target: (n,)}`` of complete rows."""
        if feats is None:
            feats = self.build_features(table)
        out = {}
        for t in self.targets:
            X = np.ascontiguousarray(feats[self.features[t]].to_numpy())
            out[t] = np.asarray(_predict_fast(self.models[t], X, self.n_threads), dtype=np.float64)
        return out

    def predict(self, table: pd.DataFrame, n_draws: int = 0, seed: int = 0) -> pd.DataFrame:
        """Values, 68%/95% intervals, ``ood_score``/``ood_flag`` and ``reason`` for each row of ``table``.

        ``table`` is a pandas DataFrame (or an astropy Table) of canonical columns (``mag_<band>``,
        ``distance_pc``, ``a0``); anything else raises TypeError, and a column the model needs that is
        absent raises InputError (see :func:`predict_frame`). Rows that cannot be predicted (NaN
        values, a distance <= 0, an ``a0`` below -0.05 mag) are kept, with a ``reason``.

        Examples
        --------
        >>> from ocfeh.predict import _toy_predictor, _toy_table, calibrate
        >>> import numpy as np
        >>> stars = _toy_table(4000, seed=1)        # a toy canonical table (magnitudes, labels)
        >>> stars["split"] = np.random.default_rng(0).choice(["train", "val", "test"], len(stars), p=[.6, .3, .1])
        >>> model = calibrate(_toy_predictor(stars, n_estimators=50), stars)
        >>> out = model.predict(stars[stars["split"] == "test"].head(3))
        >>> list(out.columns[:6])
        ['source_id', 'teff', 'teff_lo68', 'teff_hi68', 'teff_lo95', 'teff_hi95']
        >>> bool(((out["feh_lo68"] < out["feh"]) & (out["feh"] < out["feh_hi68"])).all())
        True
        """
        return predict_frame(self, table, n_draws=n_draws, seed=seed)

    # ------------------------------------------------------------------ persistence
    def save(self, model_dir: str | Path) -> Path:
        """Pickle the predictor into ``model_dir/predictor.pkl`` (+ a JSON card)."""
        model_dir = Path(model_dir)
        model_dir.mkdir(parents=True, exist_ok=True)
        with atomic_path(model_dir / PREDICTOR_FILE) as tmp, open(tmp, "wb") as fh:
            pickle.dump(self, fh, protocol=pickle.HIGHEST_PROTOCOL)
        write_json(model_dir / "predictor.json", self.card())
        return model_dir / PREDICTOR_FILE

    def card(self) -> dict[str, Any]:
        """A JSON-able summary: targets, features, bands, calibration per bin."""
        card: dict[str, Any] = {
            "targets": self.targets,
            "features": self.features,
            "bands": self.bands,
            "feature_builder": self.feature_builder,
            "levels": list(LEVELS),
        }
        if self.conformal:
            card["conformal"] = {
                t: {"n_calibration": c.n_calibration_, "n_bin": c.n_bin_,
                    "quantiles": {m: {b: {str(k): v for k, v in q.items()} for b, q in tab.items()}
                                  for m, tab in c.quantiles_.items()}}
                for t, c in self.conformal.items()
            }
        if self.ood is not None:
            card["ood"] = {"features": self.ood.feature_names_in_, "k": self.ood.k,
                           "quantile": self.ood.quantile, "threshold": self.ood.threshold_}
        card["provenance"] = provenance(self.meta.get("config"), self.meta.get("seed"))
        return card


def from_model_dir(model_dir: str | Path) -> Predictor:
    """A predictor from the model cards of :mod:`ocfeh.model` (``<target>.json`` + model files)."""
    from .model import StellarParameterModel

    spm = StellarParameterModel.load(model_dir)
    configs = [m.feature_config or {} for m in spm.models.values()]
    if any(c != configs[0] for c in configs):
        raise InputError(f"{model_dir}: the targets were trained with different feature configs {configs}")
    return Predictor(
        models=dict(spm.models),
        features={t: list(m.feature_names_in_) for t, m in spm.models.items()},
        feature_builder="ocfeh.predict:ocfeh_features",
        feature_config=dict(configs[0]),
        n_threads=min(2, os.cpu_count() or 1),
    )


def _cards_stamp(model_dir: Path) -> float:
    return sum(p.stat().st_mtime for p in sorted(model_dir.glob("*.json")) if p.stem in ("teff", "logg", "feh"))


@functools.lru_cache(maxsize=4)
def _load_cached(model_dir: str, stamp: float) -> Predictor:
    path = Path(model_dir) / PREDICTOR_FILE
    if path.is_file():
        with open(path, "rb") as fh:
            pred = pickle.load(fh)
        if not isinstance(pred, Predictor):
            raise InputError(f"{path} does not hold an ocfeh Predictor")
    else:
        pred = from_model_dir(model_dir)
    unc = Path(model_dir) / UNCERTAINTY_FILE
    if unc.is_file():
        with open(unc, "rb") as fh:
            extra = pickle.load(fh)
        pred.conformal, pred.bins, pred.ood = extra["conformal"], extra["bins"], extra["ood"]
    return pred


def load_predictor(model_dir: str | Path) -> Predictor:
    """Load the predictor of a model directory (cached per process; reloads when the files change)."""
    model_dir = Path(model_dir)
    path = model_dir / PREDICTOR_FILE
    if path.is_file():
        stamp = path.stat().st_mtime
    elif _cards_stamp(model_dir):
        stamp = _cards_stamp(model_dir)
    else:
        raise InputError(
            f"no trained model in {model_dir} (looked for teff/logg/feh.json model cards or {PREDICTOR_FILE}); "
            "train one first (`ocfeh train`) or pass the run's model directory"
        )
    unc = model_dir / UNCERTAINTY_FILE
    if unc.is_file():
        stamp += unc.stat().st_mtime
    return _load_cached(str(model_dir.resolve()), stamp)


# ---------------------------------------------------------------------------- one table
def _as_frame(table: Any, expected: str = "canonical columns (mag_<band>, distance_pc, a0)") -> pd.DataFrame:
    """``table`` as a DataFrame (an astropy Table is converted); anything else is a TypeError."""
    if isinstance(table, pd.DataFrame):
        return table
    if type(table).__module__.startswith("astropy.table") and hasattr(table, "to_pandas"):
        return table.to_pandas()
    hint = (" (one star: series.to_frame().T)" if isinstance(table, pd.Series)
            else " (pd.DataFrame(array, columns=[...]) names its columns)" if isinstance(table, np.ndarray)
            else " (pd.DataFrame(data) makes one)" if isinstance(table, (dict, list, tuple)) else "")
    raise TypeError(f"expected a pandas DataFrame with {expected}; got {type(table).__name__}{hint}")


def _native_names(columns: Sequence[str], absent: Sequence[str]) -> list[str]:
    """Columns that a survey reader maps onto one of ``absent``, as ``"<native> (<canonical>, reader <r>)"``."""
    from .catalogs import readers

    lower = {c.lower(): c for c in columns}
    found: dict[str, str] = {}
    for name in readers:
        for col in readers.get(name).columns:
            if col.canonical not in absent:
                continue
            hit = next((lower[n.lower()] for n in col.native if n.lower() in lower), None)
            if hit is not None and hit not in found:
                found[hit] = f"{hit} ({col.canonical}, reader {name})"
    return list(found.values())


def _check_columns(columns: Sequence[str], pred: Predictor, source: str) -> None:
    """Raise :class:`InputError` naming the columns the model needs that ``columns`` lacks.

    Only absent columns fail: NaN values in a present column are fine (those rows get a ``reason``).
    Errors (``mag_err_<band>``, ``a0_err``, ...) and ``mag_BP``/``mag_RP`` of the extinction look-up
    stay optional. The hints name other-case spellings and a survey's native names.
    """
    have = [str(c) for c in columns]
    absent = [c for c in pred.required_columns if c not in have]
    if not absent:
        return
    lower = {c.lower(): c for c in have}
    case = {c: lower[c.lower()] for c in absent if c.lower() in lower}
    native = _native_names(have, [c for c in absent if c not in case])
    mags = [c for c in pred.required_columns if c.startswith("mag_")]
    why = {"distance_pc": "distance_pc [pc] for the absolute magnitudes M_<band>",
           "a0": "a0 [mag] to de-redden (0 for de-reddened photometry)"}
    msg = (f"{source}: the model needs {len(absent)} column(s) absent from it: "
           + ", ".join(why.get(c, c) for c in absent) + ".")
    if case:
        msg += " Column names are case-sensitive: rename " + ", ".join(f"{v} to {k}" for k, v in case.items()) + "."
    convert = (" Predict from canonical tables (mag_<band>, mag_err_<band>, distance_pc, a0): convert a survey's "
               "file with `ocfeh convert FILE --reader NAME -o stars.parquet` (`ocfeh readers` lists the readers).")
    if native:
        msg += f" It has a survey's native columns: {', '.join(native[:4])}{', ...' if len(native) > 4 else ''}."
        msg += convert
    elif not any(m in have for m in mags):
        msg += f" It has {', '.join(have[:8])}{', ...' if len(have) > 8 else ''}, no canonical magnitudes." + convert
    elif any(c.startswith("mag_") and c not in case for c in absent):
        msg += " Tables without these bands need a model trained without them ([features] bands)."
    raise InputError(msg)


def _reasons(table: pd.DataFrame, required: Sequence[str]) -> np.ndarray:
    """Empty string for rows that can be predicted, else ``"missing <col>,<col>"``: NaN, a distance <= 0,
    an ``a0`` below ``A0_MIN`` (unphysical) or a magnitude beyond +-50 (a sentinel such as 99 or -9999
    that a table kept)."""
    n = len(table)
    reason = np.full(n, "", dtype=object)
    absent = [c for c in required if c not in table]
    if absent:
        reason[:] = "missing column " + ",".join(absent)
        return reason
    miss = np.full(n, "", dtype=object)
    for c in required:
        v = table[c].to_numpy(dtype=np.float64)
        bad = ~np.isfinite(v)
        if c == "distance_pc":
            bad |= ~(v > 0)
        elif c == "a0":
            bad |= v < A0_MIN  # an unphysical extinction, like NaN: no valid a0
        elif c.startswith("mag_"):
            bad |= ~(np.abs(v) < 50.0)
        if bad.any():
            miss[bad] = miss[bad] + np.where(miss[bad] == "", "", ",") + c
    has = miss != ""
    reason[has] = "missing " + miss[has]
    return reason


def predict_frame(
    predictor: Predictor | str | Path,
    table: pd.DataFrame,
    n_draws: int = 0,
    seed: int | Sequence[int] = 0,
    id_columns: Sequence[str] = ID_COLUMNS,
) -> pd.DataFrame:
    """Predict an in-memory canonical table: values, intervals, OOD score and the reason of rejects.

    Parameters
    ----------
    predictor : Predictor or path of a model directory
    table : DataFrame
        Canonical columns (``mag_<band>``, ``distance_pc``, ``a0``; errors for Monte Carlo); an
        astropy Table is converted. NaN values are allowed (such rows get a ``reason``).
    n_draws : int, default=0
        Monte Carlo draws per star; > 0 widens intervals of stars with large input errors
        (calibrated, see :mod:`ocfeh.uncertainty`).
    seed : int or sequence of int, default=0
        Seed of the Monte Carlo draws.
    id_columns : sequence of str
        Input columns copied to the output when present.

    Returns
    -------
    DataFrame
        One row per input row, same order and index.

    Raises
    ------
    TypeError
        ``table`` is not a DataFrame (a dict, a list of rows, an array or a single-row Series).
    InputError
        A column the model needs (``Predictor.required_columns``) is absent from ``table``.
    """
    table = _as_frame(table)
    pred = predictor if isinstance(predictor, Predictor) else load_predictor(predictor)
    _check_columns(table.columns, pred, f"the table ({len(table)} rows)")
    n = len(table)
    out: dict[str, Any] = {c: table[c].to_numpy() for c in id_columns if c in table}
    reason = _reasons(table, pred.required_columns)
    ok = reason == ""
    sub = table.loc[ok] if not ok.all() else table
    feats = pred.build_features(sub) if len(sub) else None
    values = pred.point(sub, feats) if len(sub) else {t: np.empty(0) for t in pred.targets}
    finite = np.ones(len(sub), dtype=bool)
    for v in values.values():
        finite &= np.isfinite(v)
    if not finite.all():  # features the builder could not make (e.g. an unusable extinction)
        idx = np.flatnonzero(ok)[~finite]
        reason[idx] = "non-finite features"
    sigma_mc = None
    if n_draws and len(sub):
        rng = np.random.default_rng(seed)
        sigma_mc = mc_spread(sub, pred.point, n_draws, rng)
    bins = pred.bins.assign(values) if pred.bins is not None and len(sub) else None
    float_dtype = np.float64  # outputs keep the back-end's full precision (features may be float32)

    def full(a: np.ndarray, dtype=float_dtype) -> np.ndarray:
        arr = np.full(n, np.nan, dtype=dtype)
        arr[ok] = a
        arr[~(reason == "")] = np.nan
        return arr

    for t in pred.targets:
        if pred.conformal and t in pred.conformal and len(sub):
            half = pred.conformal[t].half_widths(
                feats[pred.conformal[t].difficulty_.feature_name_], bins,
                None if sigma_mc is None else sigma_mc[t])
        else:
            half = {lv: np.full(len(sub), np.nan) for lv in LEVELS}
        for name, col in interval_columns(t, values[t], half, dtype=np.float64).items():
            out[name] = full(col)
        if sigma_mc is not None:
            out[f"{t}_err_mc"] = full(sigma_mc[t])
    if pred.ood is not None and len(sub):
        score = full(pred.ood.score(feats[pred.ood.feature_names_in_]))
    else:
        score = np.full(n, np.nan, dtype=float_dtype)
    out["ood_score"] = score
    out["ood_flag"] = np.nan_to_num(score, nan=0.0) > 1.0
    mb = np.full(n, "", dtype=object)
    if bins is not None:
        mb[ok] = bins
        mb[reason != ""] = ""
    out["mondrian_bin"] = mb
    out["reason"] = reason
    return pd.DataFrame(out, index=table.index)


# ------------------------------------------------------------------------- calibration
def _label_mask(frame: pd.DataFrame, targets: Sequence[str]) -> np.ndarray:
    ok = np.ones(len(frame), dtype=bool)
    for t in targets:
        ok &= np.isfinite(frame[t].to_numpy(dtype=np.float64))
    return ok


def calibrate(
    predictor: Predictor,
    sample: pd.DataFrame,
    config: UncertaintyConfig | None = None,
    seed: int = 0,
) -> Predictor:
    """Fit the conformal intervals on ``split == "val"`` and the OOD score on ``split == "train"``.

    The blind test (``split == "test"``) is never touched. Returns ``predictor`` with ``conformal``,
    ``bins`` and ``ood`` set.

    Parameters
    ----------
    predictor : Predictor
        Trained estimators.
    sample : DataFrame
        Canonical sample with labels ``teff``, ``logg``, ``feh`` and a ``split`` column.
    config : UncertaintyConfig, optional
    seed : int, default=0
    """
    from .ood import KNNNoveltyScore

    cfg = config or UncertaintyConfig()
    if "split" not in sample:
        raise InputError(f"calibration needs a 'split' column; the sample has {list(sample.columns)[:12]}...")
    targets = predictor.targets
    missing = [t for t in targets if t not in sample]
    if missing:
        raise InputError(f"calibration needs label columns {missing}")
    required = predictor.required_columns
    usable = (_reasons(sample, required) == "") & _label_mask(sample, targets)
    val = sample[(sample["split"] == "val").to_numpy() & usable]
    train = sample[(sample["split"] == "train").to_numpy() & usable]
    if len(val) < 100:
        in_val = (sample["split"] == "val").to_numpy()
        why = pd.Series(_reasons(sample[in_val], required)).value_counts()
        why = why[why.index != ""]
        detail = "; ".join(f"{n} {r}" for r, n in why.head(3).items())
        hint = (' (de-reddened magnitudes without a0: [sample] extinction_source = "zero")'
                if any("a0" in r for r in why.index) else "")
        raise InputError(f"calibration needs >= 100 usable validation stars; got {len(val)} of {int(in_val.sum())}"
                         + (f": {detail}{hint}" if detail else "; the sample is too small for the run's profile"))
    bins = MondrianBins.default(cfg.giant_logg, cfg.metal_poor_feh)
    bins = MondrianBins(tuple(c for c in bins.cuts if c[0] in targets)) if bins.cuts else None
    bins = bins if bins is not None and bins.cuts else None
    # difficulty models see the model features (not the OOD ones), in float64 for stability
    base = Predictor(predictor.models, predictor.features, predictor.feature_builder, predictor.feature_config,
                     n_threads=predictor.n_threads, float32=predictor.float32)
    feats = base.build_features(val)
    values = base.point(val, feats)
    b = bins.assign(values) if bins is not None else None
    sigma_mc = None
    if cfg.n_draws:
        sigma_mc = mc_spread(val, base.point, cfg.n_draws, np.random.default_rng([seed, 1]))
    conformal = {}
    for i, t in enumerate(targets):
        c = ConformalIntervals(cfg.levels, cfg.difficulty_fraction, cfg.min_bin_size, seed=seed + i)
        conformal[t] = c.fit(feats[base.features[t]], val[t].to_numpy(), values[t], b,
                             None if sigma_mc is None else sigma_mc[t])
    ood_feats = [f for f in base.all_features if f.startswith("M_")] or base.all_features
    ood = KNNNoveltyScore(k=cfg.ood_k, quantile=cfg.ood_quantile, seed=seed).fit(
        base.build_features(train, ood_feats).astype(np.float64)
    )
    predictor.conformal, predictor.bins, predictor.ood = conformal, bins, ood
    predictor.meta.update({"uncertainty_config": cfg.model_dump(mode="json"), "seed": seed})
    log.info("calibrated intervals on %d validation stars; OOD score on %d training stars", len(val), len(train))
    return predictor


def save_calibration(predictor: Predictor, model_dir: str | Path) -> Path:
    """Write the calibration (conformal + bins + OOD) to ``model_dir/uncertainty.pkl``."""
    path = Path(model_dir) / UNCERTAINTY_FILE
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        pickle.dump({"conformal": predictor.conformal, "bins": predictor.bins, "ood": predictor.ood},
                    fh, protocol=pickle.HIGHEST_PROTOCOL)
    write_json(Path(model_dir) / "uncertainty.json", predictor.card())
    return path


def calibrate_model_dir(
    model_dir: str | Path, sample: pd.DataFrame, config: UncertaintyConfig | None = None, seed: int = 0
) -> Path:
    """Calibrate the intervals and OOD score of a trained model directory and save them beside it.

    Reads the models of ``model_dir`` (model cards of :mod:`ocfeh.model`), fits on the ``val`` /
    ``train`` rows of ``sample`` (see :func:`calibrate`) and writes ``uncertainty.pkl`` and
    ``uncertainty.json`` (quantiles per bin, OOD threshold, provenance).
    """
    pred = load_predictor(model_dir)
    pred = Predictor(pred.models, pred.features, pred.feature_builder, pred.feature_config,
                     n_threads=pred.n_threads, float32=pred.float32)
    calibrate(pred, sample, config, seed)
    return save_calibration(pred, model_dir)


def evaluate_coverage(
    predictor: Predictor, sample: pd.DataFrame, split: str = "test", n_draws: int = 0, seed: int = 0
) -> tuple[pd.DataFrame, dict[str, dict[str, float]]]:
    """Coverage table on the blind test: overall, per predicted-label bin and per true-label bin.

    Returns
    -------
    table : DataFrame
        See :func:`ocfeh.uncertainty.coverage_table`.
    metrics : dict
        ``{target: {"coverage_68", "coverage_95", "n"}}`` for metrics.json.
    """
    if predictor.conformal is None:
        raise NotFittedError("The predictor has no calibration. Call 'calibrate' on the validation stars first.")
    test = sample[(sample["split"] == split).to_numpy()] if "split" in sample else sample
    res = predict_frame(predictor, test, n_draws=n_draws, seed=seed)
    ok = (res["reason"] == "").to_numpy()
    frame = res[ok].copy()
    for t in predictor.targets:
        frame[f"{t}_true"] = test[t].to_numpy()[ok]
    binnings = {}
    if predictor.bins is not None:
        binnings["predicted"] = frame["mondrian_bin"].to_numpy()
        binnings["true"] = predictor.bins.assign({c: frame[f"{c}_true"] for c in predictor.bins.columns})
    table = coverage_table(frame, predictor.targets, "_true", binnings)
    return table, coverage_metrics(table)


# =========================================================================== chunked I/O
@dataclass(frozen=True)
class _Chunk:
    index: int
    path: str
    fmt: str
    start: int
    stop: int


_FORMATS = {".parquet": "parquet", ".pq": "parquet", ".csv": "csv", ".fits": "fits", ".fit": "fits",
            ".fits.gz": "fits"}


def _fmt(path: Path) -> str:
    name = path.name.lower()
    for ext in sorted(_FORMATS, key=len, reverse=True):
        if name.endswith(ext):
            return _FORMATS[ext]
    raise InputError(f"{path}: unknown table format; use Parquet (.parquet), CSV (.csv) or FITS (.fits)")


def _natural_key(p: Path) -> list:
    return [int(s) if s.isdigit() else s for s in re.split(r"(\d+)", str(p))]


def _expand(inputs: Sequence[str | Path]) -> list[Path]:
    """Files in order: a directory (partitioned Parquet or a HATS catalogue) gives its Parquet files."""
    files: list[Path] = []
    for item in inputs:
        p = Path(item)
        if p.is_dir():
            root = p / "dataset" if (p / "dataset").is_dir() else p  # HATS: <cat>/dataset/Norder=*/Dir=*/Npix=*
            found = sorted((f for f in root.rglob("*.parquet") if not f.name.startswith(("_", "."))),
                           key=_natural_key)
            if not found:
                raise InputError(f"{p}: directory holds no Parquet files")
            files += found
        elif p.is_file():
            files.append(p)
        else:
            raise InputError(f"input not found: {p}")
    return files


def _n_rows(path: Path, fmt: str) -> int:
    if fmt == "parquet":
        import pyarrow.parquet as pq

        return pq.ParquetFile(path).metadata.num_rows
    if fmt == "fits":
        from astropy.io import fits

        with fits.open(path, memmap=True) as hdul:
            return int(_table_hdu(hdul, path).header["NAXIS2"])
    with open(path, "rb") as fh:
        return max(sum(chunk.count(b"\n") for chunk in iter(lambda: fh.read(1 << 22), b"")) - 1, 0)


def _table_hdu(hdul, path: Path):
    for hdu in hdul:
        if hdu.header.get("XTENSION") in ("BINTABLE", "TABLE"):
            return hdu
    raise InputError(f"{path}: FITS file has no table extension")


def _plan(files: Sequence[Path], chunk_size: int) -> tuple[list[_Chunk], list[dict]]:
    chunks, info = [], []
    for f in files:
        fmt = _fmt(f)
        n = _n_rows(f, fmt)
        st = f.stat()
        info.append({"path": str(f.resolve()), "n_rows": n, "size": st.st_size, "mtime": st.st_mtime})
        for start in range(0, n, chunk_size):
            chunks.append(_Chunk(len(chunks), str(f), fmt, start, min(start + chunk_size, n)))
    return chunks, info


def _column_names(path: Path, fmt: str) -> list[str]:
    if fmt == "parquet":
        import pyarrow.parquet as pq

        return list(pq.ParquetFile(path).schema_arrow.names)
    if fmt == "fits":
        from astropy.io import fits

        with fits.open(path, memmap=True) as hdul:
            return list(_table_hdu(hdul, path).columns.names)
    return list(pd.read_csv(path, nrows=0).columns)


def _check_schema(chunks: Sequence[_Chunk], pred: Predictor) -> None:
    """Every file holds the columns the model needs (see :func:`_check_columns`), before any is written."""
    for path, fmt in dict.fromkeys((c.path, c.fmt) for c in chunks):
        _check_columns(_column_names(Path(path), fmt), pred, path)


def _read_chunk(chunk: _Chunk, columns: Sequence[str] | None) -> pd.DataFrame:
    """Rows ``[start, stop)`` of one file, only ``columns`` (those present)."""
    path = Path(chunk.path)
    if chunk.fmt == "parquet":
        import pyarrow.parquet as pq

        pf = pq.ParquetFile(path)
        names = pf.schema_arrow.names
        cols = [c for c in columns if c in names] if columns is not None else None
        md = pf.metadata
        groups, first, row = [], None, 0
        for g in range(md.num_row_groups):
            n = md.row_group(g).num_rows
            if row + n > chunk.start and row < chunk.stop:
                groups.append(g)
                first = row if first is None else first
            row += n
        tab = pf.read_row_groups(groups, columns=cols)
        tab = tab.slice(chunk.start - first, chunk.stop - chunk.start)
        return tab.to_pandas()
    if chunk.fmt == "fits":
        from astropy.io import fits

        with fits.open(path, memmap=True) as hdul:
            hdu = _table_hdu(hdul, path)
            names = hdu.columns.names
            cols = [c for c in columns if c in names] if columns is not None else names
            data = hdu.data[chunk.start:chunk.stop]
            out = {}
            for c in cols:
                a = np.asarray(data[c])
                out[c] = a.astype(a.dtype.newbyteorder("=")) if a.dtype.byteorder not in ("=", "|") else a
            return pd.DataFrame(out)
    header = _column_names(path, "csv")
    cols = [c for c in columns if c in header] if columns is not None else None
    return pd.read_csv(path, usecols=cols, skiprows=range(1, chunk.start + 1), nrows=chunk.stop - chunk.start)


def _input_columns(pred: Predictor, n_draws: int, id_columns: Sequence[str]) -> list[str]:
    cols = list(id_columns) + pred.required_columns
    if pred.feature_builder != "ocfeh.predict:plain_features":
        cols += ["mag_BP", "mag_RP"]  # the synthphot extinction looks up each star's BP-RP
    if n_draws:
        cols += [f"mag_err_{b}" for b in pred.bands]
        cols += ["distance_lo_pc", "distance_hi_pc", "parallax", "parallax_error", "a0_err"]
    return list(dict.fromkeys(cols))


def _part_name(index: int) -> str:
    return f"part-{index:06d}.parquet"


def _write_part(df: pd.DataFrame, path: Path, meta: dict) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    tab = pa.Table.from_pandas(df, preserve_index=False)
    tab = tab.replace_schema_metadata({**(tab.schema.metadata or {}), b"ocfeh": json.dumps(meta).encode()})
    with atomic_path(path) as tmp:
        pq.write_table(tab, tmp)


def _run_chunk(model_dir: str, chunk: _Chunk, parts_dir: str, n_draws: int, seed: int,
               id_columns: tuple[str, ...], meta: dict, zero_points: pd.DataFrame | None = None,
               compute: dict | None = None, fail_after: int | None = None) -> tuple[int, int, int]:
    """Read, predict and write one chunk (a Dask task, or a loop step in-process); ``compute`` overrides
    the predictor's ``n_threads`` / ``float32``."""
    from .zeropoints import TILE_COLUMN, apply_tile_offsets

    if fail_after is not None and chunk.index >= fail_after:  # test hook: simulate an interruption
        raise KeyboardInterrupt(f"simulated interruption before chunk {chunk.index}")
    pred = load_predictor(model_dir)
    if compute:
        pred = replace(pred, **compute)
    cols = _input_columns(pred, n_draws, id_columns)
    table = _read_chunk(chunk, cols + [TILE_COLUMN] if zero_points is not None else cols)
    if zero_points is not None:
        table = apply_tile_offsets(table, zero_points)
    res = predict_frame(pred, table, n_draws=n_draws, seed=[seed, chunk.index], id_columns=id_columns)
    _write_part(res, Path(parts_dir) / _part_name(chunk.index), meta)
    return chunk.index, len(res), int((res["reason"] != "").sum())


@dataclass
class PredictResult:
    """What :func:`predict_table` did."""

    output: Path
    n_rows: int
    n_predicted: int
    n_rejected: int
    n_chunks: int
    n_resumed: int
    seconds: float

    def __repr__(self) -> str:
        return (f"PredictResult({str(self.output)!r}: {self.n_rows} rows, {self.n_predicted} predicted, "
                f"{self.n_rejected} rejected, {self.n_chunks} chunks ({self.n_resumed} resumed), "
                f"{self.seconds:.1f} s)")


def predict_table(
    model_dir: str | Path,
    inputs: str | Path | Sequence[str | Path],
    output: str | Path,
    chunk_size: int = 200_000,
    resume: bool = True,
    overwrite: bool = False,
    n_draws: int = 0,
    seed: int = 0,
    scheduler: str | None = None,
    id_columns: Sequence[str] = ID_COLUMNS,
    progress: bool = True,
    zero_points: str | Path | None = None,
    n_threads: int | None = None,
    float32: bool | None = None,
    _fail_after: int | None = None,
) -> PredictResult:
    """Predict Teff, log g, [Fe/H] with intervals and OOD flags for tables of any size.

    Parameters
    ----------
    model_dir : str or Path
        Model directory (``predictor.pkl``, ``uncertainty.pkl``).
    inputs : path or sequence of paths
        Canonical tables (Parquet, CSV, FITS) or directories of Parquet files (partitioned Parquet,
        HATS catalogues); rows are read in the order given.
    output : str or Path
        A ``.parquet`` file (parts are written to ``<output>.parts/`` and merged at the end) or a
        directory (kept as partitioned Parquet: ``part-NNNNNN.parquet`` + ``_manifest.json``).
    chunk_size : int, default=200000
        Stars per chunk; peak memory grows linearly with it (about 1 kB per star).
    resume : bool, default=True
        Continue an interrupted run into the same output (its manifest must match: same model,
        inputs, chunk size and options); chunks already written are skipped.
    overwrite : bool, default=False
        Start afresh, deleting a previous output. ``resume`` and ``overwrite`` exclude each other.
    n_draws : int, default=0
        Monte Carlo draws per star (needs calibration with draws).
    seed : int, default=0
        Seed of the Monte Carlo draws (chunk ``i`` uses ``[seed, i]``: results do not depend on
        resuming or on the scheduler).
    scheduler : str, optional
        None: in-process. ``"local"``: a local Dask cluster. Otherwise a Dask scheduler address
        (``tcp://host:8786``); the workers must see the model directory and the output path. A
        scheduler that does not answer within ``SCHEDULER_TIMEOUT_S`` (5 s) is an InputError, raised
        before any output is touched.
    id_columns : sequence of str
        Input columns copied to the output when present.
    progress : bool, default=True
        Show a progress bar.
    zero_points : str or Path, optional
        A run's ``zero_points.csv``: its per-tile J-PLUS offsets are removed from the inputs (which then
        need ``jplus_tile_id``), as they were from the model's training sample.
    n_threads : int, optional
        Tree back-end threads per chunk (default: the model's, ``min(2, cores)``). A local Dask cluster
        runs ``cores // n_threads`` chunks at once, so the threads never outnumber the cores.
    float32 : bool, optional
        Compute features in float32 (default: the model's, True) or float64.

    Returns
    -------
    PredictResult

    Raises
    ------
    InputError
        Among others: a column the model needs is absent from an input (checked in every file before
        any chunk is predicted; NaN values only make rows without prediction), or the scheduler is
        unreachable.
    """
    import shutil

    if resume and overwrite:
        raise InputError("predict_table: pass either resume=True or overwrite=True, not both")
    if chunk_size < 1:
        raise InputError(f"The 'chunk_size' parameter of predict_table must be >= 1. Got {chunk_size} instead.")
    if n_threads is not None and n_threads < 1:
        raise InputError(f"The 'n_threads' parameter of predict_table must be >= 1. Got {n_threads} instead.")
    compute = {k: v for k, v in (("n_threads", n_threads), ("float32", float32)) if v is not None}
    t0 = time.perf_counter()
    model_dir = Path(model_dir)
    pred = load_predictor(model_dir)
    if not pred.conformal:
        log.warning("%s has no calibration (%s): the intervals will be NaN; calibrate the model "
                    "(the run's train stage does) for 68%%/95%% intervals", model_dir, UNCERTAINTY_FILE)
    if n_draws and (not pred.conformal or "mc" not in next(iter(pred.conformal.values())).quantiles_):
        raise InputError(f"{model_dir}: calibration ran without Monte Carlo; predict with n_draws=0 "
                         "or re-calibrate with [uncertainty] n_draws > 0")
    files = _expand([inputs] if isinstance(inputs, (str, Path)) else inputs)
    output = Path(output)
    if output.suffix and output.suffix != ".parquet":
        raise InputError(f"{output}: the output is a .parquet file or a directory of parts (no suffix)")
    out_abs = output.resolve()
    clash = [f for f in files if f.resolve() == out_abs or out_abs in f.resolve().parents]
    if clash:
        raise InputError(f"the output {output} is (or holds) the input {clash[0]}: choose another output")
    chunks, info = _plan(files, chunk_size)
    if not chunks:
        raise InputError(f"no stars to predict: the input ({', '.join(str(f) for f in files[:3])}) has no rows")
    _check_schema(chunks, pred)
    single = output.suffix == ".parquet"
    parts_dir = output.with_name(output.name + ".parts") if single else output
    offsets = None
    if zero_points is not None:
        from .zeropoints import TILE_COLUMN, read_tile_offsets

        offsets = read_tile_offsets(zero_points)

        first = {c.path: c for c in reversed(chunks)}  # one look per file, at its first row
        lacking = [p for p, c in first.items()
                   if TILE_COLUMN not in _read_chunk(_Chunk(c.index, p, c.fmt, c.start, c.start + 1), [TILE_COLUMN])]
        if lacking:
            raise InputError(f"zero points need {TILE_COLUMN} in every input; {lacking[0]} lacks it")
    key = {
        "inputs": info, "chunk_size": chunk_size, "n_draws": n_draws, "seed": seed,
        "id_columns": list(id_columns), "model": _model_stamp(model_dir),
        **({"zero_points": [str(zero_points), stable_hash(offsets.to_dict(orient="list"), 16)]}
           if offsets is not None else {}),
        # float32 changes the last digits, threads do not; the model's own precision keeps the old fingerprint
        **({"float32": float32} if float32 is not None and float32 != pred.float32 else {}),
    }
    fingerprint = stable_hash(key, 32)
    meta = {"fingerprint": fingerprint, **provenance(key, seed, model=model_provenance(model_dir))}
    # connect first: an unreachable scheduler fails before an output is touched
    threads = n_threads or pred.n_threads
    with _dask_client(scheduler, threads) as client:
        if single and output.exists() and not parts_dir.exists():
            if overwrite:
                output.unlink()
            elif resume and _file_fingerprint(output) == fingerprint:
                n = _count_rows(output)
                log.info("%s is complete (%d rows); nothing to do", output, n)
                return PredictResult(output, n, -1, -1, len(chunks), len(chunks), time.perf_counter() - t0)
            else:
                raise InputError(f"{output} exists (from other inputs or options); pass overwrite=True "
                                 "(--overwrite) to replace it")
        manifest_path = parts_dir / MANIFEST
        done: dict[int, list[int]] = {}
        if parts_dir.exists() and any(parts_dir.iterdir()):
            if overwrite:
                shutil.rmtree(parts_dir)
            elif not resume:
                raise InputError(f"output {parts_dir} is not empty; pass resume=True (--resume) to continue "
                                 "or overwrite=True (--overwrite) to start afresh")
            elif manifest_path.is_file():
                man = json.loads(manifest_path.read_text())
                if man.get("fingerprint") != fingerprint:
                    raise InputError(
                        f"cannot resume into {parts_dir}: it was written for other inputs, model or options "
                        f"(manifest fingerprint {man.get('fingerprint')} != {fingerprint}); "
                        "pass overwrite=True (--overwrite) to start afresh"
                    )
                done = {int(k): v for k, v in man["done"].items() if (parts_dir / _part_name(int(k))).is_file()}
            else:
                raise InputError(f"{parts_dir} is not empty and has no {MANIFEST}; refusing to write into it")
        parts_dir.mkdir(parents=True, exist_ok=True)
        n_resumed = len(done)
        todo = [c for c in chunks if c.index not in done]
        if n_resumed:
            log.info("resuming: %d of %d chunks already written", n_resumed, len(chunks))

        def record(index: int, n_rows: int, n_rej: int) -> None:
            done[index] = [n_rows, n_rej]
            write_json(manifest_path, {"fingerprint": fingerprint, "n_chunks": len(chunks),
                                       "done": {str(k): v for k, v in sorted(done.items())},
                                       "provenance": meta})

        record_args = (str(model_dir), str(parts_dir), n_draws, seed, tuple(id_columns), meta, offsets, compute)
        total_rows = sum(c.stop - c.start for c in chunks)
        with _progress(progress, total_rows, sum(c.stop - c.start for c in chunks if c.index in done)) as advance:
            if client is None:
                for c in todo:
                    record(*_run_chunk(record_args[0], c, *record_args[1:], fail_after=_fail_after))
                    advance(c.stop - c.start)
            else:
                _run_dask(client, todo, record_args, record, advance)
    n_rows = sum(v[0] for v in done.values())
    n_rej = sum(v[1] for v in done.values())
    if n_rows != total_rows:
        raise InputError(f"wrote {n_rows} rows but the inputs hold {total_rows}; rerun to resume")
    if single:
        _merge(parts_dir, len(chunks), output, meta)
        shutil.rmtree(parts_dir)
    if n_rej:
        log.info("%d of %d stars not predicted (see the 'reason' column)", n_rej, n_rows)
    return PredictResult(output, n_rows, n_rows - n_rej, n_rej, len(chunks), n_resumed, time.perf_counter() - t0)


def _model_stamp(model_dir: Path) -> dict:
    out = {}
    for name in (PREDICTOR_FILE, UNCERTAINTY_FILE):
        p = model_dir / name
        if p.is_file():
            st = p.stat()
            out[name] = [st.st_size, st.st_mtime]
    return out


def _file_fingerprint(path: Path) -> str | None:
    import pyarrow.parquet as pq

    try:
        md = pq.ParquetFile(path).schema_arrow.metadata or {}
        return json.loads(md.get(b"ocfeh", b"{}")).get("fingerprint")
    except Exception:  # noqa: BLE001 - any unreadable file is "not ours"
        return None


def _count_rows(path: Path) -> int:
    import pyarrow.parquet as pq

    return pq.ParquetFile(path).metadata.num_rows


def _merge(parts_dir: Path, n_chunks: int, output: Path, meta: dict) -> None:
    """Concatenate the parts in order into one Parquet file, one part in memory at a time."""
    import pyarrow.parquet as pq

    with atomic_path(output) as tmp:
        writer = None
        try:
            for i in range(n_chunks):
                tab = pq.read_table(parts_dir / _part_name(i))
                if writer is None:
                    schema = tab.schema
                    writer = pq.ParquetWriter(tmp, schema)
                elif tab.schema != schema:
                    tab = tab.cast(schema)
                writer.write_table(tab)
        finally:
            if writer is not None:
                writer.close()


class _progress:
    """A rich progress bar over rows (or a no-op)."""

    def __init__(self, enabled: bool, total: int, completed: int):
        self.enabled, self.total, self.completed = enabled, total, completed

    def __enter__(self) -> Callable[[int], None]:
        if not self.enabled:
            return lambda n: None
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        self.bar = Progress(TextColumn("predict"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                            transient=True)
        self.bar.__enter__()
        task = self.bar.add_task("stars", total=self.total, completed=self.completed)
        return lambda n: self.bar.advance(task, n)

    def __exit__(self, *exc) -> None:
        if self.enabled:
            self.bar.__exit__(*exc)


@contextlib.contextmanager
def _dask_client(scheduler: str | None, n_threads: int = 2) -> Iterator[Any]:
    """A Dask client of ``scheduler`` (None: in-process, no client), closed on exit.

    An unreachable scheduler (after ``SCHEDULER_TIMEOUT_S``) or a malformed address is an
    :class:`InputError` naming the address.
    """
    if scheduler is None:
        yield None
        return
    try:
        from distributed import Client, LocalCluster
    except ImportError:  # pragma: no cover - the 'scale' extra
        raise InputError("scheduler= needs Dask: pip install 'ocfeh[scale]'") from None
    cluster = None
    if scheduler == "local":
        # each chunk runs n_threads OpenMP threads: more tasks than cores // n_threads oversubscribe the cores
        tasks = max(1, (os.cpu_count() or 1) // n_threads)
        cluster = LocalCluster(n_workers=1, threads_per_worker=tasks, processes=False, dashboard_address=None)
        client = Client(cluster)
    else:
        why = None
        try:
            client = Client(scheduler, timeout=SCHEDULER_TIMEOUT_S)
        except (OSError, ValueError) as exc:  # OSError: timed out / refused; ValueError: a malformed address
            why = str(exc)
        if why is not None:  # raised outside the except block: no chained Dask traceback
            raise InputError(f"cannot connect to the Dask scheduler {scheduler} ({why}); check the address, start "
                             "the scheduler, or drop --scheduler (scheduler=None) to predict in-process")
    try:
        yield client
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def _run_dask(client: Any, todo: list[_Chunk], args: tuple, record: Callable, advance: Callable) -> None:
    """Run chunks as Dask tasks; the driver records each finished chunk in the manifest."""
    from distributed import as_completed

    sizes = {c.index: c.stop - c.start for c in todo}
    futures = [client.submit(_run_chunk, args[0], c, *args[1:], key=f"ocfeh-predict-{c.index}-{args[5]['fingerprint']}",
                             pure=False) for c in todo]
    for fut in as_completed(futures):
        index, n_rows, n_rej = fut.result()
        record(index, n_rows, n_rej)
        advance(sizes[index])


# ------------------------------------------------------------------------------ toy data
_TOY_BANDS = ("J0395", "gSDSS", "rSDSS", "iSDSS", "G", "W1")


def _toy_table(n: int, seed: int = 0, bands: Sequence[str] = _TOY_BANDS) -> pd.DataFrame:
    """A seeded toy canonical table with known labels (tests, doctests and benchmarks only).

    Absolute magnitudes are smooth functions of (Teff, log g, [Fe/H]) with band-dependent
    metallicity sensitivity (bluer bands more); magnitude errors grow with apparent magnitude, so
    the difficulty varies from star to star. About 35% giants and 20% metal-poor stars. Not physics:
    a stand-in for the mock sky of :mod:`ocfeh.simulate`.

    Examples
    --------
    >>> t = _toy_table(5, seed=1)
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


def _toy_predictor(sample: pd.DataFrame, n_estimators: int = 300, seed: int = 0,
                   bands: Sequence[str] = _TOY_BANDS) -> Predictor:
    """LightGBM models on the ``train`` rows of a toy table (tests and benchmarks only)."""
    import lightgbm as lgb

    names = [f"M_{b}" for b in bands] + [f"{a}-{b}" for i, a in enumerate(bands) for b in bands[i + 1:]]
    train = sample[sample["split"] == "train"] if "split" in sample else sample
    X = plain_features(train, names)
    models = {
        t: lgb.LGBMRegressor(n_estimators=n_estimators, learning_rate=0.05, num_leaves=31,
                             random_state=seed, n_jobs=2, verbose=-1).fit(X, train[t])
        for t in ("teff", "logg", "feh")
    }
    return Predictor(models, {t: names for t in models})
