"""Validation against independent labels: peer regressors, cross-survey offsets and label-scale maps.

>>> from ocfeh.validation import hr_regions
>>> hr_regions([4000.0, 6000.0], [2.0, 4.4]).tolist()
['giant/<4500', 'dwarf/>=5500']
"""

from .label_scale import LabelScaleMapping, apply_label_scale, fit_label_scale
from .offsets import CrossSurveyResult, cluster_offsets, cross_survey, hr_regions, offset_stats, offset_table
from .peers import PEERS, Peer, fit_peer, get_peer

__all__ = [
    "cross_survey",
    "CrossSurveyResult",
    "offset_stats",
    "offset_table",
    "hr_regions",
    "cluster_offsets",
    "fit_label_scale",
    "apply_label_scale",
    "LabelScaleMapping",
    "Peer",
    "PEERS",
    "get_peer",
    "fit_peer",
]
