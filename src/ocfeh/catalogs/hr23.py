"""Hunt & Reffert (2023) cluster and member readers.

References
----------
HR23: Hunt & Reffert 2023, A&A 673, A114; the UCC project (HR23 reformatted).
"""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import pandas as pd

from ._common import _MAG_SENTINELS, GAIA_EPOCH, _c
from .registry import Reader, readers

__all__ = ["name_key", "read_hr23"]  # importing the module also registers its readers in ocfeh.catalogs.readers


readers.register(Reader(
    "hr23_clusters", "Hunt & Reffert 2023 clusters (VizieR J/A+A/673/A114; also the UCC HUNT2023 table)",
    (
        _c("cluster", "Name", kind="str"),
        _c("cluster_id", "ID", required=False, kind="id"),
        _c("ra", "RA_ICRS", unit="deg"),
        _c("dec", "DE_ICRS", unit="deg"),
        _c("pmra", "pmRA", unit="mas / yr"),
        _c("pmdec", "pmDE", unit="mas / yr"),
        _c("parallax", "Plx", unit="mas"),
        _c("r50_deg", "r50", unit="deg"),
        _c("n_members", "N"),
        _c("log_age", "logAge50", required=False),
        _c("av", "AV50", required=False),
        _c("distance_pc", "dist50", required=False, unit="pc"),
        _c("cluster_type", "Type", required=False, kind="str"),
        _c("cst", "CST", required=False),
    ),
    epoch=GAIA_EPOCH,
))

readers.register(Reader(
    "hr23_members", "Hunt & Reffert 2023 members (Name, Gaia DR3 source, membership probability)",
    (
        _c("cluster", "Name", kind="str"),
        _c("source_id", "GaiaDR3", "Source", "source_id", kind="id"),
        _c("member_prob", "Prob"),
        _c("ra", "RA_ICRS", "ra", required=False, unit="deg"),
        _c("dec", "DE_ICRS", "dec", required=False, unit="deg"),
        _c("parallax", "Plx", "parallax", required=False, unit="mas"),
        _c("mag_G", "Gmag", "phot_g_mean_mag", required=False, sentinels=_MAG_SENTINELS),
        _c("mag_BP", "BPmag", "phot_bp_mean_mag", required=False, sentinels=_MAG_SENTINELS),
        _c("mag_RP", "RPmag", "phot_rp_mean_mag", required=False, sentinels=_MAG_SENTINELS),
    ),
    epoch=GAIA_EPOCH,
))


def read_hr23(path: str | Path, kind: str) -> pd.DataFrame:
    """A cluster (``kind="clusters"``) or member (``kind="members"``) table of HR23 or shaped like it.

    Column names may be HR23's or the canonical ones, in any case; stated units are converted and
    sentinels removed. Only the cluster name (and a member's ``source_id``) are required.
    """
    if kind not in ("clusters", "members"):
        raise ValueError(f"kind must be 'clusters' or 'members'; got {kind!r}")
    need = {"cluster"} if kind == "clusters" else {"cluster", "source_id"}
    rd = readers.get(f"hr23_{kind}")
    rd = replace(rd, columns=tuple(replace(c, native=(*c.native, c.canonical), required=c.canonical in need)
                                   for c in rd.columns))
    return rd.read(path)


def name_key(name: str) -> str:
    """Normalised cluster name for matching: lower case, no spaces, underscores or hyphens.

    >>> name_key("NGC_2682"), name_key(" NGC 2682 "), name_key("Collinder-261")
    ('ngc2682', 'ngc2682', 'collinder261')
    """
    return re.sub(r"[\s_\-]+", "", str(name)).lower()
