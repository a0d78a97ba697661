"""Survey tables: one reader per survey into the canonical schema, the positional cross-match, and
archive access (TAP).

>>> from ocfeh.catalogs import readers, read_catalog
>>> sorted(readers)[:3]
['apogee', 'bailer_jones', 'catwise']

The column maps live in one module per survey (:mod:`~ocfeh.catalogs.jplus`, :mod:`~ocfeh.catalogs.gaia`,
:mod:`~ocfeh.catalogs.catwise`, :mod:`~ocfeh.catalogs.spectroscopic`, :mod:`~ocfeh.catalogs.hr23`,
:mod:`~ocfeh.catalogs.shared_tables`); importing this package registers them all. See :mod:`ocfeh.schema`
for the canonical names.
"""

from __future__ import annotations

# importing a survey's module registers its readers; this order is the order `ocfeh readers` lists them
# isort: off
from . import jplus  # noqa: F401
from . import gaia  # noqa: F401
from . import catwise  # noqa: F401
from . import spectroscopic  # noqa: F401
from . import hr23  # noqa: F401
from . import shared_tables  # noqa: F401
# isort: on
from .formats import load_table, raw_from_arrow
from .hr23 import name_key, read_hr23
from .matching import CrossmatchResult, crossmatch, join_matches
from .matching_lsdb import crossmatch_lsdb
from .registry import Column, Reader, read_catalog, readers

__all__ = [
    "readers",
    "read_catalog",
    "Reader",
    "Column",
    "load_table",
    "raw_from_arrow",
    "read_hr23",
    "name_key",
    "crossmatch",
    "crossmatch_lsdb",
    "join_matches",
    "CrossmatchResult",
]
