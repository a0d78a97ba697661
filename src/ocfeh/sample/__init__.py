"""The training sample and the catalogue: read the survey tables, cross-match them, adopt distance and
extinction, apply the quality cuts (the poster's Table 1), remove per-tile J-PLUS zero points and split
train / validation / blind test.

Cuts and splits are also usable alone: :func:`apply_cuts`, :func:`stratified_split`.

>>> import pandas as pd
>>> from ocfeh.sample import CutsConfig, apply_cuts
>>> stars = pd.DataFrame({"ruwe": [1.0, 2.0]})
>>> kept, cleaning = apply_cuts(stars, CutsConfig(labels=[], min_snr="off", bands=[], max_mag_err="off",
...     min_parallax_over_error="off", require_distance=False, require_a0=False))
>>> len(kept), cleaning["step"].tolist()
(1, ['input', 'finite labels ()', 'ruwe < 1.4'])
"""

from .adopt import adopt_distance, adopt_extinction, map_a0
from .assembly import assemble, read_sources
from .build import SamplePaths, build_catalog, build_sample
from .config import CutsConfig, SampleConfig, SplitConfig
from .convert import convert_table
from .cuts import apply_cuts, cut_bands
from .split import stratified_split

__all__ = [
    "SampleConfig",
    "CutsConfig",
    "SplitConfig",
    "read_sources",
    "assemble",
    "adopt_distance",
    "adopt_extinction",
    "map_a0",
    "apply_cuts",
    "cut_bands",
    "stratified_split",
    "build_sample",
    "build_catalog",
    "SamplePaths",
    "convert_table",
]
