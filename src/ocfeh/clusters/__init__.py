"""Open clusters: members, cluster [Fe/H] (bootstrap median and hierarchical MCMC), isochrone fitting,
photometric membership, and the cluster stage.

>>> from ocfeh.clusters import median_feh
>>> median_feh([0.0, 0.1, -0.1, 0.05, 0.0, 0.02, -0.03, 0.01, 0.04, -0.02]).n
10
"""

from __future__ import annotations

from ..catalogs import name_key
from .analyse import analyse_cluster, analyse_clusters
from .config import ClusterConfig
from .isochrone_fit import IsochroneFitResult, fit_isochrone
from .members import select_members
from .membership import find_members
from .metallicity import fit_cluster_feh, median_feh
from .references import compare_with_references, read_references
from .stage import ClusterInputs, run_clusters

__all__ = [
    "ClusterConfig",
    "ClusterInputs",
    "run_clusters",
    "analyse_clusters",
    "analyse_cluster",
    "select_members",
    "median_feh",
    "fit_cluster_feh",
    "fit_isochrone",
    "IsochroneFitResult",
    "find_members",
    "read_references",
    "compare_with_references",
    "name_key",
]
