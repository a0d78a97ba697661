"""Load a table file (FITS, Parquet, CSV, VOTable) into plain NumPy columns plus the units it states.

Array columns (one element per filter, as in J-PLUS ``MagABDualObj``) stay 2-D here; the readers
spread them into one column per band. Corrupt, empty or unknown files raise :class:`InputError`
naming the file.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..exceptions import InputError

__all__ = ["FORMATS", "RawTable", "guess_format", "load_table"]

log = logging.getLogger(__name__)

FORMATS = ("fits", "parquet", "csv", "votable", "ecsv")
_SUFFIXES = {
    ".fits": "fits", ".fit": "fits", ".fts": "fits", ".fits.gz": "fits",
    ".parquet": "parquet", ".pq": "parquet",
    ".csv": "csv", ".csv.gz": "csv", ".txt": "csv",
    ".xml": "votable", ".vot": "votable", ".votable": "votable",
    ".ecsv": "ecsv", ".ecsv.gz": "ecsv",  # astropy's text format (astroquery, the Gaia archive)
}


@dataclass
class RawTable:
    """The columns of one file, before any mapping.

    Attributes
    ----------
    path : Path
        The file read.
    columns : dict of str to ndarray
        Column name (as in the file) to a 1-D array, or a 2-D array ``(n_rows, n_elements)`` for
        array columns.
    units : dict of str to str
        Units the file states for some columns (FITS ``TUNIT``, VOTable ``unit``, astropy Parquet
        metadata); empty for CSV.
    """

    path: Path
    columns: dict[str, np.ndarray]
    units: dict[str, str] = field(default_factory=dict)

    @property
    def n_rows(self) -> int:
        """Number of rows."""
        return len(next(iter(self.columns.values()))) if self.columns else 0


def guess_format(path: str | Path) -> str:
    """The format of a file from its suffix (``fits``, ``parquet``, ``csv`` or ``votable``)."""
    name = Path(path).name.lower()
    for suffix in sorted(_SUFFIXES, key=len, reverse=True):
        if name.endswith(suffix):
            return _SUFFIXES[suffix]
    raise InputError(
        f"{path}: cannot tell the format from the file name; use one of the suffixes "
        f"{', '.join(sorted(_SUFFIXES))} or pass format= ({', '.join(FORMATS)})"
    )


def load_table(path: str | Path, format: str | None = None) -> RawTable:
    """Read every column of a table file.

    Parameters
    ----------
    path : str or Path
        The file.
    format : {"fits", "parquet", "csv", "votable"}, optional
        Guessed from the suffix when omitted.

    Returns
    -------
    RawTable

    Raises
    ------
    InputError
        The file is missing, empty, corrupt or has no rows.
    """
    path = Path(path)
    fmt = format or guess_format(path)
    if fmt not in FORMATS:
        raise InputError(f"{path}: unknown format {fmt!r}; known formats: {', '.join(FORMATS)}")
    if not path.is_file():
        raise InputError(f"table file not found: {path}")
    if path.stat().st_size == 0:
        raise InputError(f"{path}: the file is empty (0 bytes)")
    try:
        raw = {"fits": _load_astropy, "votable": _load_astropy, "ecsv": _load_astropy, "parquet": _load_parquet,
               "csv": _load_csv}[fmt](
            path, fmt
        )
    except InputError:
        raise
    except Exception as err:  # noqa: BLE001 - any parser failure means a corrupt file for the user
        raise InputError(f"{path}: cannot be read as {fmt} ({type(err).__name__}: {err})") from None
    if not raw.columns or raw.n_rows == 0:
        raise InputError(f"{path}: the table has no rows")
    return raw


def _unit_str(unit) -> str | None:
    if unit is None:
        return None
    text = unit.to_string() if hasattr(unit, "to_string") else str(unit)
    return text or None


def _from_astropy(path: Path, table) -> RawTable:
    cols: dict[str, np.ndarray] = {}
    units: dict[str, str] = {}
    for name in table.colnames:
        col = table[name]
        data = np.ma.getdata(col)
        mask = np.ma.getmaskarray(col) if hasattr(col, "mask") else None
        arr = np.asarray(data)
        if arr.dtype.kind in "SU":
            arr = arr.astype(str)
        elif arr.dtype.kind == "O":
            arr = arr.astype(object)
        if mask is not None and mask.any():
            if arr.dtype.kind in "iu":  # exact integers (64-bit IDs do not fit a float), None where masked
                arr = _nullable_ints(arr, mask)
            elif arr.dtype.kind == "b":
                arr = arr.astype(float)
            if arr.dtype.kind == "f":
                arr = np.where(mask, np.nan, arr)
            else:
                arr = np.where(mask, None, arr).astype(object)
        if arr.dtype.byteorder not in ("=", "|"):
            arr = arr.astype(arr.dtype.newbyteorder("="))
        cols[name] = arr
        u = _unit_str(getattr(col, "unit", None))
        if u:
            units[name] = u
    return RawTable(path, cols, units)


def _load_astropy(path: Path, fmt: str) -> RawTable:
    import warnings

    from astropy.table import Table

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # unrecognised units etc.: we check the units we need
        table = Table.read(path, format={"fits": "fits", "votable": "votable", "ecsv": "ascii.ecsv"}[fmt])
    return _from_astropy(path, table)


def _load_parquet(path: Path, fmt: str) -> RawTable:
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pq.read_table(path)
    meta = table.schema.metadata or {}
    units: dict[str, str] = {}
    if b"table_meta_yaml" in meta:  # written by astropy: it records the units
        import warnings

        from astropy.table import Table

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            atab = Table.read(path, format="parquet")
        units = {n: u for n in atab.colnames if (u := _unit_str(atab[n].unit))}
    cols: dict[str, np.ndarray] = {}
    for name in table.column_names:
        chunked = table.column(name)
        typ = chunked.type
        if pa.types.is_list(typ) or pa.types.is_large_list(typ) or pa.types.is_fixed_size_list(typ):
            arr = chunked.combine_chunks() if chunked.num_chunks != 1 else chunked.chunk(0)
            lengths = arr.value_lengths().to_numpy(zero_copy_only=False)
            valid = ~np.asarray(arr.is_null().to_numpy(zero_copy_only=False), bool)
            width = int(lengths[valid].max()) if valid.any() else 0
            if valid.any() and not np.all(lengths[valid] == width):
                raise InputError(f"{path}: array column {name!r} has rows of different lengths")
            out = np.full((len(arr), width), np.nan)
            if valid.any():
                flat = arr.flatten().to_numpy(zero_copy_only=False).astype(float)
                out[valid] = flat.reshape(-1, width)
            cols[name] = out
        elif pa.types.is_string(typ) or pa.types.is_large_string(typ):
            cols[name] = np.asarray(chunked.to_numpy(zero_copy_only=False), dtype=object)
        else:
            if chunked.null_count and (pa.types.is_integer(typ) or pa.types.is_boolean(typ)):
                null = np.asarray(chunked.is_null().to_numpy(zero_copy_only=False), bool)
                arr = chunked.fill_null(0).to_numpy()  # not to_numpy() with nulls: that casts to float
                arr = _nullable_ints(arr, null) if pa.types.is_integer(typ) else np.where(null, np.nan, arr.astype(float))
            else:
                arr = chunked.to_numpy()
            cols[name] = arr
    return RawTable(path, cols, units)


def _load_csv(path: Path, fmt: str) -> RawTable:
    import gzip

    import pandas as pd

    opener = gzip.open if path.name.lower().endswith(".gz") else open
    with opener(path, "rt", errors="replace") as fh:  # leading '#' comment lines (VizieR, TAP exports)
        n_comment = 0
        for line in fh:
            if not line.startswith("#"):
                break
            n_comment += 1
    try:
        df = pd.read_csv(path, low_memory=False, skiprows=n_comment)
    except pd.errors.EmptyDataError:
        raise InputError(f"{path}: the CSV file has no header and no rows") from None
    cols = {}
    for name in df.columns:
        s = df[name]
        arr = s.to_numpy(dtype=object) if s.dtype == object or str(s.dtype) in ("str", "string") else s.to_numpy()
        if arr.dtype.kind == "f" and _lost_integers(arr):  # an integer column with blanks: read its digits again
            text = pd.read_csv(path, usecols=[name], dtype=str, skiprows=n_comment, keep_default_na=True)[name]
            digits = text.str.fullmatch(r"\s*[+-]?\d+\s*")
            if bool((digits | text.isna()).all()):
                arr = np.array([None if pd.isna(t) else int(t) for t in text], dtype=object)
        cols[str(name)] = arr
    return RawTable(path, cols, {})


def _nullable_ints(arr: np.ndarray, null: np.ndarray) -> np.ndarray:
    """Integers as an object array of Python ints, None where ``null`` (no float: 64-bit IDs stay exact)."""
    out = arr.astype(np.int64).astype(object)
    out[null] = None
    return out


def _lost_integers(arr: np.ndarray) -> bool:
    """A float column whose finite values are integers beyond 2^53, with NaNs: what pandas makes of a
    64-bit integer column with blanks (the digits are lost, so the column is read again as text)."""
    finite = np.isfinite(arr)
    if finite.all() or not finite.any():
        return False
    v = arr[finite]
    return bool(np.all(v == np.round(v)) and np.abs(v).max() > 2.0**53)
