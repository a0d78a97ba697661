"""A survey's own table in the canonical schema, ready to predict: the reader's mapping, then the distance
and extinction the sample stage would adopt."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ..catalogs import read_catalog
from ..exceptions import InputError
from ..provenance import provenance, write_parquet
from .adopt import adopt_distance, adopt_extinction

__all__ = ["adopt_where_missing", "convert_table"]


def adopt_where_missing(df: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, str]]:
    """``distance_pc`` and ``a0`` as the sample stage sets them (Bailer-Jones, parallax; GSP-Phot, 3.1 E(B-V)),
    where the table has a source for them and not the columns themselves; returns what was adopted."""
    adopted = {}
    if "distance_pc" not in df:
        out, src = adopt_distance(df, "auto")
        if src != "none":
            df, adopted["distance_pc"] = out, src
    if "a0" not in df and "ebv" in df:
        df, _ = adopt_extinction(df, "ebv")
        adopted["a0"] = "3.1 ebv"
    return df, adopted


def convert_table(path: str | Path, reader: str, output: str | Path, format: str | None = None,
                  column_map: dict[str, str] | None = None, overwrite: bool = False) -> tuple[pd.DataFrame, dict]:
    """Read ``path`` through ``reader``, adopt distance and extinction where missing, write ``output``
    (Parquet, with provenance); the table and what was adopted."""
    path, output = Path(path), Path(output)
    if output.suffix != ".parquet":
        raise InputError(f"{output}: the output must be a .parquet file")
    if output.resolve() == path.resolve():
        raise InputError(f"{output} is the input: choose another output")
    if output.exists() and not overwrite:
        raise InputError(f"{output} exists; pass --overwrite to replace it")
    df = read_catalog(path, reader, format=format, column_map=column_map)
    df.attrs = {}
    df, adopted = adopt_where_missing(df)
    write_parquet(df, output, provenance({"path": str(path), "reader": reader}, None, stage="convert",
                                         reader=reader, source=str(path), adopted=adopted))
    return df, adopted
