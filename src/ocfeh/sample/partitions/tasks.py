"""What one partition of the anchor catalogue does: the joins, adoption and cuts of the in-memory path on the
partition's rows and its neighbours' margins, keeping only its own rows."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd

from ...exceptions import InputError
from ..adopt import adopt_distance, adopt_extinction
from ..assembly import OWNED, assemble
from ..build import annotated
from ..cleaning import CleaningSteps
from ..config import SampleConfig
from ..cuts import cut_mask, photometric_cuts
from ..zeropoints import TILE_COLUMN, apply_tile_offsets
from .gather import Layout, pixel_tables
from .keys import ROW, SPATIAL_INDEX

__all__ = ["SEP_BIN_ARCSEC", "catalog_partition", "partition_file", "sample_partition"]

SEP_BIN_ARCSEC = 1e-4
"""Bin of the separation histograms that give the whole sky's median separation (0.1 mas)."""


def _summary(steps: CleaningSteps, stats: dict) -> dict:
    """Counts and statistics of one partition, small enough to send back: separations as histograms."""
    out = {"steps": [r["step"] for r in steps.rows], "counts": [r["n_remaining"] for r in steps.rows],
           "settings": dict(steps.settings), "stats": {}}
    for name, s in stats.items():
        sep = s.get("separations", np.zeros(0))
        bins = np.arange(0.0, s["radius_arcsec"] + 2 * SEP_BIN_ARCSEC, SEP_BIN_ARCSEC)
        hist = np.histogram(sep, bins=bins)[0]
        out["stats"][name] = {"n_pairs": int(s["n_pairs"]), "n_ambiguous": int(s["n_ambiguous"]),
                              "n_rejected": int(s["n_rejected"]), "radius_arcsec": float(s["radius_arcsec"]),
                              "hist": {int(i): int(hist[i]) for i in np.flatnonzero(hist)}}
    return out


def _own_rows(df: pd.DataFrame) -> pd.DataFrame:
    own = df.loc[df[OWNED].to_numpy(bool)].drop(columns=[OWNED]).reset_index(drop=True)
    own.attrs = dict(df.attrs)
    return own


def sample_partition(layouts: dict[str, Layout], anchor: str, pixel: tuple[int, int], scfg: SampleConfig):
    """The labelled rows of one partition that pass the cuts (with :data:`ROW`), and its counts."""
    tables = pixel_tables(layouts, anchor, pixel)
    steps, stats = CleaningSteps(), {}
    df = _own_rows(assemble(tables, scfg.crossmatch, steps, stats))
    df, dist_src = adopt_distance(df, scfg.distance_source)
    df, ext_src = adopt_extinction(df, scfg.extinction_source)
    keep, _ = cut_mask(df, scfg.cuts, steps)
    kept = df.loc[keep].drop(columns=[SPATIAL_INDEX], errors="ignore")
    return kept, {**_summary(steps, stats), "distance_source": dist_src, "extinction_source": ext_src}


def partition_file(root: Path, pixel: tuple[int, int]) -> Path:
    """The HATS leaf file of ``pixel`` under a catalogue folder."""
    order, pix = pixel
    return Path(root) / "dataset" / f"Norder={order}" / f"Dir={(pix // 10_000) * 10_000}" / f"Npix={pix}.parquet"


def _float32(df: pd.DataFrame) -> pd.DataFrame:
    cols = [c for c in df.columns if c.startswith(("mag_", "flux_")) and df[c].dtype == np.float64]
    return df.astype(dict.fromkeys(cols, np.float32)) if cols else df


def catalog_partition(layouts: dict[str, Layout], anchor: str, pixel: tuple[int, int], scfg: SampleConfig,
                      offsets: pd.DataFrame | None, annotate: pd.DataFrame | None, root: Path, schema, meta: dict):
    """Write one partition of the catalogue (every star, no labels, no cuts) and return its counts.

    The leaf file is written under a temporary name and renamed, then its counts beside it: a partition
    with both is done, and a rerun skips it.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    done = Path(root) / "partition_counts" / f"{pixel[0]}_{pixel[1]}.json"
    if done.is_file() and partition_file(root, pixel).is_file():
        return json.loads(done.read_text())
    tables = pixel_tables(layouts, anchor, pixel)
    tables.pop("labels", None)
    steps, stats = CleaningSteps(), {}
    df = _own_rows(assemble(tables, scfg.crossmatch, steps, stats, optional=("catwise",)))
    df, dist_src = adopt_distance(df, scfg.distance_source)
    df, ext_src = adopt_extinction(df, scfg.extinction_source)
    if offsets is not None and TILE_COLUMN in df:
        df = apply_tile_offsets(df, offsets)
    df["phot_quality"], _ = cut_mask(df, photometric_cuts(scfg.cuts))
    df = _float32(annotated(df, annotate).drop(columns=[ROW], errors="ignore"))
    table = pa.Table.from_pandas(df, preserve_index=False)
    if schema is not None:
        try:
            table = table.select(schema.names).cast(schema)
        except (KeyError, ValueError, pa.ArrowInvalid) as err:
            raise InputError(f"partition Norder={pixel[0]}/Npix={pixel[1]}: its columns differ from the first "
                             f"partition's ({str(err).splitlines()[0]}); check that source's files") from None
    else:
        schema = table.schema
    table = table.replace_schema_metadata({**(schema.metadata or {}), b"ocfeh": json.dumps(meta).encode()})
    path = partition_file(root, pixel)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.part")
    pq.write_table(table, tmp, compression="zstd")
    os.replace(tmp, path)
    out = {**_summary(steps, stats), "n_rows": len(df), "n_phot_quality": int(df["phot_quality"].sum()),
           "distance_source": dist_src, "extinction_source": ext_src}
    done.parent.mkdir(parents=True, exist_ok=True)
    tmp_done = done.with_name(f".{done.name}.part")
    tmp_done.write_text(json.dumps(out))
    os.replace(tmp_done, done)
    return out
