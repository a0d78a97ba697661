"""Tables of any size, a chunk at a time: Parquet (files, partitioned directories, HATS catalogues) and FITS
inputs read by row range (CSV files parsed into Parquet first), and the output written one Parquet part per
chunk, then merged."""

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
from .inputs import stage_csv, table_hdu

__all__ = ["Chunk", "column_names", "count_rows", "expand_inputs", "file_fingerprint", "merge_parts", "part_name",
           "plan_chunks", "read_chunk", "table_format", "write_part"]


@dataclass(frozen=True)
class Chunk:
    index: int
    path: str
    fmt: str
    start: int
    stop: int
    source: str = ""
    """The user's file when ``path`` is its Parquet copy (a CSV input); else empty."""

    @property
    def origin(self) -> str:
        return self.source or self.path


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
    try:
        if fmt == "parquet":
            return pq.ParquetFile(path).metadata.num_rows
        from astropy.io import fits

        with fits.open(path, memmap=True) as hdul:
            return int(table_hdu(hdul, path).header["NAXIS2"])
    except (OSError, pa.ArrowException, KeyError) as err:
        raise InputError(f"{path}: not a readable {fmt.upper()} table ({type(err).__name__}: "
                         f"{str(err).splitlines()[0] if str(err) else ''}); check the file or its suffix") from None


def plan_chunks(files: Sequence[Path], chunk_size: int, stage_dir: Path | None = None,
                number_columns: Sequence[str] = (), skip_bad_lines: bool = False) -> tuple[list[Chunk], list[dict]]:
    """The chunks of ``files`` and a record of each file (path, rows, size, time). CSV files are parsed once
    into Parquet files in ``stage_dir`` (:func:`~ocfeh.predict.inputs.stage_csv`), which the chunks read."""
    chunks, info = [], []
    for k, f in enumerate(files):
        fmt = table_format(f)
        read = f
        if fmt == "csv":
            if stage_dir is None:
                raise InputError(f"{f}: CSV inputs need a staging folder (predict_table makes one)")
            read, fmt = Path(stage_dir) / f"input-{k:05d}.parquet", "parquet"
            n = stage_csv(f, read, number_columns, skip_bad_lines)
        else:
            n = n_rows_of(f, fmt)
        st = f.stat()
        info.append({"path": str(f.resolve()), "n_rows": n, "size": st.st_size, "mtime": st.st_mtime})
        for start in range(0, n, chunk_size):
            chunks.append(Chunk(len(chunks), str(read), fmt, start, min(start + chunk_size, n),
                                str(f) if read != f else ""))
    return chunks, info


def column_names(path: Path, fmt: str) -> list[str]:
    if fmt == "parquet":
        return list(pq.ParquetFile(path).schema_arrow.names)
    from astropy.io import fits

    with fits.open(path, memmap=True) as hdul:
        return list(table_hdu(hdul, path).columns.names)


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
            hdu = table_hdu(hdul, path)
            names = hdu.columns.names
            cols = [c for c in columns if c in names] if columns is not None else names
            data = hdu.data[chunk.start:chunk.stop]
            out = {}
            for c in cols:
                a = np.asarray(data[c])
                out[c] = a.astype(a.dtype.newbyteorder("=")) if a.dtype.byteorder not in ("=", "|") else a
            return pd.DataFrame(out)
    raise InputError(f"{path}: chunks are read from Parquet or FITS ({chunk.fmt} given)")


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
