"""Open clusters: members, cluster [Fe/H] (bootstrap median and hierarchical MCMC), isochrone fitting.

>>> from ocfeh.clusters import median_feh
>>> median_feh([0.0, 0.1, -0.1, 0.05, 0.0, 0.02, -0.03, 0.01, 0.04, -0.02]).n
10
"""

from __future__ import annotations

from .config import ClusterConfig
from .members import MemberSelection, normalise_members, select_members
from .membership import (MembershipResult, compare_members, find_members, hdbscan_members, members_in_cones,
                         sequence_weight)
from .metallicity import ClusterFehResult, FewMembersWarning, MedianResult, fit_cluster_feh, median_feh, member_errors
from .real_members import REAL_MEMBER_LISTS, read_real_members
from .references import compare_with_references, name_key, read_reference, read_references

__all__ = [
    "ClusterConfig",
    "MemberSelection",
    "normalise_members",
    "select_members",
    "MembershipResult",
    "find_members",
    "hdbscan_members",
    "sequence_weight",
    "compare_members",
    "members_in_cones",
    "FewMembersWarning",
    "MedianResult",
    "member_errors",
    "ClusterFehResult",
    "median_feh",
    "fit_cluster_feh",
    "read_reference",
    "read_references",
    "compare_with_references",
    "name_key",
    "read_real_members",
    "REAL_MEMBER_LISTS",
    "fit_isochrone",
    "IsochroneFitResult",
    "read_basti",
    "BastiGrid",
    "MagnitudeTable",
    "IsochroneMagnitudes",
    "analyse_cluster",
    "analyse_clusters",
    "run_clusters",
]


def __getattr__(name: str):  # heavy parts (scipy, h5py, emcee) load on first use
    if name in ("fit_isochrone", "IsochroneFitResult"):
        from . import isochrone_fit

        return getattr(isochrone_fit, name)
    if name in ("read_basti", "BastiGrid", "MagnitudeTable", "IsochroneMagnitudes"):
        from . import isochrones

        return getattr(isochrones, name)
    if name in ("analyse_cluster", "analyse_clusters", "run_clusters"):
        from . import pipeline

        return getattr(pipeline, name)
    raise AttributeError(f"module 'ocfeh.clusters' has no attribute {name!r}")
