"""What a star table must hold before prediction: the columns a model needs (named, with hints when a
survey's native columns stand in their place), and per row why it cannot be predicted."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from ..catalogs import readers
from ..exceptions import InputError
from ..schema import A0_MIN, LABEL_TRUTH_COLUMNS, MAG_LIMIT

__all__ = ["check_columns", "check_unique", "mock_model_warning", "reason_counts", "row_reasons"]


def _native_names(columns: Sequence[str], absent: Sequence[str]) -> list[str]:
    """Columns that a survey reader maps onto one of ``absent``, as ``"<native> (<canonical>, reader <r>)"``."""
    lower = {c.lower(): c for c in columns}
    found: dict[str, str] = {}
    for name in readers:
        for col in readers.get(name).columns:
            if col.canonical not in absent:
                continue
            hit = next((lower[n.lower()] for n in col.native if n.lower() in lower), None)
            if hit is not None and hit not in found:
                found[hit] = f"{hit} ({col.canonical}, reader {name})"
    return list(found.values())


def check_columns(columns: Sequence[str], required: Sequence[str], source: str) -> None:
    """Raise :class:`InputError` naming the columns the model needs that ``columns`` lacks.

    Only absent columns fail: NaN values in a present column are fine (those rows get a ``reason``).
    Errors (``mag_err_<band>``, ``a0_err``, ...) and ``mag_BP``/``mag_RP`` of the extinction look-up
    stay optional. The hints name other-case spellings and a survey's native names.
    """
    have = [str(c) for c in columns]
    absent = [c for c in required if c not in have]
    if not absent:
        return
    lower = {c.lower(): c for c in have}
    case = {c: lower[c.lower()] for c in absent if c.lower() in lower}
    native = _native_names(have, [c for c in absent if c not in case])
    mags = [c for c in required if c.startswith("mag_")]
    why = {"distance_pc": "distance_pc [pc] for the absolute magnitudes M_<band>",
           "a0": "a0 [mag] to de-redden (0 for de-reddened photometry)"}
    msg = (f"{source}: the model needs {len(absent)} column(s) absent from it: "
           + ", ".join(why.get(c, c) for c in absent) + ".")
    if case:
        msg += " Column names are case-sensitive: rename " + ", ".join(f"{v} to {k}" for k, v in case.items()) + "."
    convert = (" Predict from canonical tables (mag_<band>, mag_err_<band>, distance_pc, a0): convert a survey's "
               "file with `ocfeh convert FILE --reader NAME -o stars.parquet` (`ocfeh readers` lists the readers).")
    if native:
        msg += f" It has a survey's native columns: {', '.join(native[:4])}{', ...' if len(native) > 4 else ''}."
        msg += convert
    elif not any(m in have for m in mags):
        msg += f" It has {', '.join(have[:8])}{', ...' if len(have) > 8 else ''}, no canonical magnitudes." + convert
    elif any(c.startswith("mag_") and c not in case for c in absent):
        msg += " Tables without these bands need a model trained without them ([features] bands)."
    raise InputError(msg)


def row_reasons(table: pd.DataFrame, required: Sequence[str]) -> np.ndarray:
    """Empty string for rows that can be predicted, else ``"missing <col>,<col>"``: NaN, a distance <= 0,
    an ``a0`` below ``A0_MIN`` (unphysical) or a magnitude beyond +-50 (a sentinel such as 99 or -9999
    that a table kept)."""
    n = len(table)
    reason = np.full(n, "", dtype=object)
    absent = [c for c in required if c not in table]
    if absent:
        reason[:] = "missing column " + ",".join(absent)
        return reason
    miss = np.full(n, "", dtype=object)
    for c in required:
        v = table[c].to_numpy(dtype=np.float64)
        bad = ~np.isfinite(v)
        if c == "distance_pc":
            bad |= ~(v > 0)
        elif c == "a0":
            bad |= v < A0_MIN  # an unphysical extinction, like NaN: no valid a0
        elif c.startswith("mag_"):
            bad |= ~(np.abs(v) < MAG_LIMIT)
        if bad.any():
            miss[bad] = miss[bad] + np.where(miss[bad] == "", "", ",") + c
    has = miss != ""
    reason[has] = "missing " + miss[has]
    return reason


def check_unique(columns: Sequence[str], source: str) -> None:
    """Raise :class:`InputError` naming the columns that ``columns`` holds more than once."""
    names = [str(c) for c in columns]
    dup = sorted({c for c in names if names.count(c) > 1})
    if dup:
        raise InputError(f"{source} has the columns {', '.join(dup)} more than once; rename or drop the copies")


def reason_counts(reason: pd.Series, n: int = 5) -> dict[str, int]:
    """The ``n`` commonest reasons of the rows without prediction (the part before any ``;``), with counts."""
    r = reason[reason != ""].str.split(";").str[0]
    return {str(k): int(v) for k, v in r.value_counts().head(n).items()}


def mock_model_warning(training_set: dict | None, columns: Sequence[str], source: str) -> str | None:
    """The warning for a model trained on the mock sky that meets a table from elsewhere, or None.

    ``training_set`` is the model card's record of its training sample (``{"kind": "mock" | "real"}``);
    a table with the mock sky's truth columns (``teff_true``, ...) is the mock sky.
    """
    if not training_set or training_set.get("kind") != "mock" or all(c in columns for c in LABEL_TRUTH_COLUMNS):
        return None
    return (f"{source}: this model was trained on the mock sky (simulated photometry), and this table is not the "
            "mock sky: on real photometry its errors and intervals are unmeasured. For real stars use "
            "ocfeh.load_model(\"apogee-xp\") (real APOGEE stars; built once by `ocfeh build-model apogee-xp`) or "
            "train on your own labels (`ocfeh run` with [sample.sources.labels])")
