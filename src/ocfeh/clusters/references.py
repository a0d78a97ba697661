"""Reference cluster metallicities from the literature, and our values beside them.

Readers for the tables as reformatted by the Unified Cluster Catalogue project (ucc23/updt_UCC,
``data/databases``): each returns ``cluster`` (the table's name), ``name_key`` (normalised for
matching), ``feh_ref``, ``feh_ref_err`` (dex) and ``reference``.

References
----------
Netopil et al. 2016, A&A 585, A150; Netopil et al. 2022, MNRAS 509, 421; Donor et al. 2020,
AJ 159, 199 (OCCAM/APOGEE DR16); Heiter et al. 2014, A&A 561, A93; Spina et al. 2022, Universe 8, 87;
Dias et al. 2021, MNRAS 504, 356 (isochrone [Fe/H]); Hunt & Reffert 2023, A&A 673, A114.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from ..catalogs import name_key
from ..exceptions import InputError

__all__ = ["read_reference", "read_references", "REFERENCE_TABLES", "compare_with_references"]

log = logging.getLogger(__name__)

# table -> (file, name column, [Fe/H] column(s) in order of preference, error column(s), kind)
REFERENCE_TABLES: dict[str, tuple[str, str, tuple[str, ...], tuple[str, ...], str]] = {
    "NETOPIL2016": ("NETOPIL2016.csv", "Cluster", ("[Fe/H]HQS", "[Fe/H]LQS"), ("e_[Fe/H]HQS", "e_[Fe/H]LQS"),
                    "spectroscopic"),
    "NETOPIL2022": ("NETOPIL2022.csv", "Name", ("[Fe/H]",), ("e_[Fe/H]",), "spectroscopic"),
    "DONOR2020": ("DONOR2020.csv", "Name", ("Fe/H",), ("e_Fe/H",), "spectroscopic (APOGEE)"),
    "HEITER2014": ("HEITER2014.csv", "Cluster", ("[Fe/H]",), ("s_[Fe/H]",), "spectroscopic (high-resolution)"),
    "SPINA2022": ("SPINA2022.csv", "Cluster", ("Fe",), ("Fe_err",), "spectroscopic"),
    "DIAS2021": ("DIAS2021.csv", "Cluster", ("[Fe/H]",), ("e_[Fe/H]",), "isochrone"),
}


def read_reference(table: str, folder: str | Path) -> pd.DataFrame:
    """Read one reference table into ``cluster``, ``name_key``, ``feh_ref``, ``feh_ref_err``, ``reference``.

    Parameters
    ----------
    table : str
        One of :data:`REFERENCE_TABLES` (e.g. ``"NETOPIL2022"``).
    folder : str or Path
        The folder holding the CSV files (e.g. ``../shared/data/open_clusters``).
    """
    if table not in REFERENCE_TABLES:
        raise InputError(f"unknown reference table {table!r}; known: {', '.join(REFERENCE_TABLES)}")
    fname, name_col, feh_cols, err_cols, kind = REFERENCE_TABLES[table]
    path = Path(folder) / fname
    if not path.is_file():
        raise InputError(f"reference table {table}: file {path} not found")
    raw = pd.read_csv(path, na_values=["nan", "NaN", ""])
    missing = [c for c in (name_col, *feh_cols) if c not in raw]
    if missing:
        raise InputError(f"{path}: missing column(s) {missing}; has {list(raw.columns)[:15]} ({len(raw)} rows)")
    feh = pd.Series(np.nan, index=raw.index)
    err = pd.Series(np.nan, index=raw.index)
    for fc, ec in zip(feh_cols, err_cols):
        take = feh.isna() & pd.to_numeric(raw[fc], errors="coerce").notna()
        feh[take] = pd.to_numeric(raw.loc[take, fc], errors="coerce")
        if ec in raw:
            err[take] = pd.to_numeric(raw.loc[take, ec], errors="coerce")
    out = pd.DataFrame({
        "cluster": raw[name_col].astype(str).str.strip(),
        "feh_ref": feh.astype(float),
        "feh_ref_err": err.astype(float),
        "reference": table,
        "kind": kind,
    })
    out["name_key"] = out["cluster"].map(name_key)
    n_bad = int(out["feh_ref"].isna().sum())
    if n_bad:
        log.info("%s: %d of %d rows without [Fe/H] dropped", table, n_bad, len(out))
    return out[out["feh_ref"].notna()].reset_index(drop=True)


def read_references(folder: str | Path, tables=None) -> pd.DataFrame:
    """All (or the listed) reference tables stacked, one row per cluster and table."""
    tables = list(REFERENCE_TABLES) if tables is None else list(tables)
    return pd.concat([read_reference(t, folder) for t in tables], ignore_index=True)


def compare_with_references(ours: pd.DataFrame, references: pd.DataFrame, aliases: dict | None = None,
                            value_cols=("feh_median", "feh_mcmc", "iso_feh")) -> pd.DataFrame:
    """Our cluster values beside the reference [Fe/H] wherever names match.

    Parameters
    ----------
    ours : DataFrame
        One row per cluster with ``cluster`` and value columns (e.g. a ``clusters.csv``).
    references : DataFrame
        From :func:`read_references`.
    aliases : dict, optional
        ``{our name: [other names]}``, e.g. from the HR23 ``AllNames`` column, to match more clusters.
    value_cols : sequence of str
        Our columns to carry over (those present).

    Returns
    -------
    DataFrame
        One row per (our cluster, reference table) match: ``cluster``, our values, ``reference``,
        ``feh_ref``, ``feh_ref_err``, ``kind`` and ``delta_<col>`` = ours - reference.
    """
    if "cluster" not in ours:
        raise InputError(f"our cluster table has no 'cluster' column; has {list(ours.columns)[:15]}")
    keys = []
    for name in ours["cluster"].astype(str):
        names = [name] + list((aliases or {}).get(name, []))
        keys.append({name_key(n) for n in names})
    rows = []
    cols = [c for c in value_cols if c in ours]
    ref_by_key = references.groupby("name_key")
    for (_, row), ks in zip(ours.iterrows(), keys):
        seen = set()
        for k in ks:
            if k not in ref_by_key.groups:
                continue
            for _, ref in ref_by_key.get_group(k).iterrows():
                if ref["reference"] in seen:
                    continue
                seen.add(ref["reference"])
                rec = {"cluster": row["cluster"], **{c: row[c] for c in cols},
                       "reference": ref["reference"], "ref_name": ref["cluster"], "kind": ref["kind"],
                       "feh_ref": ref["feh_ref"], "feh_ref_err": ref["feh_ref_err"]}
                for c in cols:
                    rec[f"delta_{c}"] = row[c] - ref["feh_ref"]
                rows.append(rec)
    out = pd.DataFrame(rows)
    log.info("references: %d of %d clusters matched at least one reference table",
             out["cluster"].nunique() if len(out) else 0, len(ours))
    return out
