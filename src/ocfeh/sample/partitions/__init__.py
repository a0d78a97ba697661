"""The sample stage out of core (``[sample] engine = "hats"``): source tables as HATS catalogues, the joins,
adoption and cuts of the in-memory path run per partition on Dask, the catalogue written as HATS.

Needs the ``scale`` extra (hats, hats-import, lsdb, dask, distributed).
"""

from .inputs import MARGIN_ARCSEC, PartitionedSource, is_hats, open_source
from .stage import build_catalog_partitioned, build_sample_partitioned, sample_client

__all__ = [
    "MARGIN_ARCSEC",
    "PartitionedSource",
    "build_catalog_partitioned",
    "build_sample_partitioned",
    "is_hats",
    "open_source",
    "sample_client",
]
