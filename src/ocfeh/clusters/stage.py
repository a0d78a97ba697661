"""The cluster stage: its inputs named one by one (:class:`ClusterInputs`), the analysis of every cluster,
and the files it writes.

Inputs: predictions (``source_id``, ``feh``, ``feh_err``, ``ood_flag``, ...), the catalogue members
(``cluster``/``Name``, ``source_id``/``GaiaDR3``, ``member_prob``/``Prob``), optionally the stars'
photometry and quality (a run's ``catalog.parquet``: ``mag_<band>``, ``distance_pc``, ``a0``,
``phot_quality``, truth), the cluster table (``cluster``/``Name``, on the mock sky ``feh_true`` and
``log_age_true``), the labelled sample (calibration, coverage) and the model directory (age offset).

Files written: ``clusters.csv`` (+ ``clusters.provenance.json``), ``cluster_members.parquet`` (per
star: outlier probabilities; our own members' ``member_prob_own``, ``in_catalogue``),
``cluster_member_steps.csv`` (members surviving each step), and ``clusters/<cluster>.png``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from ..bands import BANDS
from ..exceptions import InputError
from ..predict import load_predictor
from ..provenance import atomic_path, provenance, write_json, write_parquet
from ..synthphot import IsochroneMagnitudes, MagnitudeTable, load_isochrones
from .age_offset import AgeOffset, reference_log_ages, synthetic_zero_points
from .analyse import analyse_clusters, own_cones, seed_for
from .calibration import calibration_from_sample
from .config import ClusterConfig
from .coverage import training_box
from .members import normalise_members
from .tables import Table, parquet_parts, read_rows, read_table

__all__ = ["ClusterInputs", "read_table", "run_clusters", "age_offset_model"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ClusterInputs:
    """The tables of the cluster stage: each a path (Parquet, CSV, or a directory of Parquet parts) or a
    DataFrame; only ``predictions`` and ``members`` are required.

    Attributes
    ----------
    predictions, members : table
    stars : table, optional
        Photometry, ``phot_quality`` and truth by ``source_id``, joined to the predictions.
    clusters : table, optional
        The cluster table (names, positions, truth).
    training : path, optional
        The labelled sample with ``split`` (calibration, coverage, age-offset zero points).
    model : path, optional
        The model directory (age offset).
    """

    predictions: Table
    members: Table
    stars: Table | None = None
    clusters: Table | None = None
    training: Path | None = None
    model: Path | None = None

    @classmethod
    def of_run(cls, run_dir: str | Path, members: Table, clusters: Table | None = None, **given) -> ClusterInputs:
        """A run directory's own tables: ``predictions.parquet``, ``catalog.parquet``, ``sample.parquet`` and
        ``model/`` where they exist; ``members`` (and ``clusters``) named by the caller; ``given`` overrides."""
        run_dir = Path(run_dir)
        own = {"predictions": run_dir / "predictions.parquet", "stars": run_dir / "catalog.parquet",
               "training": run_dir / "sample.parquet", "model": run_dir / "model"}
        if not own["stars"].exists() and (run_dir / "catalog" / "dataset").is_dir():  # [sample] engine = "hats"
            own["stars"] = run_dir / "catalog"
        found = {k: p for k, p in own.items() if p.exists()}
        found.setdefault("predictions", own["predictions"])  # named in the error when absent
        values = {**found, **{k: v for k, v in given.items() if v is not None}}
        return cls(members=members, clusters=clusters, **values)


def _training_terms(sample: pd.DataFrame | None, training: Path | None, predictions: pd.DataFrame,
                    cfg: ClusterConfig, seed: int):
    """The [Fe/H] calibration and training coverage from the labelled sample (None where unavailable)."""
    if sample is None:
        return None, None
    if "split" not in sample:
        raise InputError(f"{training}: no split column ({len(sample)} rows); the calibration needs held-out rows")
    calibration = coverage = None
    if cfg.calibrate:
        calibration = calibration_from_sample(sample, predictions, splits=cfg.calibration_splits,
                                              n_per_axis=cfg.calibration_bins, min_bin=cfg.calibration_min_bin,
                                              seed=seed_for(seed, "calibration"), response=cfg.response,
                                              knot_step=cfg.response_knot_step)
    if cfg.train_coverage:
        coverage = training_box(sample[sample["split"] == "train"], cfg.coverage_columns, cfg.coverage_quantile,
                                predictions)
    return calibration, coverage


def _labelled_sample(training: Path | None, cfg: ClusterConfig) -> pd.DataFrame | None:
    """The labelled sample when the calibration, coverage or age offset need it (None, logged, without one)."""
    if not (cfg.calibrate or cfg.train_coverage or cfg.age_offset):
        return None
    if training is None:
        log.warning("clusters: no labelled sample; the cluster [Fe/H] is neither calibrated, held to the training "
                    "coverage nor corrected for age (set calibrate/train_coverage/age_offset = false to silence)")
        return None
    return read_table(training)


def _star_tables(inputs: ClusterInputs, members: pd.DataFrame, clusters: pd.DataFrame | None,
                 sample: pd.DataFrame | None, cfg: ClusterConfig) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """The predictions and stars the clusters use: the members, the labelled stars and, for our own
    membership, the field in each cluster's cone (:func:`~ocfeh.clusters.tables.read_rows`: a survey-scale
    table is scanned, never held whole)."""
    ids = [normalise_members(members)["source_id"]]
    if sample is not None and "source_id" in sample:
        ids.append(sample["source_id"])
    ids = np.unique(pd.to_numeric(pd.concat(ids, ignore_index=True), errors="coerce").dropna().astype(np.int64))
    cones = own_cones(clusters, cfg)
    if cones is not None:  # a margin of an arcsecond: the membership itself selects the cone
        cones = cones.assign(radius_deg=cones["radius_deg"] + 1.0 / 3600.0)
    stars = None
    if cones is not None and not {"ra", "dec"} <= set(_columns(inputs.predictions)):
        if inputs.stars is None or not {"ra", "dec"} <= set(_columns(inputs.stars)):
            cones = None  # no positions: the membership logs that it is skipped
        else:
            stars = read_rows(inputs.stars, ids, cones)
            ids, cones = np.union1d(ids, stars["source_id"].to_numpy(np.int64)), None
    predictions = read_rows(inputs.predictions, ids, cones)
    if stars is None and inputs.stars is not None:
        stars = read_rows(inputs.stars, predictions["source_id"].to_numpy(np.int64))
    log.info("clusters: %d predicted stars and %s catalogue rows used (members, labelled stars, cones)",
             len(predictions), len(stars) if stars is not None else 0)
    return predictions, stars


def _columns(table: Table) -> list[str]:
    """The column names of a table without reading its rows."""
    if isinstance(table, pd.DataFrame):
        return list(table.columns)
    path = Path(table)
    if path.suffix == ".csv":
        return list(pd.read_csv(path, nrows=0).columns)
    return pq.read_schema(parquet_parts(path)[0] if path.is_dir() else path).names


def age_offset_model(model_dir: Path | None, sample, iso, cfg: ClusterConfig, seed: int):
    """The :class:`AgeOffset` of a run (None, logged, without a model, a sample or isochrones)."""
    if not (cfg.age_offset and iso is not None):
        return None
    try:
        if sample is None:
            raise InputError("no labelled sample")
        if model_dir is None:
            raise InputError("no model directory")
        predictor = load_predictor(model_dir)
        unknown = [b for b in predictor.bands if b not in BANDS]
        if unknown:
            raise InputError(f"synthphot has no bands {unknown}")
        zero_points = synthetic_zero_points(sample[sample["split"].isin(cfg.calibration_splits)], predictor.bands)
    except InputError as err:
        log.warning("clusters: no age offset (%s; set age_offset = false to silence)", err)
        return None
    return AgeOffset(predictor, iso.grid, zero_points, reference_log_ages(*cfg.age_reference_gyr, cfg.age_reference_n),
                     n_draws=cfg.age_offset_draws, seed=seed)


def run_clusters(out_dir: str | Path, inputs: ClusterInputs, config: ClusterConfig | None = None,
                 seed: int = 0) -> Path:
    """The cluster stage: writes ``clusters.csv`` and its companions into ``out_dir``.

    Parameters
    ----------
    out_dir : str or Path
        Usually the run directory.
    inputs : ClusterInputs
        The tables (:meth:`ClusterInputs.of_run` names a run directory's own).
    config : ClusterConfig, optional
    seed : int

    Returns
    -------
    Path
        ``<out_dir>/clusters.csv``.
    """
    cfg = config or ClusterConfig()
    out_dir = Path(out_dir)
    if not isinstance(inputs.predictions, pd.DataFrame) and not Path(inputs.predictions).exists():
        raise InputError(f"{out_dir}: no predictions file {inputs.predictions} (run `ocfeh predict` first, or pass "
                         "--predictions)")
    names = {k: "<table>" if isinstance(v, pd.DataFrame) else (str(v) if v is not None else None)
             for k, v in vars(inputs).items()}
    log.info("clusters: inputs %s", names)
    members = read_table(inputs.members)
    clusters = read_table(inputs.clusters) if inputs.clusters is not None else None
    training = Path(inputs.training) if inputs.training is not None else None
    sample = _labelled_sample(training, cfg)
    predictions, stars = _star_tables(inputs, members, clusters, sample, cfg)
    iso = None
    if cfg.isochrones:
        grid = load_isochrones().subset()
        iso = IsochroneMagnitudes(grid, MagnitudeTable.build(grid.mh, bands=cfg.iso_bands))
    calibration, coverage = _training_terms(sample, training, predictions, cfg, seed)
    age_offset = age_offset_model(inputs.model, sample, iso, cfg, seed)
    table, per_star, steps = analyse_clusters(
        predictions, members, stars, clusters, cfg, seed, iso,
        figure_dir=out_dir / "clusters" if cfg.figures != "none" else None,
        calibration=calibration, coverage=coverage, age_offset=age_offset,
    )
    out = out_dir / "clusters.csv"
    with atomic_path(out) as tmp:
        table.to_csv(tmp, index=False)
    with atomic_path(out_dir / "cluster_member_steps.csv") as tmp:
        steps.to_csv(tmp, index=False)
    prov = provenance(cfg.model_dump(mode="json"), seed)
    write_parquet(per_star, out_dir / "cluster_members.parquet", {**prov, "stage": "clusters"})
    write_json(out_dir / "clusters.provenance.json", {
        "inputs": names,
        "n_clusters": len(table),
        "training": str(training) if calibration is not None or coverage or age_offset is not None else None,
        "feh_calibration": calibration.to_dict() if calibration is not None else None,
        "training_coverage": coverage or None,
        "age_offset": {"model": str(inputs.model), "zero_points": age_offset.zero_points,
                       "reference_log_ages": age_offset.reference.tolist()} if age_offset is not None else None,
        **prov,
    })
    log.info("clusters: wrote %s (%d clusters)", out, len(table))
    return out
