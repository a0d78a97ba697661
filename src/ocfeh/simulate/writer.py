"""Deterministic chunked table writers: Parquet (one row group per chunk) and FITS conversion.

Byte-identical output for the same inputs: the schema comes from typed numpy arrays, the only
key-value metadata is ``ocfeh`` (table name, config hash, seed, ocfeh version; no time stamps),
compression is zstd, and FITS headers carry no dates.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

__all__ = ["ParquetSink", "parquet_to_fits", "to_arrow"]


def _array(values):
    import pyarrow as pa

    if isinstance(values, (pa.Array, pa.ChunkedArray)):
        return values
    a = np.asarray(values)
    if a.ndim == 2:
        flat = pa.array(np.ascontiguousarray(a).ravel())
        return pa.FixedSizeListArray.from_arrays(flat, a.shape[1])
    if a.dtype.kind in "OUS":
        return pa.array(a.astype(str).tolist() if a.size else [], type=pa.string())
    return pa.array(a)


def to_arrow(columns: dict):
    """A pyarrow Table from a dict of 1-D/2-D numpy arrays (2-D become fixed-size list columns)."""
    import pyarrow as pa

    return pa.table({k: _array(v) for k, v in columns.items()})


class ParquetSink:
    """Append chunks of one table to a Parquet file (written to a temporary name, renamed on close)."""

    def __init__(self, path: Path, table_name: str, meta: dict):
        self.path = Path(path)
        self.tmp = self.path.with_name(f".{self.path.name}.part")
        self.meta = {**meta, "table": table_name}
        self.writer = None
        self.schema = None
        self.n_rows = 0

    def write(self, columns: dict) -> None:
        """Append one chunk (a dict of arrays with the same columns every time)."""
        import pyarrow.parquet as pq

        table = to_arrow(columns)
        if self.writer is None:
            self.schema = table.schema.with_metadata({"ocfeh": json.dumps(self.meta, sort_keys=True)})
            self.writer = pq.ParquetWriter(self.tmp, self.schema, compression="zstd", use_dictionary=False,
                                           write_statistics=True)
        table = table.cast(self.schema)
        if table.num_rows:
            self.writer.write_table(table, row_group_size=1 << 20)
        self.n_rows += table.num_rows

    def close(self, empty_columns: dict | None = None) -> Path:
        """Finish the file; a table that never got rows is written with ``empty_columns``' schema."""
        if self.writer is None:
            self.write(empty_columns or {})
        self.writer.close()
        os.replace(self.tmp, self.path)
        return self.path

    def abort(self) -> None:
        """Drop the partial file."""
        if self.writer is not None:
            self.writer.close()
        if self.tmp.exists():
            self.tmp.unlink()


def parquet_to_fits(path: Path) -> Path:
    """Write ``<name>.fits`` beside a Parquet file (array columns become vector columns; the whole
    table is held in memory, so keep FITS for up to about 10^6 rows)."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    from astropy.table import Table

    from ..provenance import atomic_path

    path = Path(path)
    tab = pq.read_table(path)
    out = Table()
    for name in tab.column_names:
        col = tab.column(name).combine_chunks()
        if pa.types.is_fixed_size_list(col.type):
            width = col.type.list_size
            out[name] = np.asarray(col.flatten().to_numpy(zero_copy_only=False)).reshape(-1, width)
        elif pa.types.is_string(col.type) or pa.types.is_large_string(col.type):
            vals = col.to_pylist()
            out[name] = np.array(vals, dtype=str) if vals else np.zeros(0, dtype="U1")
        else:
            out[name] = col.to_numpy(zero_copy_only=False)
    meta = json.loads((tab.schema.metadata or {}).get(b"ocfeh", b"{}"))
    for key, hdr in (("config_hash", "CONFHASH"), ("seed", "SEED"), ("ocfeh_version", "OCFEHVER"), ("table", "TABNAME")):
        if key in meta:
            out.meta[hdr] = meta[key]
    fits_path = path.with_suffix(".fits")
    with atomic_path(fits_path) as tmp:
        out.write(tmp, format="fits", overwrite=True)
    return fits_path
