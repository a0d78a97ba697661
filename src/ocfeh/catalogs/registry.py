"""Survey readers: a column map per survey, and a registry that finds a reader by name.

A :class:`Reader` maps the native columns of one survey table onto the canonical schema of
:mod:`ocfeh.schema`: it spreads array columns into one column per band, renames, converts units the
file states, turns sentinels (99, -99, -9999, zero flux) into NaN with a logged count, and finally
derives columns (e.g. Gaia magnitude errors from flux-over-error).

>>> from ocfeh.catalogs import readers
>>> "gaia" in readers
True
>>> readers.get("gaai")
Traceback (most recent call last):
...
ocfeh.exceptions.InputError: unknown reader 'gaai'. Did you mean 'gaia'? Registered: ...
"""

from __future__ import annotations

import difflib
import logging
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd

from ..exceptions import InputError
from .formats import RawTable, load_table

__all__ = ["Column", "Reader", "ReaderRegistry", "read_catalog", "readers"]

log = logging.getLogger(__name__)

_ADQL_INDEX = re.compile(r"^(?P<name>.+)\[(?:jplus::)?(?P<elem>[A-Za-z0-9_]+)\]$")


@dataclass(frozen=True)
class Column:
    """One canonical column and where it comes from.

    Attributes
    ----------
    canonical : str
        Name in the canonical table (see :mod:`ocfeh.schema`); a leading underscore marks a
        helper column that the reader's ``derive`` step consumes and drops.
    native : tuple of str
        Native names, tried in order: an exact match first, then a case-insensitive one.
    required : bool, default=True
        A missing required column raises :class:`InputError` naming the file and the column.
    unit : str, optional
        The unit the canonical column is in. When the file states a unit for the column, it is
        converted to this one; an incompatible unit (parallax in mag, say) raises.
    sentinels : tuple of float, default=()
        Values that mean "missing" (become NaN, counted and logged).
    kind : {"float", "int", "id", "str"}, default="float"
        ``id`` keeps integers as int64 and anything else as str.
    offset : float, default=0.0
        Added after reading (e.g. AB to Vega for unWISE magnitudes).
    max_abs : float, optional
        Values with ``|x| >= max_abs`` are sentinels too (dereddened 99s become 98.97, 99.06, ...).
    """

    canonical: str
    native: tuple[str, ...]
    required: bool = True
    unit: str | None = None
    sentinels: tuple[float, ...] = ()
    kind: str = "float"
    offset: float = 0.0
    max_abs: float | None = None


@dataclass(frozen=True)
class Reader:
    """How to read one survey table into the canonical schema.

    Attributes
    ----------
    name : str
        Registry name (``"jplus"``, ``"gaia"``, ...).
    description : str
        One line: survey, table, release.
    columns : tuple of Column
        The column map.
    array_columns : dict of str to tuple of str
        Native array columns and the names of their elements (the band order); an array column
        ``x`` becomes ``x_<element>``, the same name a flattened download uses.
    epoch : float, optional
        Julian year of the positions (used by the cross-match to propagate Gaia positions).
    derive : callable, optional
        ``derive(df) -> df`` run last (combining flags, errors from flux-over-error, ...).
    constants : dict, optional
        Columns set to a constant (e.g. ``label_source = "lamost"``).
    array_order : callable, optional
        ``array_order(raw, arrays) -> arrays``: checks (and may change) the element names of the
        array columns from the file's values, e.g. that J-PLUS magnitudes are in the archive's order.
    other_kind : dict of str to str, optional
        Native names that mark a table of another kind (e.g. another photometric fit), with what to
        say: when required columns are missing and one of these is present, the message is this one.
    """

    name: str
    description: str
    columns: tuple[Column, ...]
    array_columns: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    epoch: float | None = None
    derive: Callable[[pd.DataFrame], pd.DataFrame] | None = None
    constants: Mapping[str, object] = field(default_factory=dict)
    array_order: Callable[[RawTable, dict[str, tuple[str, ...]]], dict[str, tuple[str, ...]]] | None = None
    other_kind: Mapping[str, str] = field(default_factory=dict)

    def with_column_map(self, column_map: Mapping[str, str | list[str]]) -> Reader:
        """A copy whose canonical columns come from the native names given.

        Parameters
        ----------
        column_map : dict of str to str or list of str
            Canonical name to the native name(s) in the user's file. Canonical names the reader does
            not know are added as required float columns (``str`` when the name ends in ``_id``).
        """
        cols = {c.canonical: c for c in self.columns}
        for canonical, native in column_map.items():
            natives = (native,) if isinstance(native, str) else tuple(native)
            if canonical in cols:
                cols[canonical] = replace(cols[canonical], native=natives, required=True)
            else:
                kind = "id" if canonical.endswith("id") else "float"
                cols[canonical] = Column(canonical, natives, kind=kind)
        return replace(self, columns=tuple(cols.values()))

    def read(
        self,
        path: str | Path,
        format: str | None = None,
        column_map: Mapping[str, str | list[str]] | None = None,
    ) -> pd.DataFrame:
        """Read a file into a canonical DataFrame.

        Parameters
        ----------
        path : str or Path
            FITS, Parquet, CSV or VOTable file.
        format : str, optional
            Guessed from the suffix when omitted.
        column_map : dict, optional
            Overrides of the native names (see :meth:`with_column_map`).

        Returns
        -------
        pandas.DataFrame
            Canonical columns only. ``df.attrs`` holds ``source`` (the path), ``reader``, ``epoch``
            and ``n_sentinel`` (column to the number of sentinel values turned into NaN).
        """
        reader = self.with_column_map(column_map) if column_map else self
        return reader.from_raw(load_table(path, format))

    def from_raw(self, raw: RawTable) -> pd.DataFrame:
        """Map an already loaded :class:`RawTable` (see :meth:`read`)."""
        columns = self._spread(raw)
        exact = columns
        lower: dict[str, list[str]] = {}
        for name in columns:
            lower.setdefault(name.lower(), []).append(name)
        out: dict[str, np.ndarray] = {}
        n_sentinel: dict[str, int] = {}
        missing = []
        no_id = np.zeros(raw.n_rows, bool)
        for col in self.columns:
            native = _find(col.native, exact, lower)
            if native is None:
                if col.required:
                    missing.append(col)
                continue
            if col.kind == "id":
                values, null = _ids(columns[native], raw, native)
                if null.any() and col.required:
                    log.warning("%s: %d of %d rows without %s (column %r) dropped", raw.path.name, int(null.sum()),
                                null.size, col.canonical, native)
                    no_id |= null
                elif null.any():  # distinct negative IDs: they match nothing and are not duplicates
                    values = values.copy()
                    values[null] = -1 - np.arange(int(null.sum())) if values.dtype.kind == "i" else None
                    log.info("%s: %d rows without %s (column %r)", raw.path.name, int(null.sum()), col.canonical,
                             native)
            else:
                values = _convert(columns[native], col, raw, native)
            values = _check_unit(values, col, raw, native)
            if (col.sentinels or col.max_abs) and values.dtype.kind == "f":
                bad = np.isin(values, col.sentinels)
                if col.max_abs is not None:
                    with np.errstate(invalid="ignore"):
                        bad |= np.abs(values) >= col.max_abs
                if bad.any():
                    n_sentinel[col.canonical] = int(bad.sum())
                    values = np.where(bad, np.nan, values)
            if col.offset:
                values = values + col.offset
            if col.canonical.startswith(_FLOAT32_PREFIXES) and values.dtype.kind == "f":
                # float32 precision (1e-6 mag), as the archives store photometry: a text copy of a table
                # then gives the very numbers of its binary original
                values = values.astype(np.float32).astype(np.float64)
            out[col.canonical] = values
        _check_plausible(out, raw)
        if missing:
            other = next((why for name, why in self.other_kind.items() if name.lower() in lower), None)
            if other:
                raise InputError(f"{raw.path}: {other}")
            names = ", ".join(f"{c.canonical} (native {' or '.join(c.native)})" for c in missing)
            raise InputError(
                f"{raw.path}: missing column(s) for reader '{self.name}': {names}. "
                f"The file has {len(columns)} columns, e.g. {', '.join(list(columns)[:8])}. "
                "Pass a column_map to name them."
            )
        df = pd.DataFrame(out)
        if no_id.any():
            df = df.loc[~no_id].reset_index(drop=True)
        for key, value in self.constants.items():
            df[key] = value
        if self.derive is not None:
            df = self.derive(df)
        df = df.drop(columns=[c for c in df.columns if c.startswith("_")])
        if n_sentinel:
            total = sum(n_sentinel.values())
            detail = ", ".join(f"{k}: {v}" for k, v in sorted(n_sentinel.items(), key=lambda kv: -kv[1])[:6])
            log.info("%s: %d sentinel values (99, -99, -9999, 0 flux) set to NaN (%s)", raw.path.name, total, detail)
        df.attrs.update(source=str(raw.path), reader=self.name, epoch=self.epoch, n_sentinel=n_sentinel)
        return df

    def _spread(self, raw: RawTable) -> dict[str, np.ndarray]:
        """Array columns -> one column per element; ``x[jplus::B]`` names -> ``x_B``."""
        out: dict[str, np.ndarray] = {}
        arrays = {k.lower(): v for k, v in self.array_columns.items()}
        if self.array_order is not None and any(v.ndim == 2 and k.lower() in arrays for k, v in raw.columns.items()):
            arrays = self.array_order(raw, arrays)
        for name, values in raw.columns.items():
            m = _ADQL_INDEX.match(name)
            if m:
                name = f"{m['name']}_{m['elem']}"
            if values.ndim == 2:
                elements = arrays.get(name.lower())
                if elements is None:
                    elements = tuple(str(i) for i in range(values.shape[1]))
                elif values.shape[1] != len(elements):
                    raise InputError(
                        f"{raw.path}: array column {name!r} has {values.shape[1]} elements per row, "
                        f"expected {len(elements)} ({', '.join(elements)})"
                    )
                for i, elem in enumerate(elements):
                    out[f"{name}_{elem}"] = values[:, i]
            else:
                out[name] = values
        return out


def _find(natives: tuple[str, ...], exact: Mapping[str, np.ndarray], lower: dict[str, list[str]]) -> str | None:
    for n in natives:
        if n in exact:
            return n
    for n in natives:
        hits = lower.get(n.lower(), [])
        if len(hits) == 1:
            return hits[0]
    return None


def _check_plausible(out: dict[str, np.ndarray], raw: RawTable) -> None:
    """Refuse magnitude columns whose median is no magnitude (a flux, a wrong column); warn about a
    parallax column that looks like arcsec (units are never guessed, only questioned)."""
    for name, values in out.items():
        if not (name.startswith("mag_") and not name.startswith("mag_err_")) or values.dtype.kind != "f":
            continue
        finite = values[np.isfinite(values)]
        if finite.size and not -10.0 < float(np.median(finite)) < 40.0:
            raise InputError(f"{raw.path}: column {name} has the median {float(np.median(finite)):.4g}, which is no "
                             "magnitude (expected about 5-25): is the mapped column a flux or another quantity?")
    plx = out.get("parallax")
    if plx is not None and plx.dtype.kind == "f" and np.isfinite(plx).sum() >= 20:
        med = float(np.nanmedian(np.abs(plx)))
        if 0 < med < 5e-3:
            log.warning("%s: the median |parallax| is %.2g mas, less than stars in the Galaxy "
                        "show: is the column in arcsec? State its unit in the file (FITS TUNIT, VOTable unit) "
                        "or convert it to mas", raw.path.name, med)


_FLOAT32_PREFIXES = ("mag_", "_foe_")
"""Canonical photometry columns (magnitudes, their errors, Gaia flux-over-error) read at float32 precision."""


def _ids(values: np.ndarray, raw: RawTable, native: str) -> tuple[np.ndarray, np.ndarray]:
    """IDs: exact int64 where every ID is an integer, else text; and the rows without one.

    Floats are taken only below 2^53, where float64 holds every integer: larger ones (19-digit Gaia
    ``source_id``) have lost their last digits, and distinct stars would share an ID.
    """
    v = np.asarray(values)
    if v.dtype.kind in "iu":
        return v.astype(np.int64), np.zeros(v.size, bool)
    if v.dtype.kind == "f":
        null = ~np.isfinite(v)
        ok = v[~null]
        if np.all(ok == np.round(ok)):
            big = np.abs(ok) > 2.0**53
            if big.any():
                raise InputError(
                    f"{raw.path}: column {native!r} holds {int(big.sum())} of {v.size} IDs as floating-point numbers "
                    f"above 2^53 (e.g. {ok[big][0]:.17g}), where a float cannot hold every integer: their last "
                    "digits are lost and distinct stars would share an ID. Save the table with 64-bit integer "
                    "IDs (or IDs as text) and read it again"
                )
            return np.where(null, 0, v).astype(np.int64), null
        return np.array([repr(x) for x in v], dtype=object), null
    s = pd.Series(v, dtype=object)
    text = s.astype(str).str.strip()
    null = s.isna().to_numpy() | (text == "").to_numpy()
    given = text[~null]
    if len(given) and given.str.fullmatch(r"[+-]?\d{1,19}").all():
        ints = [int(t) for t in given]
        if all(-(2**63) <= i < 2**63 for i in ints):  # fits int64
            out = np.zeros(v.size, np.int64)
            out[~null] = ints
            return out, null
    return text.to_numpy(dtype=object), null


def _convert(values: np.ndarray, col: Column, raw: RawTable, native: str) -> np.ndarray:
    if col.kind == "str":
        return np.asarray(values).astype(str).astype(object)
    if values.dtype.kind in "fiub":
        out = values.astype(np.float64)
    else:
        num = pd.to_numeric(pd.Series(values, dtype=object), errors="coerce").to_numpy(dtype=float)
        blank = pd.isna(pd.Series(values, dtype=object)).to_numpy()
        bad = np.isnan(num) & ~blank
        if bad.any():
            example = values[np.flatnonzero(bad)[0]]
            raise InputError(
                f"{raw.path}: column {native!r} (canonical {col.canonical!r}) must be numeric; "
                f"{int(bad.sum())} of {len(values)} rows are not numbers (e.g. {example!r})"
            )
        out = num
    if col.kind == "int" and np.all(np.isfinite(out)):
        return out.astype(np.int64)
    return out  # float (NaN for missing)


def _check_unit(values: np.ndarray, col: Column, raw: RawTable, native: str) -> np.ndarray:
    stated = raw.units.get(native)
    if col.unit is None or not stated:
        return values
    import astropy.units as u

    try:
        have = u.Unit(stated, parse_strict="raise")
    except ValueError:
        log.info("%s: column %r states the unit %r, which astropy cannot parse: not checked", raw.path.name, native,
                 stated)
        return values
    want = u.Unit(col.unit)
    if have == want:
        return values
    try:
        factor = have.to(want)
    except u.UnitConversionError:
        raise InputError(
            f"{raw.path}: column {native!r} is in {stated!r}, but {col.canonical!r} must be in {col.unit!r} "
            "(or a unit convertible to it)"
        ) from None
    log.info("%s: column %r converted from %s to %s", raw.path.name, native, stated, col.unit)
    return values * factor


class ReaderRegistry:
    """Readers by name. ``registry.get(name)`` lists the registered names when it does not know one."""

    def __init__(self) -> None:
        self._readers: dict[str, Reader] = {}

    def register(self, reader: Reader, overwrite: bool = False) -> Reader:
        """Add a reader; a name already taken raises unless ``overwrite``."""
        if reader.name in self._readers and not overwrite:
            raise InputError(f"a reader named {reader.name!r} is already registered (pass overwrite=True)")
        self._readers[reader.name] = reader
        return reader

    def get(self, name: str) -> Reader:
        """The reader called ``name``."""
        try:
            return self._readers[name]
        except KeyError:
            near = difflib.get_close_matches(name, list(self._readers), n=1)
            hint = f" Did you mean {near[0]!r}?" if near else ""
            raise InputError(f"unknown reader {name!r}.{hint} Registered: {', '.join(self._readers)}") from None

    def __contains__(self, name: object) -> bool:
        return name in self._readers

    def __iter__(self) -> Iterator[str]:
        return iter(self._readers)

    def __len__(self) -> int:
        return len(self._readers)

    def __repr__(self) -> str:
        return f"ReaderRegistry({len(self)} readers: {', '.join(self._readers)})"

    def describe(self) -> pd.DataFrame:
        """One row per reader: name, description, epoch, number of columns."""
        return pd.DataFrame(
            [{"reader": r.name, "description": r.description, "epoch": r.epoch, "n_columns": len(r.columns)}
             for r in self._readers.values()]
        )


readers = ReaderRegistry()
"""The default registry; the survey modules of :mod:`ocfeh.catalogs` (jplus, gaia, catwise, spectroscopic,
hr23, shared_tables) fill it."""


def read_catalog(
    path: str | Path,
    reader: str | Reader,
    format: str | None = None,
    column_map: Mapping[str, str | list[str]] | None = None,
    registry: ReaderRegistry | None = None,
) -> pd.DataFrame:
    """Read a survey table into the canonical schema.

    Parameters
    ----------
    path : str or Path
        FITS, Parquet, CSV or VOTable file.
    reader : str or Reader
        A registered reader name (see ``ocfeh.catalogs.readers``) or a :class:`Reader`.
    format : str, optional
        ``fits``, ``parquet``, ``csv`` or ``votable``; guessed from the suffix when omitted.
    column_map : dict, optional
        Canonical name to native name(s), for tables whose columns are named differently.
    registry : ReaderRegistry, optional
        Defaults to ``ocfeh.catalogs.readers``.

    Returns
    -------
    pandas.DataFrame
        The canonical table; ``df.attrs`` records the source file, reader, epoch and sentinel counts.
    """
    if isinstance(reader, str):
        reader = (registry or readers).get(reader)
    return reader.read(path, format=format, column_map=column_map)
