"""Assemble the sample: read each source table through its reader and join them into one row per star."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from ..catalogs import crossmatch, crossmatch_lsdb, join_matches, read_catalog
from ..exceptions import InputError
from .cleaning import CleaningSteps
from .config import CrossmatchConfig, SourcesConfig, SourceSpec

__all__ = ["OWNED", "assemble", "read_sources"]

log = logging.getLogger(__name__)

OWNED = "_owned"
"""Boolean column of a partition's own rows (the rest are its neighbours' margin rows): when present, the
cleaning counts and the match statistics count only these rows, so partitions add up to the whole sky."""


def read_sources(sources: SourcesConfig, base_dir: str | Path = ".") -> dict[str, pd.DataFrame]:
    """Read every configured table through its reader (relative paths against ``base_dir``)."""
    out = {}
    for name in SourcesConfig.model_fields:
        spec: SourceSpec | None = getattr(sources, name)
        if spec is None:
            continue
        path = Path(spec.path)
        if not path.is_absolute():
            path = Path(base_dir) / path
        df = read_catalog(path, spec.reader, format=spec.format, column_map=spec.column_map or None)
        if spec.epoch is not None:
            df.attrs["epoch"] = spec.epoch
        log.info("read %s: %d rows from %s (reader %s)", name, len(df), path, spec.reader)
        out[name] = df
    return out


def _match(left: pd.DataFrame, right: pd.DataFrame, radius: float, cfg: CrossmatchConfig):
    if OWNED in left and OWNED in right:
        return crossmatch(left, right, radius, n_jobs=cfg.n_jobs, count_left=left[OWNED].to_numpy(bool),
                          count_right=right[OWNED].to_numpy(bool))
    fn = crossmatch_lsdb if cfg.method == "lsdb" else crossmatch
    return fn(left, right, radius, n_jobs=cfg.n_jobs)


def _count(df: pd.DataFrame) -> int:
    return int(df[OWNED].sum()) if OWNED in df else len(df)


def _attach(base: pd.DataFrame, other: pd.DataFrame, name: str, radius: float, cfg: CrossmatchConfig,
            stats: dict, how: str = "inner") -> pd.DataFrame:
    """Join ``other`` to ``base`` by a positional match; base positions (Gaia) move to other's epoch.

    ``how="left"`` keeps base rows without a counterpart (``other``'s columns NaN).
    """
    res = _match(other, base, radius, cfg)
    sep = res.sep_arcsec[base[OWNED].to_numpy(bool)[res.idx_right]] if OWNED in base else res.sep_arcsec
    stats[name] = {"n_pairs": len(sep), "n_ambiguous": res.n_ambiguous, "n_rejected": res.n_rejected,
                   "radius_arcsec": radius, "median_sep_arcsec": float(np.median(sep)) if len(sep) else None}
    if OWNED in base:  # a partition: its separations, for the whole sky's median
        stats[name]["separations"] = sep
    swapped = res._replace(idx_left=res.idx_right, idx_right=res.idx_left)
    out = join_matches(base, other.drop(columns=[OWNED], errors="ignore"), swapped, how=how, suffix=f"_{name}",
                       sep_column=f"sep_{name}_arcsec")
    return out


def _join_id(base: pd.DataFrame, other: pd.DataFrame, on: str | list[str], name: str) -> pd.DataFrame:
    keys = [on] if isinstance(on, str) else on
    for k in keys:
        if k not in base or k not in other:
            raise InputError(f"cannot join {name} on {k!r}: the column is missing from one of the tables")
    dup = other.duplicated(keys)
    if dup.any():
        log.info("%s: %d duplicate %s rows dropped before the join", name, int(dup.sum()), "/".join(keys))
        other = other[~dup]
    extra = [c for c in other.columns if c not in base.columns or c in keys]
    out = base.merge(other[extra], on=keys, how="left")
    out.attrs = dict(base.attrs)
    return out


def assemble(tables: dict[str, pd.DataFrame], cfg: CrossmatchConfig, steps: CleaningSteps | None = None,
             stats: dict | None = None, optional: tuple[str, ...] = ()) -> pd.DataFrame:
    """Join the tables into one row per star (inner joins; each join is a cleaning-table step).

    The anchor is Gaia when present (``ra``/``dec`` are then Gaia's, epoch 2016.0, and J-PLUS positions
    are kept as ``ra_jplus``/``dec_jplus``), else J-PLUS, else CatWISE, else the labels. Gaia
    astrophysical parameters and distances join on ``source_id``; J-PLUS extinction on tile and number.
    Tables named in ``optional`` are left-joined: rows without a counterpart stay, with NaN columns.
    """
    steps = steps if steps is not None else CleaningSteps()
    stats = stats if stats is not None else {}
    if "table" in tables:
        df = tables["table"]
        steps.add("input table", _count(df))
        return df
    order = [n for n in ("gaia", "jplus", "catwise", "labels") if n in tables]
    anchor = order[0]
    df = tables[anchor]
    steps.add(f"{anchor} rows read", _count(df))
    radius = {"jplus": cfg.radius_jplus_gaia_arcsec, "catwise": cfg.radius_catwise_arcsec,
              "labels": cfg.radius_labels_arcsec, "gaia": cfg.radius_jplus_gaia_arcsec}
    for name in order[1:]:
        df = _attach(df, tables[name], name, radius[name], cfg, stats, "left" if name in optional else "inner")
        s = stats[name]
        steps.add(f"x {name} ({radius[name]:g} arcsec)", _count(df),
                  f"{s['n_ambiguous']} ambiguous, {s['n_rejected']} not mutual")
        if name == "jplus" and "jplus_extinction" in tables:
            df = _join_id(df, tables["jplus_extinction"], ["jplus_tile_id", "jplus_number"], "jplus_extinction")
    if "jplus_extinction" in tables and "jplus" not in order[1:] and anchor == "jplus":
        df = _join_id(df, tables["jplus_extinction"], ["jplus_tile_id", "jplus_number"], "jplus_extinction")
    for name in ("gaia_ap", "distances"):
        if name in tables:
            df = _join_id(df, tables[name], "source_id", name)
    return df
