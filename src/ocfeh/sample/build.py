"""Build the two tables every later stage reads: the labelled training sample and the catalogue of every star."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd

from ..exceptions import InputError
from ..provenance import atomic_path, provenance, write_json, write_parquet
from ..synthphot import check_colours
from .adopt import adopt_distance, adopt_extinction
from .assembly import assemble, read_sources
from .cleaning import CleaningSteps, emptying_step
from .config import SampleConfig
from .cuts import apply_cuts, cut_mask, photometric_cuts
from .split import stratified_split
from .zeropoints import (
    TILE_COLUMN,
    ZeroPointConfig,
    apply_tile_offsets,
    fit_tile_offsets,
    read_tile_offsets,
    summarize_offsets,
)

__all__ = ["SamplePaths", "annotated", "build_catalog", "build_sample", "write_sample"]

log = logging.getLogger(__name__)


class SamplePaths(NamedTuple):
    """The files :func:`build_sample` writes.

    Attributes
    ----------
    sample : Path
        ``sample.parquet``: the canonical table with a ``split`` column; provenance in the Parquet
        key-value metadata under ``ocfeh``.
    cleaning : Path
        ``cleaning.csv``: step, n_remaining, n_removed, fraction, note (the poster's Table 1).
    meta : Path
        ``sample.json``: provenance, the cross-match statistics, the adopted distance/extinction sources.
    zero_points : Path or None
        ``zero_points.csv``: per-tile J-PLUS offsets removed from the magnitudes (None when not measured).
    """

    sample: Path
    cleaning: Path
    meta: Path
    zero_points: Path | None = None


def build_sample(config: SampleConfig, run_dir: str | Path, seed: int = 0, base_dir: str | Path = ".",
                 source: str = "[sample]", annotate: pd.DataFrame | None = None) -> SamplePaths:
    """Read, cross-match, cut, split and write the training sample into a run directory.

    Parameters
    ----------
    config : SampleConfig
        The ``[sample]`` section (for a run: ``cfg.section("sample").with_feature_bands(...)``).
    run_dir : str or Path
        Where the files go.
    seed : int, default=0
        The split and zero-point seed, unless ``[sample.split] seed`` sets its own.
    base_dir : str or Path, default="."
        The folder relative table paths are read from (the config file's).
    source : str
        Where the config came from, for error messages.
    annotate : DataFrame, optional
        Columns joined on ``source_id`` to the written table (the mock sky's truth), replacing any of the
        same name.

    Returns
    -------
    SamplePaths
        ``sample.parquet``, ``cleaning.csv`` and ``sample.json`` in the run directory (written atomically).
    """
    scfg = config
    if scfg.sources is None:
        raise InputError(f"{source}: [sample.sources] is missing: name the input tables "
                         "(e.g. [sample.sources.gaia] path = ..., reader = \"gaia\")")
    run_dir = Path(run_dir)
    seed = scfg.split.seed if scfg.split.seed is not None else seed
    tables = read_sources(scfg.sources, base_dir)
    steps, stats = CleaningSteps(), {}
    df = assemble(tables, scfg.crossmatch, steps, stats)
    df, dist_src = adopt_distance(df, scfg.distance_source)
    df, ext_src = adopt_extinction(df, scfg.extinction_source)
    kept, cleaning = apply_cuts(df, scfg.cuts, steps)
    return write_sample(kept, cleaning, steps.settings, scfg, run_dir, seed,
                        {"distance_source": dist_src, "extinction_source": ext_src, "crossmatch": stats}, annotate)


def write_sample(kept: pd.DataFrame, cleaning: pd.DataFrame, settings: dict[str, str], scfg: SampleConfig,
                 run_dir: Path, seed: int, record: dict, annotate: pd.DataFrame | None = None) -> SamplePaths:
    """Split the cut sample, remove tile zero points, check colours and write the sample's files.

    ``kept`` holds the rows that passed the cuts in the order the split sees them, ``cleaning`` the table of
    every step, ``settings`` the setting that relaxes each cut; ``record`` (the adopted distance and
    extinction sources, the cross-match statistics) goes into ``sample.json``. Both sample paths, in memory
    and partitioned, end here.
    """
    if len(kept) == 0:
        raise InputError(f"no star survives the cuts (started from {cleaning['n_remaining'].iloc[0]}); "
                         f"{emptying_step(cleaning, settings)}; the cleaning table:\n{cleaning.to_string(index=False)}")
    lab = [c for c in scfg.split.labels if c in kept]
    kept["split"] = stratified_split(kept[lab], scfg.split.fractions, scfg.split.n_bins, scfg.split.min_stratum, seed) \
        if lab else stratified_split(pd.DataFrame({"_": np.zeros(len(kept))}), scfg.split.fractions, 1, 3, seed)
    offsets, zp_summary = _tile_zero_points(kept, scfg.zero_points, seed)
    if offsets is not None:
        kept = apply_tile_offsets(kept, offsets)
    colours, colour_summary = check_colours(kept)
    meta = provenance({"sample": scfg.model_dump(mode="json")}, seed, stage="sample", **record,
                      n_rows=len(kept), split_counts=kept["split"].value_counts().to_dict(),
                      tile_zero_points=zp_summary, colour_check=colour_summary)
    paths = SamplePaths(run_dir / "sample.parquet", run_dir / "cleaning.csv", run_dir / "sample.json",
                        run_dir / "zero_points.csv" if offsets is not None else None)
    if offsets is not None:
        with atomic_path(paths.zero_points) as tmp:
            offsets.to_csv(tmp, index=False, float_format="%.6g")
    elif (run_dir / "zero_points.csv").exists():
        (run_dir / "zero_points.csv").unlink()  # a stale file would be applied to the catalogue
    if colours is not None:
        with atomic_path(run_dir / "colour_check.csv") as tmp:
            colours.to_csv(tmp, index=False, float_format="%.5g")
    elif (run_dir / "colour_check.csv").exists():
        (run_dir / "colour_check.csv").unlink()
    write_parquet(annotated(kept, annotate), paths.sample, meta)
    with atomic_path(paths.cleaning) as tmp:
        cleaning.to_csv(tmp, index=False, float_format="%.6g")
    write_json(paths.meta, {**meta, "cleaning": cleaning.to_dict(orient="records")})
    log.info("wrote %s (%d stars: %s)", paths.sample, len(kept), meta["split_counts"])
    return paths


def annotated(df: pd.DataFrame, annotate: pd.DataFrame | None) -> pd.DataFrame:
    """``df`` with the columns of ``annotate`` joined on ``source_id`` (replacing any of the same name)."""
    if annotate is None:
        return df
    extra = [c for c in annotate.columns if c != "source_id"]
    return df.drop(columns=[c for c in extra if c in df]).merge(annotate, on="source_id", how="left")


def _tile_zero_points(kept: pd.DataFrame, cfg: ZeroPointConfig, seed: int) -> tuple[pd.DataFrame | None, dict]:
    """Per-tile offsets measured on the labelled sample, or None with the reason it was skipped."""
    if not cfg.enabled:
        return None, {"skipped": "disabled ([sample.zero_points] enabled = false)"}
    try:  # fit_tile_offsets names any missing column or too few tiles
        offsets = fit_tile_offsets(kept, cfg, seed=seed)
    except InputError as err:  # expected, so not a warning, for tables without J-PLUS tiles
        level = logging.WARNING if TILE_COLUMN in kept else logging.INFO
        log.log(level, "tile zero points skipped: %s", err)
        return None, {"skipped": str(err)}
    return offsets, {"file": "zero_points.csv", "bands": summarize_offsets(offsets)}


def build_catalog(config: SampleConfig, path: str | Path, zero_points: str | Path | pd.DataFrame | None = None,
                  seed: int = 0, base_dir: str | Path = ".", source: str = "[sample]",
                  annotate: pd.DataFrame | None = None) -> Path:
    """Cross-match the photometric tables without labels or cuts: every star to predict for.

    The same readers, joins and adopted distance/extinction as :func:`build_sample`, minus the labels
    table, the quality cuts and the split; rows the model cannot use are flagged at prediction.
    ``zero_points`` (the sample's ``zero_points.csv`` or its table) are removed from the J-PLUS
    magnitudes, so the catalogue is calibrated as the training sample was. The boolean column
    ``phot_quality`` marks the stars whose photometry passes the sample's cuts on photometry
    (:func:`~ocfeh.sample.cuts.photometric_cuts`): the cluster stage takes only those for a cluster's [Fe/H].
    ``seed`` is recorded in the file's provenance; ``base_dir``, ``source`` and ``annotate`` as in
    :func:`build_sample`.
    """
    scfg = config
    if scfg.sources is None:
        raise InputError(f"{source}: [sample.sources] is missing: name the input tables")
    tables = read_sources(scfg.sources, base_dir)
    tables.pop("labels", None)
    steps, stats = CleaningSteps(), {}
    df = assemble(tables, scfg.crossmatch, steps, stats, optional=("catwise",))
    df, dist_src = adopt_distance(df, scfg.distance_source)
    df, ext_src = adopt_extinction(df, scfg.extinction_source)
    zp_note = None
    if zero_points is not None:
        offsets = zero_points if isinstance(zero_points, pd.DataFrame) else read_tile_offsets(zero_points)
        if TILE_COLUMN in df:
            df = apply_tile_offsets(df, offsets)
            zp_note = str(zero_points) if not isinstance(zero_points, pd.DataFrame) else "given table"
        else:
            log.warning("catalogue lacks %s: tile zero points not applied", TILE_COLUMN)
    good, _ = cut_mask(df, photometric_cuts(scfg.cuts))
    df["phot_quality"] = good
    log.info("catalogue: %d of %d stars pass the sample's photometric cuts", int(good.sum()), len(df))
    meta = provenance({"sample": scfg.model_dump(mode="json")}, seed, stage="catalog",
                      distance_source=dist_src, extinction_source=ext_src, crossmatch=stats, n_rows=len(df),
                      tile_zero_points=zp_note)
    write_parquet(annotated(df.reset_index(drop=True), annotate), Path(path), meta)
    log.info("wrote %s (%d stars)", path, len(df))
    return Path(path)
