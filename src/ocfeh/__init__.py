"""ocfeh: Teff, log g and [Fe/H] from multi-survey photometry, and open-cluster metallicities.

The whole method in one call (a run directory with every stage, see :func:`run`)::

    import ocfeh
    result = ocfeh.run("examples/config.toml", out="runs/mine")
    model = ocfeh.load_model("runs/mine/model")
    stars = model.predict(table)      # values, 68%/95% intervals, ood_flag, reason

>>> import ocfeh
>>> ocfeh.band_set("gaia")
('G', 'BP', 'RP')
>>> cfg = ocfeh.load_config(run={"profile": "small", "seed": 7})
>>> cfg.run.profile, cfg.run.seed
('small', 7)
>>> [s.name for s in ocfeh.default_stages(cfg)]
['simulate', 'sample', 'train', 'evaluate', 'predict', 'clusters', 'report']
"""

from __future__ import annotations

from importlib import metadata as _metadata

from .bands import BAND_SETS, BANDS, band_set, get_band
from .config import load_config
from .exceptions import DataFileError, InputError, OcfehError, OcfehWarning, UnknownBandError
from .pipeline import run
from .stages import default_stages

try:
    __version__ = _metadata.version("ocfeh")
except _metadata.PackageNotFoundError:  # running from a source tree
    __version__ = "0+unknown"


def load_model(model_dir):
    """The trained, calibrated model of a run (``RUN_DIR/model``); ``.predict(table)`` gives a DataFrame.

    See :meth:`ocfeh.predict.Predictor.predict` for the columns.
    """
    from .predict import load_predictor

    return load_predictor(model_dir)


def __getattr__(name):  # heavy sub-packages load on first use
    lazy = {
        "simulate_sky": ("ocfeh.simulate", "simulate_sky"),
        "magnitudes": ("ocfeh.synthphot", "magnitudes"),
        "load_dataset": ("ocfeh.datasets", "load_dataset"),
        "read_catalog": ("ocfeh.catalogs", "read_catalog"),
        "crossmatch": ("ocfeh.crossmatch", "crossmatch"),
        "build_sample": ("ocfeh.sample", "build_sample"),
        "predict_table": ("ocfeh.predict", "predict_table"),
        "write_report": ("ocfeh.report", "write_report"),
    }
    if name in lazy:
        import importlib

        module, attr = lazy[name]
        return getattr(importlib.import_module(module), attr)
    raise AttributeError(f"module 'ocfeh' has no attribute {name!r}")


__all__ = [
    "__version__",
    "run",
    "load_config",
    "load_model",
    "default_stages",
    "simulate_sky",
    "magnitudes",
    "load_dataset",
    "read_catalog",
    "crossmatch",
    "build_sample",
    "predict_table",
    "write_report",
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
