"""Survey readers: native tables (FITS, Parquet, CSV, VOTable) into the canonical schema.

>>> from ocfeh.catalogs import readers, read_catalog
>>> sorted(readers)[:3]
['apogee', 'bailer_jones', 'catwise']

See :mod:`ocfeh.catalogs.surveys` for the column maps and :mod:`ocfeh.schema` for the canonical names.
"""

from __future__ import annotations

from . import surveys as _surveys  # noqa: F401  (fills the default registry)
from ._io import FORMATS, RawTable, load_table
from .registry import Column, Reader, ReaderRegistry, read_catalog, readers

__all__ = ["FORMATS", "Column", "RawTable", "Reader", "ReaderRegistry", "load_table", "read_catalog", "readers"]
