"""The mock sky as a run reads it: its survey tables named as ``[sample.sources]`` would name a user's, and
its truth (per star and per cluster) to carry into the run's tables."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ..schema import LABEL_TRUTH_COLUMNS
from .sky import FILES

__all__ = ["TRUTH_COLUMNS", "cluster_truth", "mock_sources", "star_truth"]

TRUTH_COLUMNS = (*LABEL_TRUTH_COLUMNS, "distance_true_pc", "a0_true", "cluster", "component")
"""The per-star truth a run's sample and catalogue carry (joined on ``source_id``)."""


def mock_sources(sources_dir: str | Path) -> dict:
    """``[sample.sources]`` for the mock-sky tables written by the simulate stage."""
    sources_dir = Path(sources_dir)
    spec = {
        "jplus": ("jplus", "jplus"), "jplus_extinction": ("jplus_ext", "jplus_extinction"),
        "gaia": ("gaia", "gaia"), "gaia_ap": ("gaia_ap", "gaia_ap"), "distances": ("gaia_dist", "bailer_jones"),
        "catwise": ("catwise", "catwise"), "labels": ("lamost", "lamost"),
    }
    return {name: {"path": str(sources_dir / FILES[key]), "reader": reader} for name, (key, reader) in spec.items()}


def star_truth(sources_dir: str | Path) -> pd.DataFrame | None:
    """``source_id`` and :data:`TRUTH_COLUMNS` of every star the Gaia table lists (None without a truth file)."""
    path = Path(sources_dir) / "truth.parquet"
    if not path.is_file():
        return None
    truth = pd.read_parquet(path, columns=["source_id", *TRUTH_COLUMNS])
    return truth[truth["source_id"] >= 0].drop_duplicates("source_id")


def cluster_truth(sources_dir: str | Path) -> pd.DataFrame | None:
    """``cluster``, ``feh_true`` and ``log_age_true`` (log10 yr) of the mock clusters (None without the file)."""
    path = Path(sources_dir) / "truth_clusters.parquet"
    if not path.is_file():
        return None
    truth = pd.read_parquet(path, columns=["Name", "feh_true", "age_true_myr"])
    truth["log_age_true"] = np.log10(truth.pop("age_true_myr") * 1e6)
    return truth.rename(columns={"Name": "cluster"})
