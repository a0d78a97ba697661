"""Tables of any size, a chunk at a time: Parquet (files, partitioned directories, HATS catalogues), CSV
and FITS inputs read by row range, and the output written one Parquet part per chunk, then merged."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from ..exceptions import InputError
from ..provenance import atomic_path

__all__ = ["Chunk", "column_names", "count_rows", "expand_inputs", "file_fingerprint", "merge_parts", "part_name",
           "plan_chunks", "read_chunk", "write_part"]


@dataclass(frozen=True)
class Chunk:
    index: int
    path: str
    fmt: str
    start: int
    stop: int


_FORMATS = {".parquet": "parquet", ".pq": "parquet", ".csv": "csv", ".fits": "fits", ".fit": "fits",
            ".fits.gz": "fits"}


def table_format(path: Path) -> str:
    name = path.name.lower()
    for ext in sorted(_FORMATS, key=len, reverse=True):
        if name.endswith(ext):
            return _FORMATS[ext]
    raise InputError(f"{path}: unknown table format; use Parquet (.parquet), CSV (.csv) or FITS (.fits)")


def _natural_key(p: Path) -> list:
    return [int(s) if s.isdigit() else s for s in re.split(r"(\d+)", str(p))]


def expand_inputs(inputs: Sequence[str | Path]) -> list[Path]:
    """Files in order: a directory (partitioned Parquet or a HATS catalogue) gives its Parquet files."""
    files: list[Path] = []
    for item in inputs:
        p = Path(item)
        if p.is_dir():
            root = p / "dataset" if (p / "dataset").is_dir() else p  # HATS: <cat>/dataset/Norder=*/Dir=*/Npix=*
            found = sorted((f for f in root.rglob("*.parquet") if not f.name.startswith(("_", "."))),
                           key=_natural_key)
            if not found:
                raise InputError(f"{p}: directory holds no Parquet files")
            files += found
        elif p.is_file():
            files.append(p)
        else:
            raise InputError(f"input not found: {p}")
    return files


def n_rows_of(path: Path, fmt: str) -> int:
    if fmt == "parquet":
        return pq.ParquetFile(path).metadata.num_rows
    if fmt == "fits":
        from astropy.io import fits

        with fits.open(path, memmap=True) as hdul:
            return int(_table_hdu(hdul, path).header["NAXIS2"])
    with open(path, "rb") as fh:
        return max(sum(chunk.count(b"\n") for chunk in iter(lambda: fh.read(1 << 22), b"")) - 1, 0)


def _table_hdu(hdul, path: Path):
    for hdu in hdul:
        if hdu.header.get("XTENSION") in ("BINTABLE", "TABLE"):
            return hdu
    raise InputError(f"{path}: FITS file has no table extension")


def plan_chunks(files: Sequence[Path], chunk_size: int) -> tuple[list[Chunk], list[dict]]:
    chunks, info = [], []
    for f in files:
        fmt = table_format(f)
        n = n_rows_of(f, fmt)
        st = f.stat()
        info.append({"path": str(f.resolve()), "n_rows": n, "size": st.st_size, "mtime": st.st_mtime})
        for start in range(0, n, chunk_size):
            chunks.append(Chunk(len(chunks), str(f), fmt, start, min(start + chunk_size, n)))
    return chunks, info


def column_names(path: Path, fmt: str) -> list[str]:
    if fmt == "parquet":
        return list(pq.ParquetFile(path).schema_arrow.names)
    if fmt == "fits":
        from astropy.io import fits

        with fits.open(path, memmap=True) as hdul:
            return list(_table_hdu(hdul, path).columns.names)
    return list(pd.read_csv(path, nrows=0).columns)


def read_chunk(chunk: Chunk, columns: Sequence[str] | None) -> pd.DataFrame:
    """Rows ``[start, stop)`` of one file, only ``columns`` (those present)."""
    path = Path(chunk.path)
    if chunk.fmt == "parquet":
        pf = pq.ParquetFile(path)
        names = pf.schema_arrow.names
        cols = [c for c in columns if c in names] if columns is not None else None
        md = pf.metadata
        groups, first, row = [], None, 0
        for g in range(md.num_row_groups):
            n = md.row_group(g).num_rows
            if row + n > chunk.start and row < chunk.stop:
                groups.append(g)
                first = row if first is None else first
            row += n
        tab = pf.read_row_groups(groups, columns=cols)
        tab = tab.slice(chunk.start - first, chunk.stop - chunk.start)
        return tab.to_pandas()
    if chunk.fmt == "fits":
        from astropy.io import fits

        with fits.open(path, memmap=True) as hdul:
            hdu = _table_hdu(hdul, path)
            names = hdu.columns.names
            cols = [c for c in columns if c in names] if columns is not None else names
            data = hdu.data[chunk.start:chunk.stop]
            out = {}
            for c in cols:
                a = np.asarray(data[c])
                out[c] = a.astype(a.dtype.newbyteorder("=")) if a.dtype.byteorder not in ("=", "|") else a
            return pd.DataFrame(out)
    header = column_names(path, "csv")
    cols = [c for c in columns if c in header] if columns is not None else None
    return pd.read_csv(path, usecols=cols, skiprows=range(1, chunk.start + 1), nrows=chunk.stop - chunk.start)


def part_name(index: int) -> str:
    return f"part-{index:06d}.parquet"


def write_part(df: pd.DataFrame, path: Path, meta: dict) -> None:
    tab = pa.Table.from_pandas(df, preserve_index=False)
    tab = tab.replace_schema_metadata({**(tab.schema.metadata or {}), b"ocfeh": json.dumps(meta).encode()})
    with atomic_path(path) as tmp:
        pq.write_table(tab, tmp)


def file_fingerprint(path: Path) -> str | None:
    try:
        md = pq.ParquetFile(path).schema_arrow.metadata or {}
        return json.loads(md.get(b"ocfeh", b"{}")).get("fingerprint")
    except (OSError, ValueError, pa.ArrowException):  # unreadable, not Parquet, or bad metadata: "not ours"
        return None


def count_rows(path: Path) -> int:
    return pq.ParquetFile(path).metadata.num_rows


def merge_parts(parts_dir: Path, n_chunks: int, output: Path, meta: dict) -> None:
    """Concatenate the parts in order into one Parquet file, one part in memory at a time."""
    with atomic_path(output) as tmp:
        writer = None
        try:
            for i in range(n_chunks):
                tab = pq.read_table(parts_dir / part_name(i))
                if writer is None:
                    schema = tab.schema
                    writer = pq.ParquetWriter(tmp, schema)
                elif tab.schema != schema:
                    tab = tab.cast(schema)
                writer.write_table(tab)
        finally:
            if writer is not None:
                writer.close()
