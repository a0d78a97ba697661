"""ocfeh: Teff, log g and [Fe/H] from multi-survey photometry, and open-cluster metallicities.

>>> import ocfeh
>>> ocfeh.band_set("gaia")
('G', 'BP', 'RP')
"""

from __future__ import annotations

from importlib import metadata as _metadata

from .bands import BAND_SETS, BANDS, band_set, get_band
from .exceptions import DataFileError, InputError, OcfehError, OcfehWarning, UnknownBandError

try:
    __version__ = _metadata.version("ocfeh")
except _metadata.PackageNotFoundError:  # running from a source tree
    __version__ = "0+unknown"

__all__ = [
    "__version__",
    "BANDS",
    "BAND_SETS",
    "band_set",
    "get_band",
    "OcfehError",
    "OcfehWarning",
    "DataFileError",
    "InputError",
    "UnknownBandError",
]
