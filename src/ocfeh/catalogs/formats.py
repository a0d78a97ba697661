"""Load a table file (FITS, Parquet, CSV, VOTable) into plain NumPy columns plus the units it states.

Array columns (one element per filter, as in J-PLUS ``MagABDualObj``) stay 2-D here; the readers
spread them into one column per band. Corrupt, empty or unknown files raise :class:`InputError`
naming the file.
"""

from __future__ import annotations

import csv
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..exceptions import InputError

__all__ = ["FORMATS", "RawTable", "guess_format", "load_table", "raw_from_arrow"]

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
        f"{', '.join(sorted(_SUFFIXES))}, or name the format (--format on the command line, format= in Python: "
        f"{', '.join(FORMATS)})"
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
            arr = _stack_arrays(arr) if arr.ndim == 1 else arr.astype(object)
            if arr.ndim == 2:  # variable-length arrays (VOTable arraysize="*") of one length
                cols[name] = arr
                continue
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
        if fmt == "votable":
            table = _votable_table(path)
        else:
            table = Table.read(path, format={"fits": "fits", "ecsv": "ascii.ecsv"}[fmt])
    return _from_astropy(path, table)


def _votable_table(path: Path):
    """The first table of a VOTable, after the TAP service's QUERY_STATUS: ERROR is raised with the
    service's message, OVERFLOW (the result cut at the row limit) is logged as a warning."""
    from astropy.io.votable import parse

    vot = parse(str(path))
    infos = list(vot.infos) + [i for r in vot.resources for i in r.infos]
    for info in infos:
        if info.name == "QUERY_STATUS" and str(info.value).upper() == "ERROR":
            raise InputError(f"{path}: the archive returned an error, not a table: {(info.content or '').strip()}")
        if info.name == "QUERY_STATUS" and str(info.value).upper() == "OVERFLOW":
            log.warning("%s: the archive cut this result at its row limit (QUERY_STATUS = OVERFLOW): rows are "
                        "missing; query smaller sky regions (ocfeh fetch pages them) or raise MAXREC", path)
    return vot.get_first_table().to_table()


def _load_parquet(path: Path, fmt: str) -> RawTable:
    import pyarrow.parquet as pq

    table = pq.read_table(path)
    return raw_from_arrow(table, path)


def raw_from_arrow(table, path: Path | str) -> RawTable:
    """A :class:`RawTable` of a pyarrow Table (list columns become 2-D arrays; nullable integers keep their
    nulls); ``path`` names it in messages and, for a local file written by astropy, gives its units."""
    import pyarrow as pa

    meta = table.schema.metadata or {}
    units: dict[str, str] = {}
    if b"table_meta_yaml" in meta and Path(path).is_file():  # written by astropy: it records the units
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
                # not to_numpy() with nulls: that casts to float
                arr = chunked.fill_null(False if pa.types.is_boolean(typ) else 0).to_numpy()
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
    with opener(path, "rt", errors="replace") as fh:
        for _ in range(n_comment):
            fh.readline()
        header = next(csv.reader([fh.readline()]), [])
    dup = sorted({h.strip() for h in header if header.count(h) > 1})
    if dup:
        log.warning("%s: duplicated column name(s) %s: the first of each is used", path, ", ".join(dup))
    _check_last_line(path, opener, len(df.columns))
    cols = {}
    for name in df.columns:
        s = df[name]
        arr = s.to_numpy(dtype=object) if s.dtype == object or str(s.dtype) in ("str", "string") else s.to_numpy()
        if arr.dtype == object and (stacked := _text_arrays(arr)) is not None:
            arr = stacked
        if arr.dtype.kind == "f" and _lost_integers(arr):  # an integer column with blanks: read its digits again
            text = pd.read_csv(path, usecols=[name], dtype=str, skiprows=n_comment, keep_default_na=True)[name]
            digits = text.str.fullmatch(r"\s*[+-]?\d+\s*")
            if bool((digits | text.isna()).all()):
                arr = np.array([None if pd.isna(t) else int(t) for t in text], dtype=object)
        cols[str(name)] = arr
    return RawTable(path, cols, {})


def _check_last_line(path: Path, opener, n_columns: int) -> None:
    """A file that ends inside a line with fewer fields than the header was cut short: refuse it; one
    that only lacks the final newline gets a warning (its last value may be cut)."""
    if path.name.lower().endswith(".gz"):
        return  # gzip checks its own integrity
    with open(path, "rb") as fh:
        fh.seek(max(0, path.stat().st_size - 65536))
        tail = fh.read()
    if tail.endswith((b"\n", b"\r")):
        return
    last = tail.rsplit(b"\n", 1)[-1].decode(errors="replace")
    n_fields = len(next(csv.reader([last]), []))
    if n_fields < n_columns:
        raise InputError(f"{path}: the last line has {n_fields} of the header's {n_columns} fields and no line "
                         "end: the file was cut short (an interrupted download?); fetch it again")
    log.warning("%s: the file does not end with a line end; if it was downloaded, check that it is complete", path)


def _stack_arrays(arr: np.ndarray) -> np.ndarray:
    """An object column whose cells are numeric arrays of one length as a 2-D float array (masked or
    empty cells NaN); any other object column unchanged."""
    cells = [np.ma.filled(np.ma.asarray(c, dtype=float), np.nan) if isinstance(c, (np.ndarray, list)) else None
             for c in arr[: min(len(arr), 50)]]
    if not cells or any(c is None or c.ndim != 1 for c in cells) or len({c.size for c in cells}) != 1:
        return arr.astype(object)
    width = cells[0].size
    out = np.full((len(arr), width), np.nan)
    for i, c in enumerate(arr):
        v = np.ma.filled(np.ma.asarray(c, dtype=float), np.nan).ravel()
        if v.size == width:
            out[i] = v
        elif v.size:
            return arr.astype(object)
    return out


_ARRAY_TEXT = re.compile(r"^\s*[\[{(]\s*[-+0-9.eEnaN]+(\s*,\s*[-+0-9.eEnaN]+)+\s*[\]})]\s*$")


def _text_arrays(values: np.ndarray) -> np.ndarray | None:
    """A text column of arrays (``{17.9,18.2,...}`` as TAP services and TOPCAT write them into CSV) as a
    2-D float array; None when it is not one."""
    sample = [v for v in values[:50] if isinstance(v, str)]
    if not sample or not all(_ARRAY_TEXT.match(v) for v in sample):
        return None
    rows = [np.array(v.strip()[1:-1].split(","), dtype=float) if isinstance(v, str) else None for v in values]
    widths = {r.size for r in rows if r is not None}
    if len(widths) != 1:
        return None
    out = np.full((len(rows), widths.pop()), np.nan)
    for i, r in enumerate(rows):
        if r is not None:
            out[i] = r
    return out


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
