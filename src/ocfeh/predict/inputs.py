"""A user's star table read without losing or bending rows: CSV through a real parser (row counts from the
parser, malformed lines refused with their line numbers or skipped and counted), text in number columns
named with its first rows, and magnitude columns that hold fluxes refused."""

from __future__ import annotations

import logging
import re
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from ..exceptions import InputError
from .checks import check_unique

__all__ = ["NULL_STRINGS", "check_magnitudes", "check_number_columns", "is_number_column", "stage_csv", "table_hdu"]

log = logging.getLogger(__name__)

NULL_STRINGS = ("", "NaN", "nan", "NAN", "null", "NULL", "None", "NA", "N/A", "--")
"""Strings read as a missing value in CSV number columns (``--`` is how astropy writes a masked value)."""
_NUMBER_PREFIXES = ("mag_", "a0", "distance", "parallax", "ebv")
_SHOWN = 5  # bad rows named in a message


def is_number_column(name: str) -> bool:
    """A canonical column that holds numbers (magnitudes, their errors, A_0, distances, parallaxes, E(B-V))."""
    return name.startswith(_NUMBER_PREFIXES) or name in ("ra", "dec")


def stage_csv(path: Path, out: Path, number_columns: Sequence[str], skip_bad_lines: bool = False) -> int:
    """Convert the CSV ``path`` into the Parquet file ``out`` (a batch at a time); the rows written.

    ``number_columns`` present in the file are read as float64 (:data:`NULL_STRINGS` as NaN). A line with
    more or fewer fields than the header is an :class:`InputError` naming its line numbers, or, with
    ``skip_bad_lines``, skipped and counted in the log.
    """
    import pyarrow.csv as pc
    import pyarrow.parquet as pq

    bad: list[int] = []

    def on_bad(row) -> str:
        bad.append(row.number if row.number is not None else -1)
        return "skip"

    header = _csv_header(path)
    check_unique(header, str(path))
    types = {c: pa.float64() for c in header if c in set(number_columns)}
    writer = None
    n = 0
    try:
        reader = pc.open_csv(
            path, read_options=pc.ReadOptions(use_threads=False, block_size=1 << 24),
            parse_options=pc.ParseOptions(invalid_row_handler=on_bad),
            convert_options=pc.ConvertOptions(column_types=types, null_values=list(NULL_STRINGS),
                                              strings_can_be_null=True))
        for batch in reader:
            if bad and not skip_bad_lines:
                break
            if writer is None:
                writer = pq.ParquetWriter(out, batch.schema)
            writer.write_batch(batch)
            n += batch.num_rows
    except pa.ArrowInvalid as err:
        raise InputError(f"{path}: {_csv_error(str(err), header)}") from None
    finally:
        if writer is not None:
            writer.close()
    if bad and not skip_bad_lines:
        out.unlink(missing_ok=True)
        raise InputError(f"{path}: line {', '.join(map(str, bad[:_SHOWN]))}{' ...' if len(bad) > _SHOWN else ''} "
                         f"has another number of fields than the header's {len(header)}; fix the line(s), or pass "
                         "skip_bad_lines=True (--skip-bad-lines) to skip and count them")
    if bad:
        log.warning("%s: skipped %d malformed line(s) (line %s%s)", path, len(bad), ", ".join(map(str, bad[:_SHOWN])),
                    ", ..." if len(bad) > _SHOWN else "")
    if writer is None:  # a header and no rows
        pq.write_table(pa.table({c: pa.array([], pa.float64() if c in types else pa.string()) for c in header}), out)
    return n


def table_hdu(hdul, path: Path):
    """The first table extension of an open FITS file."""
    for hdu in hdul:
        if hdu.header.get("XTENSION") in ("BINTABLE", "TABLE"):
            return hdu
    raise InputError(f"{path}: FITS file has no table extension")


def _csv_header(path: Path) -> list[str]:
    import csv

    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            return next(csv.reader(fh), [])
    except UnicodeDecodeError:
        raise InputError(f"{path}: not a UTF-8 text file; is it a binary table (Parquet, FITS)? Give it the "
                         "matching suffix") from None


def _csv_error(message: str, header: list[str]) -> str:
    """pyarrow's CSV error with the column's name instead of its number."""
    m = re.search(r"CSV column #(\d+).*?conversion error to (\w+): invalid value '(.*?)'", message)
    if m and int(m.group(1)) < len(header):
        return (f"column {header[int(m.group(1))]} holds {m.group(3)!r}, which is no {m.group(2)}: write missing "
                f"values as empty or NaN, or fix the column")
    return message.splitlines()[0]


def check_number_columns(path: Path, fmt: str, columns: Sequence[str]) -> None:
    """Refuse ``columns`` of a Parquet or FITS file that hold text, naming the first rows that are no number."""
    names = list(columns)
    if fmt == "parquet":
        import pyarrow.parquet as pq

        schema = pq.ParquetFile(path).schema_arrow
        text = [c for c in names if c in schema.names
                and (pa.types.is_string(schema.field(c).type) or pa.types.is_large_string(schema.field(c).type))]
        if text:
            values = pq.read_table(path, columns=text[:1]).column(0).to_pandas()
            raise InputError(_text_message(path, text, values))
    elif fmt == "fits":
        from astropy.io import fits

        with fits.open(path, memmap=True) as hdul:
            hdu = table_hdu(hdul, path)
            text = [c for c in names if c in hdu.columns.names and hdu.columns[c].format.endswith("A")]
            if text:
                raise InputError(_text_message(path, text, pd.Series(np.asarray(hdu.data[text[0]]).astype(str))))


def _text_message(path: Path, text: list[str], values: pd.Series) -> str:
    num = pd.to_numeric(values.str.strip(), errors="coerce")
    bad = values[num.isna() & ~values.str.strip().isin(NULL_STRINGS) & values.notna()]
    rows = ", ".join(f"row {i}: {v!r}" for i, v in bad.head(_SHOWN).items())
    return (f"{path}: column(s) {', '.join(text)} hold text where numbers belong ({text[0]}: "
            + (rows if rows else "numbers stored as text") + "); store them as numbers (NaN for missing)")


_SENTINELS = (99.0, 99.99, 999.0, 9999.0)
_BLUE_RED = (("BP", "RP"), ("uJAVA", "iSDSS"), ("gSDSS", "zSDSS"))
"""Band pairs whose colour (blue minus red) is above -0.5 mag for stars of every type (O stars: -0.45 in
BP - RP); a median colour below :data:`_FLUX_COLOUR` means fluxes, which grow where magnitudes shrink
(a wrong zero point of a few magnitudes in one band is left to the photometric check)."""
_FLUX_COLOUR = -3.0


def check_magnitudes(table: pd.DataFrame, bands: Sequence[str], source: str, min_rows: int = 20) -> None:
    """Refuse magnitude columns that hold something else: a median outside -10..40; (one column of fluxes)
    values that fall where the star's other magnitudes rise (rank correlation < -0.3 over at least
    ``min_rows`` stars); (every column fluxes) a median blue-minus-red colour below -3 mag."""
    cols = [f"mag_{b}" for b in bands if f"mag_{b}" in table]
    if not cols:
        return
    mags = np.array(table[cols].to_numpy(dtype=np.float64, na_value=np.nan), dtype=np.float64)  # a copy
    mags[np.isin(np.round(np.abs(mags), 2), _SENTINELS)] = np.nan  # the rows' business, not the column's
    for j, col in enumerate(cols):
        finite = mags[np.isfinite(mags[:, j]), j]
        if finite.size and not -10.0 < float(np.median(finite)) < 40.0:
            raise InputError(f"{source}: column {col} has the median {float(np.median(finite)):.4g}, which is no "
                             "magnitude (expected about 5-25): is it a flux? Convert it (ocfeh convert, or "
                             "-2.5 log10(flux) + zero point)")
    mags[~(np.abs(mags) < 50)] = np.nan
    for blue, red in _BLUE_RED:
        if f"mag_{blue}" in cols and f"mag_{red}" in cols:
            colour = mags[:, cols.index(f"mag_{blue}")] - mags[:, cols.index(f"mag_{red}")]
            colour = colour[np.isfinite(colour)]
            if len(colour) >= min_rows and np.median(colour) < _FLUX_COLOUR:
                raise InputError(f"{source}: the median colour mag_{blue} - mag_{red} is {np.median(colour):.2f}, "
                                 "bluer than any star: do the magnitude columns hold fluxes? Convert them (ocfeh "
                                 "convert, or -2.5 log10(flux) + zero point)")
    for j, col in enumerate(cols):
        v = mags[:, j]
        finite = np.isfinite(v)
        others = np.delete(mags, j, axis=1)
        with warnings.catch_warnings():  # all-NaN rows: their median is NaN, as meant
            warnings.simplefilter("ignore", RuntimeWarning)
            ref = np.nanmedian(others, axis=1) if others.shape[1] else np.full(len(v), np.nan)
        pair = finite & np.isfinite(ref)
        if pair.sum() >= min_rows and np.ptp(v[pair]) > 0 and np.ptp(ref[pair]) > 0:  # a rank needs spread
            rho = pd.Series(v[pair]).corr(pd.Series(ref[pair]), method="spearman")
            if rho < -0.3:
                raise InputError(f"{source}: column {col} falls where the stars' other magnitudes rise (rank "
                                 f"correlation {rho:.2f} over {int(pair.sum())} stars): it holds fluxes, not "
                                 "magnitudes? Convert it (ocfeh convert, or -2.5 log10(flux) + zero point)")

