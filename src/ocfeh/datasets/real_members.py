"""Real open-cluster members with Gaia DR3 ``source_id``, from the member lists shipped by gyrointerp 0.7.

gyrointerp (Bouma, Palumbo & Hillenbrand 2023) ships the rotation and membership catalogues it was
calibrated on, each cross-matched by its authors to Gaia DR3. ocfeh reads these files only (registry keys
``members:<cluster>`` in :mod:`ocfeh.datafiles`, sha256-verified) and never imports gyrointerp's code.
Only lists with Gaia DR3 (or EDR3, the same ids) source_ids are used; M37 (Gaia DR2 ids only), Psc-Eri and
Group X (no entry in the reference [Fe/H] tables) are left out.

Most lists are *rotation* samples: FGK(M) dwarfs with measured periods, not complete member lists; only
M67 (Dungee et al. 2022) is a full astrometric member catalogue with giants.

=============  =============  ==============================================================================
cluster        common name    list, and the membership columns it gives
=============  =============  ==============================================================================
NGC_2682       M67            Dungee et al. 2022: ``membership_prob`` (astrometric), binary, suspect flags
Melotte_22     Pleiades       Rebull et al. 2016 (K2 rotators; Rebull's membership grade best/ok)
NGC_2632       Praesepe       Rampalli et al. 2021 (K2): binary and tidal-tail flags
Melotte_20     alpha Per      Boyle et al. (in prep.): in how many of 8 membership lists (>= 2: member)
Ruprecht_147   Ruprecht 147   Curtis et al. 2020: their ``Member`` verdict (Yes / No: reason)
NGC_6811       NGC 6811       Curtis et al. 2019 (Kepler rotators)
NGC_6819       NGC 6819       Curtis et al. 2020 (rotators)
NGC_3532       NGC 3532       Fritzewski et al. 2021: binary flag
NGC_1039       M34            Meibom et al. 2011: KM (kinematic) / PM (photometric) member, NM non-member
Blanco_1       Blanco 1       Gillen et al. 2020 (NGTS): multiplicity flag (c = CMD, r = RV)
=============  =============  ==============================================================================

>>> from ocfeh.datasets.real_members import REAL_MEMBER_LISTS
>>> REAL_MEMBER_LISTS["NGC_2682"].common_name
'M67'
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ..catalogs import name_key
from ..datafiles import DATA_FILES, data_path
from ..exceptions import DataFileError, InputError

__all__ = ["REAL_MEMBER_COLUMNS", "REAL_MEMBER_LISTS", "MemberList", "read_real_members", "real_member_citations"]

log = logging.getLogger(__name__)

REAL_MEMBER_COLUMNS = ("cluster", "common_name", "source_id", "member", "membership_prob", "binary",
                       "membership_note", "catalogue")
"""Columns of :func:`read_real_members`."""

_BOYLE_LISTS = ("in_meingast", "in_kerr", "in_kc", "in_cg", "in_jaehnig", "in_lodieu", "in_moranta", "in_heyl")


@dataclass(frozen=True)
class MemberList:
    """One cluster's member list: the registry key of its file and how to read its membership columns."""

    cluster: str
    common_name: str
    catalogue: str
    read: Callable[[Path], pd.DataFrame]

    @property
    def key(self) -> str:
        """Registry key in :data:`ocfeh.datafiles.DATA_FILES`."""
        return f"members:{self.cluster}"


def _need(df: pd.DataFrame, cols: Iterable[str], path: Path) -> None:
    missing = [c for c in cols if c not in df]
    if missing:
        raise DataFileError(f"{path}: column(s) {missing} missing ({len(df)} rows; has {list(df.columns)[:12]} ...)")


def _csv(path: Path, cols: Iterable[str]) -> pd.DataFrame:
    df = pd.read_csv(path, low_memory=False)
    _need(df, ("dr3_source_id", *cols), path)
    return df


def _flag(values) -> np.ndarray:
    """True / False / 1 / 0 / 'True' / 'False' -> bool (missing -> False)."""
    s = pd.Series(values)
    if s.dtype == bool:
        return s.to_numpy()
    return s.astype(str).str.strip().str.lower().isin(["true", "1", "1.0", "y", "yes"]).to_numpy()


def _frame(source_id, member=True, prob=np.nan, binary=None, note="") -> pd.DataFrame:
    sid = pd.to_numeric(pd.Series(source_id), errors="coerce")
    n = len(sid)
    out = pd.DataFrame({
        "source_id": sid,
        "member": np.broadcast_to(np.asarray(member, dtype=bool), n).copy(),
        "membership_prob": np.broadcast_to(np.asarray(prob, dtype=float), n).copy(),
        "binary": pd.array([pd.NA] * n, dtype="boolean") if binary is None else pd.array(binary, dtype="boolean"),
        "membership_note": np.broadcast_to(np.asarray(note, dtype=object), n).copy(),
    })
    return out


def _dungee(path: Path) -> pd.DataFrame:
    from astropy.table import Table

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # MRT unit strings astropy does not know
        df = Table.read(path, format="ascii.mrt").to_pandas()
    _need(df, ("gaiaid", "memprob", "binary", "suspect"), path)
    suspect = _flag(df["suspect"])
    return _frame(df["gaiaid"], member=~suspect, prob=df["memprob"].to_numpy(float), binary=_flag(df["binary"]),
                  note=np.where(suspect, "suspect member (Dungee et al. 2022)", ""))


def _rebull(path: Path) -> pd.DataFrame:
    df = _csv(path, ("Mm",))
    return _frame(df["dr3_source_id"], note="membership " + df["Mm"].astype(str).str.strip())


def _rampalli(path: Path) -> pd.DataFrame:
    df = _csv(path, ("Binary", "Tail"))
    return _frame(df["dr3_source_id"], binary=_flag(df["Binary"]), note=np.where(_flag(df["Tail"]), "tidal tail", ""))


def _boyle(path: Path) -> pd.DataFrame:
    df = _csv(path, _BOYLE_LISTS)
    n = np.sum([_flag(df[c]) for c in _BOYLE_LISTS], axis=0)
    return _frame(df["dr3_source_id"], member=n >= 2, note=[f"in {k} of {len(_BOYLE_LISTS)} membership lists" for k in n])


def _curtis_rup147(path: Path) -> pd.DataFrame:
    df = _csv(path, ("Member",))
    verdict = df["Member"].astype(str).str.strip()
    return _frame(df["dr3_source_id"], member=(verdict == "Yes").to_numpy(), note="Member: " + verdict)


def _plain(path: Path) -> pd.DataFrame:
    return _frame(_csv(path, ())["dr3_source_id"])


def _fritzewski(path: Path) -> pd.DataFrame:
    df = _csv(path, ("Binary",))
    return _frame(df["dr3_source_id"], binary=_flag(df["Binary"]))


def _meibom(path: Path) -> pd.DataFrame:
    df = _csv(path, ("Mm", "PRV"))
    mm = df["Mm"].astype(str).str.strip()
    return _frame(df["dr3_source_id"], member=mm.isin(["KM", "PM"]).to_numpy(),
                  note="Mm=" + mm + ", P_RV=" + df["PRV"].astype(str) + "%")


def _gillen(path: Path) -> pd.DataFrame:
    df = _csv(path, ("mult",))
    mult = df["mult"].astype(str).str.strip()
    return _frame(df["dr3_source_id"], binary=(mult.isin(["c", "r", "cr", "rc"])).to_numpy(),
                  note=np.where(mult == "--", "", "multiple: " + mult))


REAL_MEMBER_LISTS: dict[str, MemberList] = {m.cluster: m for m in (
    MemberList("NGC_2682", "M67", "Dungee et al. 2022", _dungee),
    MemberList("Melotte_22", "Pleiades", "Rebull et al. 2016", _rebull),
    MemberList("NGC_2632", "Praesepe", "Rampalli et al. 2021", _rampalli),
    MemberList("Melotte_20", "alpha Per", "Boyle et al. in prep.", _boyle),
    MemberList("Ruprecht_147", "Ruprecht 147", "Curtis et al. 2020", _curtis_rup147),
    MemberList("NGC_6811", "NGC 6811", "Curtis et al. 2019", _plain),
    MemberList("NGC_6819", "NGC 6819", "Curtis et al. 2020", _plain),
    MemberList("NGC_3532", "NGC 3532", "Fritzewski et al. 2021", _fritzewski),
    MemberList("NGC_1039", "M34", "Meibom et al. 2011", _meibom),
    MemberList("Blanco_1", "Blanco 1", "Gillen et al. 2020", _gillen),
)}
"""The member lists read by :func:`read_real_members`, by cluster (reference-table names)."""


def real_member_citations(clusters: Iterable[str] | None = None) -> dict[str, str]:
    """``{cluster: citation}`` of the member lists (from :data:`ocfeh.datafiles.DATA_FILES`)."""
    names = list(REAL_MEMBER_LISTS) if clusters is None else list(clusters)
    return {c: DATA_FILES[REAL_MEMBER_LISTS[c].key].citation for c in names if c in REAL_MEMBER_LISTS}


def read_real_members(clusters: Iterable[str] | None = None, members_only: bool = False) -> pd.DataFrame:
    """Members of real open clusters with their Gaia DR3 ``source_id``.

    Parameters
    ----------
    clusters : iterable of str, optional
        Clusters to read, by the reference-table name (``"NGC_2682"``) or the common name (``"M67"``);
        matched with :func:`ocfeh.catalogs.name_key`. Default: every list in
        :data:`REAL_MEMBER_LISTS`.
    members_only : bool, default=False
        Keep only rows the catalogue counts as members (``member`` true).

    Returns
    -------
    DataFrame
        :data:`REAL_MEMBER_COLUMNS`: ``cluster`` (reference-table name, e.g. ``NGC_2682``), ``common_name``,
        ``source_id`` (int64, Gaia DR3), ``member`` (bool: the catalogue's verdict; true where the list holds
        members only), ``membership_prob`` (0-1, NaN where not given), ``binary`` (nullable boolean),
        ``membership_note`` (the catalogue's flag, as text) and ``catalogue``. One row per star and cluster:
        Gaia DR2 sources that merged into one DR3 source keep their first row.

    Raises
    ------
    InputError
        An unknown cluster name.
    DataFileError
        gyrointerp 0.7 is not installed, or a file is missing or altered (the message says how to install).

    Examples
    --------
    >>> m = read_real_members(["M67"])
    >>> m["cluster"].unique().tolist(), str(m["source_id"].dtype), bool(m["source_id"].is_unique)
    (['NGC_2682'], 'int64', True)
    """
    if clusters is None:
        chosen = list(REAL_MEMBER_LISTS.values())
    else:
        by_key: dict[str, MemberList] = {}
        for m in REAL_MEMBER_LISTS.values():
            by_key[name_key(m.cluster)] = by_key[name_key(m.common_name)] = m
        if isinstance(clusters, str):
            clusters = [clusters]
        unknown = [c for c in clusters if name_key(c) not in by_key]
        if unknown:
            known = ", ".join(f"{m.cluster} ({m.common_name})" for m in REAL_MEMBER_LISTS.values())
            raise InputError(f"no real member list for {unknown}; known: {known}")
        chosen = list({by_key[name_key(c)].cluster: by_key[name_key(c)] for c in clusters}.values())
    frames = []
    for m in chosen:
        try:
            path = data_path(m.key)
        except DataFileError as err:
            raise DataFileError(f"real members of {m.cluster} ({m.common_name}, {m.catalogue}): {err}") from None
        df = m.read(path)
        n_bad = int(df["source_id"].isna().sum())
        df = df[df["source_id"].notna()].copy()
        df["source_id"] = df["source_id"].astype(np.int64)
        n_dup = int(df["source_id"].duplicated().sum())
        df = df.drop_duplicates("source_id", keep="first")
        if n_bad or n_dup:
            log.info("%s: %d rows without a Gaia DR3 id and %d repeated ids dropped", m.cluster, n_bad, n_dup)
        df.insert(0, "common_name", m.common_name)
        df.insert(0, "cluster", m.cluster)
        df["catalogue"] = m.catalogue
        if members_only:
            df = df[df["member"]]
        frames.append(df[list(REAL_MEMBER_COLUMNS)])
        log.info("%s (%s): %d stars from %s, %d counted as members", m.cluster, m.common_name, len(df),
                 m.catalogue, int(df["member"].sum()))
    return pd.concat(frames, ignore_index=True)
