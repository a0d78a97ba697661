"""The cluster stage's tables: read whole, or only the rows the clusters use.

A survey-scale run predicts millions of stars of which the clusters use a few thousand: the catalogue
members, the labelled stars (calibration, coverage) and the field stars in the cones of our own
membership. :func:`read_rows` scans a Parquet file, a directory of parts or a HATS catalogue batch by
batch and keeps only those rows, in their order, so the stage's memory follows the clusters, not the sky.

>>> import pandas as pd
>>> t = pd.DataFrame({"source_id": [1, 2, 3], "ra": [10.0, 10.05, 200.0], "dec": [5.0, 5.0, -30.0]})
>>> cones = pd.DataFrame({"ra": [10.0], "dec": [5.0], "radius_deg": [0.1]})
>>> read_rows(t, ids=[3], cones=cones)["source_id"].tolist()
[1, 2, 3]
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as pds

from ..catalogs.matching import unit_vectors
from ..exceptions import InputError

__all__ = ["Table", "read_table", "read_rows", "parquet_parts"]

Table = str | Path | pd.DataFrame

BATCH_ROWS = 262_144


def parquet_parts(path: Path) -> list[Path]:
    """The Parquet files of a directory: a HATS catalogue's ``dataset/Norder=*/Dir=*/Npix=*.parquet``, else
    the directory's own ``*.parquet`` (names starting with ``_`` or ``.`` left out)."""
    parts = sorted((path / "dataset").rglob("Npix=*.parquet")) if (path / "dataset").is_dir() else \
        sorted(p for p in path.glob("*.parquet") if not p.name.startswith(("_", ".")))
    if not parts:
        raise InputError(f"{path}: a directory without Parquet parts")
    return parts


def read_table(table: Table) -> pd.DataFrame:
    """A DataFrame of a path (Parquet file, directory of parts or HATS catalogue, or CSV) or the DataFrame itself."""
    if isinstance(table, pd.DataFrame):
        return table
    path = Path(table)
    if not path.exists():
        raise InputError(f"{path} does not exist")
    if path.is_dir():
        return pd.concat([pd.read_parquet(p) for p in parquet_parts(path)], ignore_index=True)
    if path.suffix == ".csv":
        return pd.read_csv(path)
    return pd.read_parquet(path)


def read_rows(table: Table, ids: Iterable[int] | None = None, cones: pd.DataFrame | None = None) -> pd.DataFrame:
    """The rows of ``table`` whose ``source_id`` is in ``ids`` or whose position lies in one of ``cones``.

    Parameters
    ----------
    table : path or DataFrame
        As :func:`read_table`; a Parquet file, directory or HATS catalogue is scanned in batches of
        ``BATCH_ROWS`` (a CSV or a DataFrame is filtered in memory).
    ids : iterable of int, optional
        ``source_id`` values to keep.
    cones : DataFrame, optional
        ``ra``, ``dec``, ``radius_deg`` [deg]: rows inside any are kept; needs the table's ``ra``/``dec``.

    Returns
    -------
    DataFrame
        The kept rows in the table's order, with a fresh index.
    """
    ids = pa.array(np.unique(np.asarray(list(ids) if ids is not None else [], dtype=np.int64)))
    if isinstance(table, pd.DataFrame) or Path(table).suffix == ".csv":
        df = read_table(table)
        keys = pa.RecordBatch.from_pandas(df[[c for c in ("source_id", "ra", "dec") if c in df]], preserve_index=False)
        return df[_keep(keys, ids, cones, table)].reset_index(drop=True)
    path = Path(table)
    if not path.exists():
        raise InputError(f"{path} does not exist")
    files = parquet_parts(path) if path.is_dir() else [path]
    dataset = pds.dataset([str(f) for f in files], format="parquet")
    kept = []
    for batch in dataset.to_batches(batch_size=BATCH_ROWS):
        if batch.num_rows:
            kept.append(batch.filter(pa.array(_keep(batch, ids, cones, path))))
    out = pa.Table.from_batches(kept, schema=dataset.schema)
    return out.to_pandas().reset_index(drop=True)


def _keep(batch: pa.RecordBatch, ids: pa.Array, cones: pd.DataFrame | None, where) -> np.ndarray:
    """Mask of the rows of ``batch`` named by ``ids`` or inside ``cones``."""
    names = batch.column_names
    if "source_id" not in names:
        raise InputError(f"{where}: no source_id column (the cluster stage joins its tables on it)")
    col = batch.column("source_id")
    keep = pc.is_in(col, value_set=ids.cast(col.type)).to_numpy(zero_copy_only=False) if len(ids) else \
        np.zeros(batch.num_rows, bool)
    if cones is not None and len(cones):
        if not {"ra", "dec"} <= set(names):
            raise InputError(f"{where}: no ra/dec columns for the cones of the own membership")
        ra, dec = (batch.column(c).cast(pa.float64()).to_numpy(zero_copy_only=False) for c in ("ra", "dec"))
        keep |= in_cones(ra, dec, cones)  # nulls are NaN: outside
    return keep


def in_cones(ra: np.ndarray, dec: np.ndarray, cones: pd.DataFrame) -> np.ndarray:
    """Mask of the positions [deg] inside any of ``cones`` (``ra``, ``dec``, ``radius_deg``); NaN is outside."""
    xyz = unit_vectors(ra, dec)
    centres = unit_vectors(cones["ra"].to_numpy(float), cones["dec"].to_numpy(float))
    cos_r = np.cos(np.deg2rad(cones["radius_deg"].to_numpy(float)))
    with np.errstate(invalid="ignore"):
        return (xyz @ centres.T >= cos_r).any(axis=1)
