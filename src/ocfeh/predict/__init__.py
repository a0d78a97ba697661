"""Prediction: the calibrated predictor of a model directory, for one table in memory or for tables of
any size, chunk by chunk (resumable, in-process or on Dask).

:class:`Predictor` bundles the per-target models with the conformal calibration and the novelty score;
:func:`predict_table` streams Parquet / CSV / FITS files (or partitioned Parquet / HATS directories) through
it, one Parquet part per chunk plus a manifest.
"""

from .calibration import calibrate, calibrate_model_dir, evaluate_coverage, save_calibration
from .predictor import ID_COLUMNS, Predictor, load_predictor, predict_frame
from .table import PredictConfig, PredictResult, predict_table

__all__ = [
    "Predictor",
    "load_predictor",
    "predict_frame",
    "predict_table",
    "PredictConfig",
    "PredictResult",
    "calibrate",
    "calibrate_model_dir",
    "save_calibration",
    "evaluate_coverage",
    "ID_COLUMNS",
]
