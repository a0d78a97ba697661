"""The predictor: the per-target models, their features, the conformal calibration and the
out-of-distribution score, and its prediction of one in-memory table of stars (:func:`predict_frame`).

Output columns: the id columns of the input (``source_id``, ``ra``, ``dec`` when present), then for
each target ``t``: ``t``, ``t_lo68``, ``t_hi68``, ``t_lo95``, ``t_hi95``, ``t_err`` (68% half-width),
then ``ood_score``, ``ood_flag``, ``mondrian_bin``, ``model`` (``full``, ``pattern``, ``gaps`` or empty), ``missing``
(the inputs a gap-model star lacked), ``<t>_mae_expected``, ``beyond_training`` (G outside the range of the
stars the expected MAE was measured on) and ``reason`` (empty when predicted, else why not, e.g.
``"missing mag_J0660"``). Rows keep the input order.
"""

from __future__ import annotations

import functools
import logging
import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..exceptions import InputError, OcfehWarning
from ..provenance import provenance, write_json
from ..schema import LABELS, as_star_table
from ..train.features import A0_FEATURE, FeatureConfig, bands_of_features, make_features
from ..train.model import StellarParameterModel, TargetModel
from ..train.uncertainty import LEVELS, ConformalIntervals, MondrianBins, interval_columns, mc_spread
from ..train.gaps import GAPS_DIR
from ..train.photcheck import PHOTCHECK_DIR, PhotometricCheck, load_phot_check
from .checks import check_columns, check_unique, mock_model_warning, reason_counts, row_reasons
from .gaps import MIN_BANDS, GapModel, load_gap_model, predict_gaps
from .inputs import check_magnitudes
from .model_files import (
    LEGACY_PREDICTOR,
    calibration_files,
    load_calibration,
    read_legacy_pickle,
    save_calibration_files,
)

__all__ = ["ID_COLUMNS", "Predictor", "from_model_dir", "load_predictor", "predict_frame", "predict_fast"]

log = logging.getLogger(__name__)

ID_COLUMNS = ("source_id", "jplus_tile_id", "jplus_number", "ra", "dec")
_LEGACY_PLAIN = "ocfeh.predict:plain_features"  # the builder of a pickled Predictor without de-reddening


def predict_fast(model: Any, X: np.ndarray, n_threads: int) -> np.ndarray:
    """Plain back-end prediction on a C-contiguous array (no pandas conversion, capped threads); an
    ocfeh TargetModel's network, if any, averaged in."""
    if hasattr(model, "blend") and hasattr(model, "booster_"):
        return model.blend(_backend_predict(model.booster_, X, n_threads), X)
    return _backend_predict(model, X, n_threads)


def _backend_predict(model: Any, X: np.ndarray, n_threads: int) -> np.ndarray:
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


@dataclass
class Predictor:
    """Everything needed to predict a chunk: estimators, features, calibration and OOD score.

    Parameters
    ----------
    models : dict of target -> estimator
        Anything with ``predict(X)``; :class:`~ocfeh.train.TargetModel` for a predictor that is saved.
    features : dict of target -> list of str
        Feature names each estimator takes, in order.
    feature_config : dict
        :class:`~ocfeh.train.FeatureConfig` fields of the training (the extinction mode above all;
        ``{"extinction": "none"}`` for magnitudes taken as they are); the bands are those the features need.
    conformal : dict of target -> ConformalIntervals, optional
    bins : MondrianBins, optional
    ood : KNNNoveltyScore, optional
    gaps : GapModel, optional
        The model of stars that miss inputs (:mod:`ocfeh.predict.gaps`); None: such stars get a ``reason``.
    interval_scale : dict, optional
        label -> level (``"68"``, ``"95"``) -> factor on the main model's half-widths: the weighted conformal
        calibration of :func:`~ocfeh.predict.shift.shift_check` for a shifted catalogue.
    n_threads : int, default=2
    float32 : bool, default=True
    """

    models: dict[str, Any]
    features: dict[str, list[str]]
    feature_config: dict[str, Any] = field(default_factory=dict)
    conformal: dict[str, ConformalIntervals] | None = None
    bins: MondrianBins | None = None
    ood: Any = None
    n_threads: int = 2
    float32: bool = True
    meta: dict[str, Any] = field(default_factory=dict)
    gaps: GapModel | None = None
    interval_scale: dict[str, dict[str, float]] | None = None
    phot: PhotometricCheck | None = None

    def __setstate__(self, state: dict) -> None:
        # a Predictor pickled before the redesign names its feature builder by a string
        builder = state.pop("feature_builder", None)
        if builder == _LEGACY_PLAIN:
            state["feature_config"] = {**state.get("feature_config", {}), "extinction": "none"}
        self.__dict__.update(state)

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
                names += [f for f in c.difficulty_features_ if f not in names]
        return names

    @property
    def bands(self) -> list[str]:
        """Bands the features need (magnitudes ``M_x``, colours ``x-y``, curvatures ``x~y~z``)."""
        return bands_of_features(self.all_features)

    @property
    def dereddened(self) -> bool:
        """Whether the features remove extinction (then every star needs ``a0``)."""
        return self.feature_config.get("extinction") != "none"

    @property
    def required_columns(self) -> list[str]:
        """Input columns every predicted star needs (magnitudes of the used bands, distance, extinction)."""
        cols = [f"mag_{b}" for b in self.bands]
        if any(f.startswith("M_") for f in self.all_features):
            cols.append("distance_pc")
        if self.dereddened or A0_FEATURE in self.all_features:
            cols.append("a0")
        return cols

    @property
    def extra_columns(self) -> list[str]:
        """Optional input columns read when present: BP and RP for the synthphot extinction; the gap model's
        bands, ``ebv``, ``ra`` and ``dec``."""
        cols = ["mag_BP", "mag_RP"] if self.feature_config.get("extinction", "auto") in ("auto", "synthphot") else []
        return cols + (self.gaps.input_columns if self.gaps is not None else [])

    def build_features(self, table: pd.DataFrame, names: Sequence[str] | None = None) -> pd.DataFrame:
        """Features of ``table`` (only those the models use), by :func:`~ocfeh.train.make_features` with the
        training's feature config; colours keep the training's band order."""
        dtype = np.float32 if self.float32 else np.float64
        names = list(names or self.all_features)
        cfg = {k: v for k, v in self.feature_config.items() if v is not None}
        order = list(FeatureConfig(**cfg).resolved_bands())
        bands = sorted(bands_of_features(names), key=lambda b: order.index(b) if b in order else len(order))
        cfg.update(bands=bands, absolute_magnitudes=any(n.startswith("M_") for n in names))
        return make_features(table, FeatureConfig(**cfg))[names].astype(dtype)

    def point(self, table: pd.DataFrame, feats: pd.DataFrame | None = None) -> dict[str, np.ndarray]:
        """Point predictions ``{target: (n,)}`` of complete rows."""
        if feats is None:
            feats = self.build_features(table)
        out = {}
        for t in self.targets:
            X = np.ascontiguousarray(feats[self.features[t]].to_numpy())
            out[t] = np.asarray(predict_fast(self.models[t], X, self.n_threads), dtype=np.float64)
        return out

    def predict(self, table: pd.DataFrame, n_draws: int = 0, seed: int = 0, keep_columns=None,
                min_predicted: float = 0.1) -> pd.DataFrame:
        """Values, 68%/95% intervals, ``ood_score``/``ood_flag`` and ``reason`` for each row of ``table``.

        ``table`` is a pandas DataFrame (or an astropy Table) of canonical columns (``mag_<band>``,
        ``distance_pc``, ``a0``); anything else raises TypeError, and a column the model needs that is
        absent, a column given twice or a magnitude column that holds fluxes raises InputError (see
        :func:`predict_frame`). Rows that cannot be predicted (NaN values, a distance <= 0, an ``a0``
        below -0.05 mag) are kept, with a ``reason``; fewer than ``min_predicted`` of the rows predicted
        warns (OcfehWarning) with the main reasons. ``keep_columns`` are copied to the output besides the
        ID columns (the output keeps the table's index, so ``table.join(out)`` works too).

        Examples
        --------
        >>> import numpy as np
        >>> from ocfeh.predict import calibrate
        >>> from ocfeh.testing import toy_predictor, toy_table
        >>> stars = toy_table(4000, seed=1)        # a toy canonical table (magnitudes, labels)
        >>> stars["split"] = np.random.default_rng(0).choice(["train", "val", "test"], len(stars), p=[.6, .3, .1])
        >>> model = calibrate(toy_predictor(stars, n_estimators=50), stars)
        >>> out = model.predict(stars[stars["split"] == "test"].head(3))
        >>> list(out.columns[:6])
        ['source_id', 'teff', 'teff_lo68', 'teff_hi68', 'teff_lo95', 'teff_hi95']
        >>> bool(((out["feh_lo68"] < out["feh"]) & (out["feh"] < out["feh_hi68"])).all())
        True
        """
        table = as_star_table(table)
        if len(table):
            check_magnitudes(table, self.bands, f"the table ({len(table)} rows)")
        ids = list(ID_COLUMNS) + [c for c in (keep_columns or ()) if c not in ID_COLUMNS]
        out = predict_frame(self, table, n_draws=n_draws, seed=seed, id_columns=ids)
        mock = mock_model_warning(self.meta.get("training_set"), list(table.columns), f"the table ({len(table)} rows)")
        if mock:
            warnings.warn(mock, OcfehWarning, stacklevel=2)
        if self.phot is not None:
            for message in self.phot.systematic(table[out["reason"].to_numpy() == ""], seed=seed):
                warnings.warn(message, OcfehWarning, stacklevel=2)
        n_ok = int((out["reason"] == "").sum())
        if len(out) and n_ok < min_predicted * len(out):
            why = reason_counts(out["reason"], 3)
            warnings.warn(f"only {n_ok} of {len(out)} stars got a prediction (fewer than {min_predicted:.0%}); main "
                          "reasons: " + "; ".join(f"{k}: {v}" for k, v in why.items()), OcfehWarning, stacklevel=2)
        return out

    def save(self, model_dir: str | Path) -> Path:
        """Write the predictor into ``model_dir`` as text, JSON and ``.npz`` (see :mod:`ocfeh.predict.model_files`):
        its :class:`~ocfeh.train.TargetModel` models and cards, its calibration, its photometric check and
        ``predictor.json``."""
        bad = [t for t, m in self.models.items() if not isinstance(m, TargetModel)]
        if bad:
            raise InputError(f"Predictor.save writes TargetModel models only; the {', '.join(bad)} model(s) are "
                             f"{type(self.models[bad[0]]).__name__} (fit an ocfeh.train.TargetModel instead)")
        model_dir = Path(model_dir)
        StellarParameterModel(self.models).save(model_dir)
        if self.conformal or self.ood is not None:
            save_calibration_files(model_dir, self.conformal, self.bins, self.ood)
        if self.phot is not None:
            self.phot.save(model_dir / PHOTCHECK_DIR)
        write_json(model_dir / "predictor.json", self.card())
        return model_dir

    def card(self) -> dict[str, Any]:
        """A JSON-able summary: targets, features, bands, calibration per bin."""
        card: dict[str, Any] = {
            "targets": self.targets,
            "features": self.features,
            "bands": self.bands,
            "feature_config": self.feature_config,
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
    """A predictor (without calibration) from the model cards of :class:`~ocfeh.train.TargetModel`."""
    spm = StellarParameterModel.load(model_dir)
    configs = [m.feature_config or {} for m in spm.models.values()]
    if any(c != configs[0] for c in configs):
        raise InputError(f"{model_dir}: the targets were trained with different feature configs {configs}")
    card = getattr(next(iter(spm.models.values())), "card_", None) or {}
    return Predictor(
        models=dict(spm.models),
        features={t: list(m.feature_names_in_) for t, m in spm.models.items()},
        feature_config=dict(configs[0]),
        n_threads=min(2, os.cpu_count() or 1),
        meta={"training_set": card.get("training_set")},
    )


def _model_files(model_dir: Path) -> list[Path]:
    cards = [model_dir / f"{t}.json" for t in LABELS if (model_dir / f"{t}.json").is_file()]
    legacy = [model_dir / LEGACY_PREDICTOR] if (model_dir / LEGACY_PREDICTOR).is_file() else []
    extra = [p for d in (GAPS_DIR, PHOTCHECK_DIR) if (model_dir / d).is_dir() for p in sorted((model_dir / d).glob("*"))]
    return legacy + cards + list(calibration_files(model_dir)) + extra


@functools.lru_cache(maxsize=4)
def _load_cached(model_dir: str, stamp: tuple) -> Predictor:
    path = Path(model_dir) / LEGACY_PREDICTOR
    if path.is_file():
        pred = read_legacy_pickle(path)
        if not isinstance(pred, Predictor):
            raise InputError(f"{path} does not hold an ocfeh Predictor")
    else:
        pred = from_model_dir(model_dir)
    calibration = load_calibration(model_dir)
    if calibration is not None:
        pred.conformal, pred.bins, pred.ood = calibration
    pred.gaps = load_gap_model(model_dir)
    pred.phot = load_phot_check(model_dir)
    return pred


def load_predictor(model_dir: str | Path) -> Predictor:
    """Load the predictor of a model directory (cached per process; reloads when its files change)."""
    model_dir = Path(model_dir)
    files = _model_files(model_dir)
    if not any(p.suffix == ".json" and p.stem in LABELS or p.name == LEGACY_PREDICTOR for p in files):
        raise InputError(
            f"no trained model in {model_dir} (looked for teff/logg/feh.json model cards); "
            "train one first (`ocfeh train`) or pass the run's model directory"
        )
    stamp = tuple((p.name, p.stat().st_mtime_ns, p.stat().st_size) for p in files)
    return _load_cached(str(model_dir.resolve()), stamp)


def predict_frame(
    predictor: Predictor | str | Path,
    table: pd.DataFrame,
    n_draws: int = 0,
    seed: int | Sequence[int] = 0,
    id_columns: Sequence[str] = ID_COLUMNS,
    min_bands: int = MIN_BANDS,
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
        (calibrated, see :mod:`ocfeh.train.uncertainty`).
    seed : int or sequence of int, default=0
        Seed of the Monte Carlo draws.
    id_columns : sequence of str
        Input columns copied to the output when present.
    min_bands : int, default=6
        Stars that miss bands, a distance or A_0 are predicted by the gap model when they have at least this
        many of its bands (0: never); ``model`` says which model predicted a row (``full``; ``pattern``, one
        of its own for a common missing pattern; ``gaps``, the model of all other patterns),
        ``missing`` what it lacked (``a0``: taken from the map's ``ebv``), ``<target>_mae_expected`` the
        blind-test MAE of that model on that pattern, valid where ``beyond_training`` is False.

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
    table = as_star_table(table)
    check_unique(table.columns, f"the table ({len(table)} rows)")
    pred = predictor if isinstance(predictor, Predictor) else load_predictor(predictor)
    check_columns(table.columns, pred.required_columns, f"the table ({len(table)} rows)")
    n = len(table)
    kept = {c: table[c].to_numpy() for c in id_columns if c in table}
    out: dict[str, Any] = {}
    reason = row_reasons(table, pred.required_columns)
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
                feats[pred.conformal[t].difficulty_features_], bins,
                None if sigma_mc is None else sigma_mc[t])
        else:
            half = {lv: np.full(len(sub), np.nan) for lv in LEVELS}
        if pred.interval_scale and t in pred.interval_scale:
            half = {lv: h * pred.interval_scale[t][f"{round(100 * lv)}"] for lv, h in half.items()}
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
    phot = pred.phot.check(table) if pred.phot is not None else None
    mb = np.full(n, "", dtype=object)
    if bins is not None:
        mb[ok] = bins
        mb[reason != ""] = ""
    out["mondrian_bin"] = mb
    model = np.where(reason == "", "full", "").astype(object)
    missing = np.full(n, "", dtype=object)
    mae = {t: np.full(n, np.nan) for t in pred.targets}
    if pred.gaps is not None:
        main = pred.gaps.main_mae(pred.point)
        for t in pred.targets:
            mae[t][reason == ""] = main.get(t, np.nan)
        todo = np.flatnonzero([r.startswith("missing ") and not r.startswith("missing column") for r in reason])
        if min_bands and len(todo):
            _fill_gaps(pred, table.iloc[todo], todo, min_bands, out, reason, model, missing, mae)
    out["model"], out["missing"] = model, missing
    for t in pred.targets:
        out[f"{t}_mae_expected"] = mae[t]
    out["beyond_training"] = pred.gaps.beyond_range(table) if pred.gaps is not None else np.zeros(n, bool)
    _flag_columns(out, phot, n)
    out["reason"] = reason
    kept = {(c if c not in out else f"{c}_input"): v for c, v in kept.items()}  # a user's own teff, say
    return pd.DataFrame({**kept, **out}, index=table.index)


def _flag_columns(out: dict, phot: dict | None, n: int) -> None:
    """``phot_z``, ``phot_band``, ``phot_offset`` of the photometric check, ``ood_flag`` widened by it, and
    ``flag_reason`` in words."""
    far = out["ood_flag"].copy()
    words = np.full(n, "", dtype=object)
    words[far] = [f"far from the training stars (OOD score {s:.2f})" for s in out["ood_score"][far]]
    if phot is not None:
        out["phot_z"], out["phot_band"], out["phot_offset"] = phot["z"], phot["band"], phot["offset"]
        off = phot["flag"]
        words[off] = [f"{b} off the training stars' colour locus by {o:+.2f} mag ({z:.1f} sigma)" + (f"; {w}" if w else "")
                      for b, o, z, w in zip(phot["band"][off], phot["offset"][off], phot["z"][off], words[off])]
        out["ood_flag"] = far | off
    out["flag_reason"] = words


def _fill_gaps(pred: Predictor, rows: pd.DataFrame, todo: np.ndarray, min_bands: int, out: dict,
               reason: np.ndarray, model: np.ndarray, missing: np.ndarray, mae: dict) -> None:
    """Predict the rejected rows ``todo`` with the gap model; write into the output arrays in place."""
    res = predict_gaps(pred.gaps, pred.ood, rows, min_bands)
    done = todo[res["predicted"]]
    for t in pred.targets:
        for name, col in interval_columns(t, res["values"][t], res["half"][t], dtype=np.float64).items():
            out[name][done] = col
        mae[t][done] = res["mae"][t]
    out["ood_score"][done] = res["ood_score"]
    out["ood_flag"][done] = np.nan_to_num(res["ood_score"], nan=0.0) > 1.0
    reason[done], model[done], missing[done] = "", res["model"], res["missing"]
    no_a0 = todo[~res["has_a0"] & (res["n_bands"] >= min_bands)]
    reason[no_a0] = [f"{r}; no map A_0 either (needs ebv, ra, dec)" for r in reason[no_a0]]
    few = todo[res["n_bands"] < min_bands]
    if len(few):
        n_have = res["n_bands"][res["n_bands"] < min_bands]
        reason[few] = [f"{r}; {k} of {len(pred.gaps.bands)} bands (min_bands {min_bands})"
                       for r, k in zip(reason[few], n_have)]


