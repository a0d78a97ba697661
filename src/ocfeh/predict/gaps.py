"""Predictions for stars the main model cannot take: missing bands, no distance, no GSP-Phot A_0.

A star that misses inputs is predicted by the gap model (:mod:`ocfeh.train.gaps`) when it keeps at least
``min_bands`` of the configured bands. A missing A_0 is taken from the 2D map the J-PLUS table carries
(``ebv``, scaled to the star's distance by :func:`~ocfeh.sample.map_a0`). Its *pattern* (which bands,
whether the distance, whether A_0 came from the map) sets its intervals and its expected MAE: the
validation rows saved with the gap model are masked to the same pattern and predicted, their absolute
residuals give the 68%/95% split-conformal half-widths, and the blind-test rows masked alike give the
expected MAE (``<target>_mae_expected``). Its novelty score is the kNN score of the main model's
reference stars in the absolute magnitudes the star still has.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..exceptions import InputError
from ..provenance import checked_file
from ..sample import map_a0
from ..schema import mag_col
from ..train.features import FeatureConfig, bands_of_features, make_features
from ..train.gaps import (
    DISTANCE,
    GAPS_DIR,
    REFERENCE_FILE,
    galactic_latitude,
    mask_to_pattern,
    missing_flags,
    pattern_keys,
)
from ..train.model import StellarParameterModel
from ..train.uncertainty import LEVELS

__all__ = ["MIN_BANDS", "GapModel", "load_gap_model", "predict_gaps"]

log = logging.getLogger(__name__)

MIN_BANDS = 6
"""Default of ``[predict] min_bands``: the fewest configured bands a star needs for a gap-model prediction."""
_N_CALIBRATION = 5000  # reference rows per split used per pattern (bounds the cost of a new pattern)


def _conformal_quantile(abs_res: np.ndarray, level: float) -> float:
    r = np.sort(abs_res[np.isfinite(abs_res)])
    if len(r) == 0:
        return float("nan")
    k = min(len(r) - 1, int(np.ceil((len(r) + 1) * level)) - 1)
    return float(r[k])


@dataclass
class GapModel:
    """The gap model of a model directory, its reference rows and the per-pattern calibration.

    Parameters
    ----------
    model : StellarParameterModel
        Trees trained on masked copies of the train rows (all configured bands' features).
    bands : list of str
        The configured bands (a star needs ``min_bands`` of them).
    reference : DataFrame
        Validation and blind-test rows (canonical columns, labels, ``split``).
    patterns : dict of str -> StellarParameterModel, optional
        Models of their own for the catalogue's common missing patterns (they take these patterns' stars).
    """

    model: StellarParameterModel
    bands: list[str]
    reference: pd.DataFrame
    patterns: dict[str, StellarParameterModel] = field(default_factory=dict)
    _patterns: dict[str, dict[str, Any]] = field(default_factory=dict, repr=False)
    _ood: dict[tuple, Any] = field(default_factory=dict, repr=False)

    @property
    def targets(self) -> list[str]:
        return list(self.model.models)

    @property
    def input_columns(self) -> list[str]:
        """Columns the gap path reads when present: every band, the map's E(B-V) and the position."""
        return [mag_col(b) for b in self.bands] + ["ebv", "ra", "dec"]

    @property
    def feature_config(self) -> dict[str, Any]:
        """The :class:`~ocfeh.train.FeatureConfig` fields the gap model was trained with."""
        return next(iter(self.model.models.values())).feature_config or {}

    @property
    def needs_a0(self) -> bool:
        """Whether the features need A_0 (they de-redden, or take it as a feature)."""
        cfg = self.feature_config
        return cfg.get("extinction", "auto") != "none" or bool(cfg.get("a0_feature"))

    def _features(self, table: pd.DataFrame, names) -> pd.DataFrame:
        table = table.assign(**{mag_col(b): np.nan for b in self.bands if mag_col(b) not in table})
        return make_features(table, FeatureConfig(**self.feature_config), names=list(names))

    def point(self, table: pd.DataFrame, key: str | None = None) -> dict[str, np.ndarray]:
        """Point predictions of ``table``: by the model of pattern ``key`` if it has one, else the gap model."""
        model = self.patterns.get(key, self.model) if key is not None else self.model
        names: list[str] = []
        for m in model.models.values():
            names += [f for f in m.feature_names_in_ if f not in names]
        X = self._features(table, names)
        return {t: np.asarray(m.predict(X[m.feature_names_in_]), float) for t, m in model.models.items()}

    # -- inputs
    def fill(self, table: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray, np.ndarray, np.ndarray]:
        """``table`` with bad magnitudes and distances set NaN and A_0 from the map where missing; the
        boolean (n, n_bands) of missing bands, the pattern key of each row and whether it has an A_0."""
        miss, no_d, from_map, no_a0 = missing_flags(table, self.bands)
        if not self.needs_a0:
            from_map, no_a0 = np.zeros_like(from_map), np.zeros_like(no_a0)
        t = table.copy()
        for j, b in enumerate(self.bands):
            if mag_col(b) in t:
                t.loc[miss[:, j], mag_col(b)] = np.nan
        d = t["distance_pc"].to_numpy(np.float64) if "distance_pc" in t else np.full(len(t), np.nan)
        t["distance_pc"] = np.where(no_d, np.nan, d)
        a0 = t["a0"].to_numpy(np.float64, copy=True) if "a0" in t else np.full(len(t), np.nan)
        if from_map.any():
            rows = np.flatnonzero(from_map)
            b = galactic_latitude(t["ra"].to_numpy()[rows], t["dec"].to_numpy()[rows])
            a0[rows] = map_a0(t["ebv"].to_numpy(np.float64)[rows], b, t["distance_pc"].to_numpy()[rows])
        a0[no_a0] = np.nan
        t["a0"] = a0
        return t, miss, pattern_keys(miss, no_d, from_map, self.bands), ~no_a0

    # -- per-pattern calibration
    def _calibration_rows(self) -> pd.DataFrame:
        """Up to ``_N_CALIBRATION`` val and test rows each, with their galactic latitude (for map A_0)."""
        if "__rows__" not in self._patterns:
            ref = self.reference.groupby("split", group_keys=False, sort=False).head(_N_CALIBRATION)
            ref = ref[ref["split"].isin(["val", "test"])].copy()
            if {"ra", "dec"} <= set(ref):
                ref["b_deg"] = galactic_latitude(ref["ra"], ref["dec"])
            self._patterns["__rows__"] = ref
        return self._patterns["__rows__"]

    def pattern(self, key: str) -> dict[str, Any]:
        """Half-widths (68%, 95%) from the masked validation rows and the blind-test MAE of a pattern."""
        if key not in self._patterns:
            stats: dict[str, Any] = {"n_val": 0, "n_test": 0}
            ref = mask_to_pattern(self._calibration_rows(), key)
            values = self.point(ref, key) if len(ref) else {t: np.empty(0) for t in self.targets}
            for split in ("val", "test"):
                rows = (ref["split"] == split).to_numpy()
                stats[f"n_{split}"] = int(rows.sum())
                for t in self.targets:
                    res = np.abs(values[t][rows] - ref[t].to_numpy(float)[rows])
                    if split == "val":
                        stats[t] = {lv: _conformal_quantile(res, lv) for lv in LEVELS}
                    else:
                        stats[f"{t}_mae"] = float(np.nanmean(res)) if np.isfinite(res).any() else float("nan")
            self._patterns[key] = stats
        return self._patterns[key]

    def beyond_range(self, table: pd.DataFrame) -> np.ndarray:
        """Whether each star's G lies outside the 0.5-99.5% range of the reference stars' (NaN G: False).

        The expected MAE and the intervals were measured on those stars; fainter ones have noisier photometry
        than any the models saw (on the mock sky the MAE beyond the range is several times the expected)."""
        if "mag_G" not in table or "mag_G" not in self.reference:
            return np.zeros(len(table), bool)
        lo, hi = np.nanquantile(self.reference["mag_G"].to_numpy(float), [0.005, 0.995])
        g = table["mag_G"].to_numpy(np.float64)
        return (g < lo) | (g > hi)

    def main_mae(self, point) -> dict[str, float]:
        """Blind-test MAE of the main model (``point``: the predictor's point prediction) on the reference."""
        if "__main__" not in self._patterns:
            ref = self.reference[self.reference["split"] == "test"].head(_N_CALIBRATION)
            values = point(ref) if len(ref) else {}
            self._patterns["__main__"] = {
                t: float(np.nanmean(np.abs(v - ref[t].to_numpy(float)))) if len(v) else float("nan")
                for t, v in values.items()}
        return self._patterns["__main__"]

    def ood_score(self, ood, table: pd.DataFrame, missing_bands: set[str], no_distance: bool) -> np.ndarray:
        """kNN novelty of ``table`` in the main model's OOD features the pattern leaves (NaN if under two)."""
        if ood is None:
            return np.full(len(table), np.nan)
        keep = [i for i, f in enumerate(ood.feature_names_in_)
                if not set(bands_of_features([f])) & missing_bands and not (no_distance and f.startswith("M_"))]
        if len(keep) < 2:
            return np.full(len(table), np.nan)
        key = tuple(keep)
        if key not in self._ood:
            from sklearn.neighbors import KDTree

            z = np.asarray(ood.tree_.data)[:, keep]
            tree = KDTree(z, leaf_size=40)
            dist, _ = tree.query(z, k=ood.k + 1)  # leave-one-out: the nearest is the point itself
            self._ood[key] = (tree, float(np.quantile(dist[:, 1:].mean(axis=1), ood.quantile)))
        tree, threshold = self._ood[key]
        names = [ood.feature_names_in_[i] for i in keep]
        X = self._features(table, names).to_numpy(np.float64)
        out = np.full(len(table), np.nan)
        ok = np.isfinite(X).all(axis=1)
        if ok.any():
            z = (X[ok] - ood.center_[keep]) / ood.scale_[keep]
            out[ok] = tree.query(z, k=ood.k)[0].mean(axis=1) / threshold
        return out


def load_gap_model(model_dir: str | Path) -> GapModel | None:
    """The gap model of ``model_dir`` (``model_dir/gaps/``), or None when it was trained without one."""
    import json

    gdir = Path(model_dir) / GAPS_DIR
    if not (gdir / "gaps.json").is_file():
        return None
    try:
        settings = json.loads((gdir / "gaps.json").read_text())
        bands = list(settings["bands"])
    except (ValueError, KeyError, TypeError) as err:
        raise InputError(f"{gdir / 'gaps.json'} is not a gap-model card ({err}); retrain (ocfeh train) or "
                         f"remove {gdir} to predict complete stars only") from None
    patterns = {k: StellarParameterModel.load(gdir / sub) for k, sub in settings.get("patterns", {}).items()}
    ref_path = checked_file(gdir / REFERENCE_FILE, settings.get("reference_sha256"), gdir / "gaps.json")
    try:
        reference = pd.read_parquet(ref_path)
    except (OSError, ValueError) as err:
        raise InputError(f"{ref_path}: not a readable Parquet file ({type(err).__name__}); retrain (ocfeh train) "
                         f"or remove {gdir} to predict complete stars only") from None
    return GapModel(StellarParameterModel.load(gdir), bands, reference, patterns)


def predict_gaps(gaps: GapModel, ood, table: pd.DataFrame, min_bands: int) -> dict[str, Any]:
    """Gap-model predictions of ``table`` (rows the main model rejected).

    Returns ``predicted`` (boolean per row), ``values`` and ``half`` (target -> level -> half-width) of the
    predicted rows, ``missing`` (pattern key), ``model`` (``pattern`` or ``gaps``), ``mae`` (target ->
    expected MAE), ``ood_score``, ``n_bands`` (the configured bands each row has) and ``has_a0``.
    """
    filled, miss, keys, has_a0 = gaps.fill(table)
    n_bands = (~miss).sum(axis=1)
    ok = (n_bands >= min_bands) & has_a0
    sub, sub_keys = filled[ok], keys[ok]
    values = {t: np.full(len(sub), np.nan) for t in gaps.targets}
    half = {t: {lv: np.full(len(sub), np.nan) for lv in LEVELS} for t in gaps.targets}
    mae = {t: np.full(len(sub), np.nan) for t in gaps.targets}
    score = np.full(len(sub), np.nan)
    which = np.full(len(sub), "gaps", dtype=object)
    own = np.isin(sub_keys, list(gaps.patterns))
    if (~own).any():  # one call of the gap model for every pattern without a model of its own
        for t, v in gaps.point(sub[~own]).items():
            values[t][~own] = v
    for key in pd.unique(sub_keys):
        rows = sub_keys == key
        if key in gaps.patterns:
            for t, v in gaps.point(sub[rows], key).items():
                values[t][rows] = v
            which[rows] = "pattern"
        stats = gaps.pattern(key)
        for t in gaps.targets:
            for lv in LEVELS:
                half[t][lv][rows] = stats[t][lv]
            mae[t][rows] = stats[f"{t}_mae"]
        parts = set(key.split(","))
        score[rows] = gaps.ood_score(ood, sub[rows], parts, DISTANCE in parts)
    # a pattern its reference could not calibrate (no ebv for a map A_0) is not predicted
    keep = np.all([np.isfinite(half[t][LEVELS[0]]) for t in gaps.targets], axis=0)
    if not keep.all():
        ok[np.flatnonzero(ok)[~keep]] = False
        values = {k: v[keep] for k, v in values.items()}
        half = {k: {lv: h[keep] for lv, h in v.items()} for k, v in half.items()}
        mae = {k: v[keep] for k, v in mae.items()}
        score, sub_keys, which = score[keep], sub_keys[keep], which[keep]
    return {"predicted": ok, "values": values, "half": half, "missing": sub_keys, "mae": mae,
            "ood_score": score, "n_bands": n_bands, "model": which, "has_a0": has_a0}
