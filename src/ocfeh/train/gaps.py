"""The gap model: one regressor per target for stars that miss bands, a distance or a GSP-Phot A_0.

Real photometry is incomplete (faint red stars lose uJAVA, J0378 and J0395 first; CatWISE misses many
faint stars; two-parameter Gaia sources have no BP, RP or parallax). The main model needs every band it
selected; the gap model takes all the configured bands' features and is trained on copies of the train
rows in which groups of inputs are masked at random (each group missing with probability
``mask_probability``), so that LightGBM's own missing-value handling learns what each absence leaves.
The groups follow the surveys: each J-PLUS band alone, W1 and W2 alone, BP and RP together, the distance,
and A_0 (replaced by the map's). The catalogue's most common patterns (``[model] gap_patterns``) get a
model of their own besides, trained on the train rows masked to that pattern: on the mock sky it is the
more accurate of the two where it exists (``benchmarks/bench_gaps.py``).

The validation and blind-test rows are saved beside it (``reference.parquet``): the predict stage masks
them to each star's own pattern to calibrate that pattern's intervals and to give its expected MAE
(:mod:`ocfeh.predict.gaps`).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from ..provenance import file_sha256, provenance, write_json, write_parquet
from ..sample.adopt import map_a0
from ..schema import A0_MIN, LABELS, MAG_LIMIT, mag_col
from .features import FeatureConfig, bands_of_features, make_features
from .model import ModelConfig, StellarParameterModel, TargetModel

__all__ = ["A0_MAP", "DISTANCE", "GAPS_DIR", "PATTERNS_DIR", "REFERENCE_FILE", "common_patterns", "galactic_latitude",
           "mask_groups", "mask_to_pattern", "masked_copies", "missing_flags", "pattern_features", "pattern_keys",
           "save_gap_models", "train_gap_models"]

log = logging.getLogger(__name__)

GAPS_DIR = "gaps"
"""Sub-directory of a model directory that holds the gap model."""
PATTERNS_DIR = "patterns"
"""Sub-directory of the gap model that holds one model per common missing pattern."""
REFERENCE_FILE = "reference.parquet"
"""The validation and blind-test rows the gap model is calibrated and scored on, per missing pattern."""
DISTANCE = "distance"
"""Name of the distance in a mask group and in the ``missing`` output column."""
A0_MAP = "a0"
"""Name of A_0 in a mask group and in the ``missing`` output column (A_0 taken from the map)."""
_TOGETHER = (("BP", "RP"),)  # bands a survey loses together (Gaia two-parameter sources)
_NEVER = ("G",)  # every Gaia source has G
_REFERENCE_EXTRA = ("source_id", "ra", "dec", "ebv", "distance_pc", "a0", "split")


def mask_groups(bands) -> list[tuple[str, ...]]:
    """The groups of inputs masked together: BP+RP, each other band but G alone, the distance, and A_0
    (replaced by the map's, as the predict stage does for a star without a GSP-Phot A_0)."""
    bands = list(bands)
    together = [tuple(b for b in g if b in bands) for g in _TOGETHER]
    together = [g for g in together if g]
    grouped = {b for g in together for b in g}
    alone = [(b,) for b in bands if b not in grouped and b not in _NEVER]
    return [*together, *alone, (DISTANCE,), (A0_MAP,)]


def masked_copies(rows: pd.DataFrame, bands, n_copies: int, mask_probability: float,
                  rng: np.random.Generator) -> pd.DataFrame:
    """``rows`` once as they are and ``n_copies`` times with each mask group NaN with probability
    ``mask_probability``: bands and the distance set NaN, A_0 replaced by :func:`~ocfeh.sample.map_a0` of
    the row's ``ebv`` (when the rows have ``ebv``, ``ra`` and ``dec``)."""
    groups = mask_groups(bands)
    out = [rows]
    for _ in range(n_copies):
        copy = rows.copy()
        hit = rng.random((len(rows), len(groups))) < mask_probability
        for j, group in enumerate(groups):
            for name in group:
                col = {DISTANCE: "distance_pc", A0_MAP: "a0"}.get(name, mag_col(name))
                if col in copy and name != A0_MAP:
                    copy.loc[hit[:, j], col] = np.nan
        a0_hit = hit[:, groups.index((A0_MAP,))]
        if {"ebv", "ra", "dec", "a0"} <= set(copy) and a0_hit.any():
            sub = copy.loc[a0_hit]
            copy.loc[a0_hit, "a0"] = map_a0(sub["ebv"], galactic_latitude(sub["ra"], sub["dec"]), sub["distance_pc"])
        out.append(copy)
    return pd.concat(out, ignore_index=True)


def galactic_latitude(ra_deg, dec_deg) -> np.ndarray:
    """Galactic latitude (deg) of ICRS positions."""
    import astropy.units as u
    from astropy.coordinates import SkyCoord

    return SkyCoord(ra=np.asarray(ra_deg, float) * u.deg, dec=np.asarray(dec_deg, float) * u.deg).galactic.b.deg


def mask_to_pattern(table: pd.DataFrame, key: str) -> pd.DataFrame:
    """A copy of complete rows made to look like a pattern ``key``: its bands and distance NaN, A_0 from the
    map (no rows when the table has no ``ebv``, ``ra``, ``dec`` for that; a ``b_deg`` column, the galactic
    latitude, saves its computation)."""
    parts = set(key.split(",")) if key else set()
    out = table.copy()
    for part in parts - {DISTANCE, A0_MAP}:
        out[mag_col(part)] = np.nan
    if DISTANCE in parts:
        out["distance_pc"] = np.nan
    if A0_MAP in parts:
        if not {"ebv", "ra", "dec"} <= set(out):
            return out.iloc[:0]
        b = out["b_deg"] if "b_deg" in out else galactic_latitude(out["ra"], out["dec"])
        out["a0"] = map_a0(out["ebv"], b, out["distance_pc"])
    return out


def missing_flags(table: pd.DataFrame, bands) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per row: the (n, n_bands) missing bands (NaN or a sentinel), no positive distance, A_0 to be taken
    from the map (no usable ``a0`` but an ``ebv``), and no A_0 at all."""
    n = len(table)
    miss = np.column_stack([~(np.abs(table[mag_col(b)].to_numpy(np.float64)) < MAG_LIMIT) if mag_col(b) in table
                            else np.ones(n, bool) for b in bands]) if len(bands) else np.zeros((n, 0), bool)
    d = table["distance_pc"].to_numpy(np.float64) if "distance_pc" in table else np.full(n, np.nan)
    a0 = table["a0"].to_numpy(np.float64) if "a0" in table else np.full(n, np.nan)
    no_a0 = ~(a0 >= A0_MIN)
    has_map = {"ebv", "ra", "dec"} <= set(table) and np.isfinite(table["ebv"].to_numpy(np.float64))
    from_map = no_a0 & has_map if isinstance(has_map, np.ndarray) else np.zeros(n, bool)
    return miss, ~(d > 0), from_map, no_a0 & ~from_map


def pattern_keys(miss: np.ndarray, no_distance: np.ndarray, a0_from_map: np.ndarray, bands) -> np.ndarray:
    """The pattern of each row: its missing bands, ``distance`` and ``a0`` (from the map), comma-joined."""
    flags = np.column_stack([miss, no_distance, a0_from_map])
    names = [*bands, DISTANCE, A0_MAP]
    if not len(flags):
        return np.zeros(0, dtype=object)
    code = flags @ (1 << np.arange(flags.shape[1], dtype=np.int64))
    uniq, inverse = np.unique(code, return_inverse=True)
    labels = np.array([",".join(nm for j, nm in enumerate(names) if (u >> j) & 1) for u in uniq], dtype=object)
    return labels[inverse.reshape(-1)]


def common_patterns(table: pd.DataFrame, bands, n: int, min_bands: int) -> list[str]:
    """The ``n`` most common missing patterns of a catalogue among its stars with at least ``min_bands``
    bands and an A_0 (complete stars, the main model's, left out)."""
    miss, no_d, from_map, no_a0 = missing_flags(table, bands)
    keys = pattern_keys(miss, no_d, from_map, bands)
    usable = ((~miss).sum(axis=1) >= min_bands) & ~no_a0 & (keys != "")
    return [str(k) for k in pd.Series(keys[usable]).value_counts().index[:n]]


def pattern_features(names, key: str) -> list[str]:
    """The features of ``names`` a star of pattern ``key`` has (no missing band; no M_ without distance)."""
    parts = set(key.split(",")) if key else set()
    return [f for f in names
            if not set(bands_of_features([f])) & parts and not (DISTANCE in parts and f.startswith("M_"))]


def _fit(target, feats, y, fcfg, mcfg, results, seed) -> TargetModel:
    res = (results or {}).get(target)
    params, n_trees = (res.params, res.n_estimators) if res is not None else (mcfg.base_params(), mcfg.n_estimators)
    return TargetModel(target, mcfg.backend, params, n_trees, mcfg.objective,
                       feature_config=fcfg.model_dump(mode="json"), seed=seed, n_jobs=mcfg.n_jobs).fit(feats, y)


def train_gap_models(table: pd.DataFrame, fcfg: FeatureConfig, mcfg: ModelConfig, results: dict | None = None,
                     seed: int = 42, patterns=()) -> tuple[StellarParameterModel, dict[str, StellarParameterModel]]:
    """The gap model and one model per pattern of ``patterns``, on the ``train`` rows of ``table``.

    The gap model is fitted on masked copies of the rows (:func:`masked_copies`); a pattern's model on the
    rows masked to that pattern, with the features that pattern leaves. Each target takes its main model's
    tuned hyper-parameters and tree count (``results``: target -> SelectionResult), else the ``[model]``
    base ones; trees only (the network needs complete features).
    """
    rows = table[table["split"] == "train"]
    bands = fcfg.resolved_bands()
    copies = masked_copies(rows, bands, mcfg.gap_copies, mcfg.gap_mask_probability, np.random.default_rng(seed))
    feats = make_features(copies, fcfg)
    gap = StellarParameterModel({t: _fit(t, feats, copies[t].to_numpy(float), fcfg, mcfg, results, seed)
                                 for t in mcfg.targets})
    log.info("gap model: %d features, %d masked training rows", feats.shape[1], len(copies))
    own = {}
    for key in patterns:
        masked = mask_to_pattern(rows, key)
        if len(masked) < 2:  # a map A_0 the sample cannot give (no ebv): the gap model serves the pattern
            continue
        f = make_features(masked, fcfg)
        f = f[pattern_features(f.columns, key)]
        own[key] = StellarParameterModel({t: _fit(t, f, masked[t].to_numpy(float), fcfg, mcfg, results, seed)
                                          for t in mcfg.targets})
        log.info("pattern model %r: %d features", key, f.shape[1])
    return gap, own


def _slug(key: str) -> str:
    return "complete" if not key else key.replace(",", "+")


def save_gap_models(models: tuple[StellarParameterModel, dict[str, StellarParameterModel]], table: pd.DataFrame,
                    out_dir: str | Path, fcfg: FeatureConfig, mcfg: ModelConfig, cfg_dict: dict, seed: int) -> Path:
    """Write the gap model, the pattern models (``patterns/<pattern>/``), the settings (``gaps.json``) and
    the reference rows into ``out_dir``."""
    gap, own = models
    out_dir = Path(out_dir)
    gap.save(out_dir, config=cfg_dict)
    for key, model in own.items():
        model.save(out_dir / PATTERNS_DIR / _slug(key), config=cfg_dict)
    ref = table[table["split"].isin(["val", "test"])]
    cols = [mag_col(b) for b in fcfg.resolved_bands()] + [c for c in _REFERENCE_EXTRA if c in ref]
    cols += [t for t in LABELS if t in ref]
    meta = provenance(cfg_dict, seed, stage="train")
    write_parquet(ref[list(dict.fromkeys(cols))].reset_index(drop=True), out_dir / REFERENCE_FILE, meta)
    write_json(out_dir / "gaps.json", {"bands": list(fcfg.resolved_bands()),
                                       "groups": [list(g) for g in mask_groups(fcfg.resolved_bands())],
                                       "mask_probability": mcfg.gap_mask_probability, "copies": mcfg.gap_copies,
                                       "patterns": {k: f"{PATTERNS_DIR}/{_slug(k)}" for k in own},
                                       "reference_sha256": file_sha256(out_dir / REFERENCE_FILE),
                                       "provenance": meta})
    return out_dir
