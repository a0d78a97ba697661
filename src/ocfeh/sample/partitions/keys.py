"""The columns and pixel arithmetic the partitioned sample stage shares."""

from __future__ import annotations

import numpy as np

__all__ = ["ROW", "SPATIAL_INDEX", "in_pixel", "source_id_healpix29"]

ROW = "_ocfeh_row"
"""Row number of an imported row in its input files (file index x 2^40 + row): the in-memory order."""

SPATIAL_INDEX = "_healpix_29"
"""The HATS spatial index column (HEALPix nested index at order 29)."""


def source_id_healpix29(source_id) -> np.ndarray:
    """The HATS spatial index of the level-12 pixel a Gaia ``source_id`` encodes (``source_id // 2^35``).

    >>> int(source_id_healpix29([5 * 2**35 + 7])[0]) == 5 * 4**17
    True
    """
    sid = np.asarray(source_id, np.int64)
    return (sid >> 35) << 34


def in_pixel(spatial_index, order: int, pixel: int) -> np.ndarray:
    """Which spatial indices lie in HEALPix ``pixel`` of ``order``.

    >>> in_pixel(np.array([0, 4**29]), 0, 0).tolist()
    [True, False]
    """
    return (np.asarray(spatial_index, np.int64) >> (2 * (29 - order))) == pixel
