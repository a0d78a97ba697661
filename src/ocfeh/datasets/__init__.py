"""Ready-made real data in the canonical star-table schema: the APOGEE x Gaia XP labelled set (with
XP-synthetic J-PLUS magnitudes), the Green et al. (2021) multi-survey table, and real open-cluster members.

>>> from ocfeh.datasets import DATASETS
>>> sorted(DATASETS)
['apogee-xp']
"""

from .apogee_xp import MODEL_SETTINGS, build_apogee_xp, load_apogee_xp
from .green2020 import GREEN2020_BANDS, colour_features, read_green2020
from .real_members import REAL_MEMBER_LISTS, read_real_members
from .registry import DATASETS, load_dataset

__all__ = [
    "DATASETS",
    "load_dataset",
    "load_apogee_xp",
    "build_apogee_xp",
    "MODEL_SETTINGS",
    "read_green2020",
    "colour_features",
    "GREEN2020_BANDS",
    "read_real_members",
    "REAL_MEMBER_LISTS",
]
