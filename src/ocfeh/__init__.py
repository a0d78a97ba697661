"""ocfeh: Teff, log g and [Fe/H] from multi-survey photometry, and open-cluster metallicities.

The whole method in one call (a run directory with every stage, see :func:`run`)::

    import ocfeh
    result = ocfeh.run("examples/config.toml", out="runs/mine")
    model = ocfeh.load_model("runs/mine/model")
    stars = model.predict(table)      # values, 68%/95% intervals, ood_flag, reason

The package follows a star's way through it: ``synthphot`` (photometric systems, spectra, isochrones) and
``simulate`` (the mock sky), ``catalogs`` (survey readers, cross-match, archives), ``sample``, ``train``,
``predict``, ``evaluate``, ``clusters``, ``validation`` and ``datasets``, ``report``; ``pipeline`` ties the stages
into one directory and ``cli`` is the ``ocfeh`` command.

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

from pathlib import Path

from .bands import BAND_SETS, BANDS, band_set, get_band
from .catalogs import crossmatch, read_catalog
from .datasets import load_dataset
from .exceptions import DataFileError, InputError, OcfehError, OcfehWarning, UnknownBandError
from .pipeline import build_run_sample as build_sample
from .pipeline import default_stages, demo, load_config, run
from .pipeline.named_models import model_dir_of
from .predict import Predictor, load_predictor, predict_table
from .profiles import apply_profile
from .provenance import package_version
from .report import write_report
from .simulate import simulate_sky
from .synthphot import magnitudes

__version__ = package_version()


def load_model(model_dir: str | Path) -> Predictor:
    """The trained, calibrated model of a run (``RUN_DIR/model``), or a model by name; ``.predict(table)``
    gives a DataFrame.

    ``"apogee-xp"`` names the model trained on real APOGEE stars (:mod:`ocfeh.pipeline.named_models`; built
    once by ``ocfeh build-model apogee-xp``). See :meth:`ocfeh.predict.Predictor.predict` for the columns.
    """
    return load_predictor(model_dir_of(model_dir))


__all__ = [
    "__version__",
    "run",
    "demo",
    "load_config",
    "load_model",
    "default_stages",
    "apply_profile",
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
