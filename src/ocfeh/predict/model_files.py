"""A model directory on disk: LightGBM text, JSON and ``.npz`` only, so loading a model runs no stored code.

Files (one run's ``model/``):

- ``<target>.txt`` (or ``.cbm``), ``<target>.json``, ``<target>_network.npz``: the models and their cards
  (:meth:`ocfeh.train.TargetModel.save`);
- ``calibration.json``: the conformal quantiles of each target, the Mondrian bins and the file names below;
- ``difficulty_<target>.txt``: the difficulty model of each target's intervals (LightGBM text);
- ``ood.npz``: the out-of-distribution score (standardisation, reference stars, threshold);
- ``uncertainty.json``: a readable card of all of it (quantiles per bin, OOD threshold, provenance).

Directories written before the package's redesign hold ``uncertainty.pkl`` (and ``predictor.pkl`` from
``Predictor.save``) instead: :func:`read_legacy_pickle` reads them with an unpickler that maps the classes
of the old layout onto today's and refuses every other class.
"""

from __future__ import annotations

import json
import pickle
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from ..exceptions import InputError
from ..provenance import atomic_path, checked_file, file_sha256, write_json
from ..train.backends import load_lightgbm_text
from ..train.ood import KNNNoveltyScore
from ..train.uncertainty import ConformalIntervals, MondrianBins

__all__ = ["CALIBRATION_FILE", "LEGACY_PREDICTOR", "LEGACY_UNCERTAINTY", "load_calibration", "read_legacy_pickle",
           "save_calibration_files"]

CALIBRATION_FILE = "calibration.json"
OOD_FILE = "ood.npz"
LEGACY_UNCERTAINTY = "uncertainty.pkl"
LEGACY_PREDICTOR = "predictor.pkl"

# where the classes of a pickled model lived before the redesign, and where they live now
_MOVED = {
    ("ocfeh.uncertainty", "ConformalIntervals"): ("ocfeh.train.uncertainty", "ConformalIntervals"),
    ("ocfeh.uncertainty", "MondrianBins"): ("ocfeh.train.uncertainty", "MondrianBins"),
    ("ocfeh.ood", "KNNNoveltyScore"): ("ocfeh.train.ood", "KNNNoveltyScore"),
    ("ocfeh.predict", "Predictor"): ("ocfeh.predict.predictor", "Predictor"),
    ("ocfeh.model", "TargetModel"): ("ocfeh.train.model", "TargetModel"),
    ("ocfeh.network", "NetworkRegressor"): ("ocfeh.train.network", "NetworkRegressor"),
}
# what else a model pickle of those days holds: numbers, LightGBM, scikit-learn's k-d tree and regressors
_ALLOWED_PACKAGES = ("numpy", "lightgbm", "sklearn", "scipy")
# from the standard library only containers and the helpers pickle itself uses (no eval, exec, getattr)
_ALLOWED_NAMES = {
    "builtins": {"set", "frozenset", "slice", "complex", "range", "bytearray", "bytes", "dict", "list", "tuple",
                 "int", "float", "str", "bool", "object"},
    "collections": {"OrderedDict", "defaultdict", "deque", "Counter"},
    "copyreg": {"_reconstructor"},
    "_codecs": {"encode"},
}


class _LegacyUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _MOVED:
            module, name = _MOVED[module, name]
        elif not (module.split(".")[0] in _ALLOWED_PACKAGES or module.startswith("ocfeh.train.")
                  or name in _ALLOWED_NAMES.get(module, ())):
            raise pickle.UnpicklingError(f"{module}.{name} is not part of a saved ocfeh model")
        return super().find_class(module, name)


def read_legacy_pickle(path: str | Path) -> Any:
    """Read ``uncertainty.pkl`` or ``predictor.pkl`` of a model directory written before the redesign."""
    path = Path(path)
    try:
        with open(path, "rb") as fh:
            return _LegacyUnpickler(fh).load()
    except (OSError, EOFError, pickle.UnpicklingError, AttributeError, ModuleNotFoundError) as err:
        raise InputError(f"{path}: not a readable saved model ({type(err).__name__}: {err}); retrain it "
                         "(`ocfeh train`) or restore the file") from None


def save_calibration_files(model_dir: str | Path, conformal: dict[str, ConformalIntervals] | None,
                           bins: MondrianBins | None, ood: KNNNoveltyScore | None) -> list[Path]:
    """Write the calibration of a model directory (see the module docstring); the paths written."""
    model_dir = Path(model_dir)
    written = []
    record: dict[str, Any] = {"format": 1, "bins": [list(c) for c in bins.cuts] if bins is not None else None,
                              "conformal": {}, "ood": None}
    for target, c in (conformal or {}).items():
        name = f"difficulty_{target}.txt"
        with atomic_path(model_dir / name) as tmp:
            c.difficulty_.save_model(str(tmp))
        written.append(model_dir / name)
        record["conformal"][target] = {**c.to_dict(), "difficulty_file": name,
                                       "sha256": file_sha256(model_dir / name)}
    if ood is not None:
        with atomic_path(model_dir / OOD_FILE) as tmp, open(tmp, "wb") as fh:
            np.savez(fh, **ood.to_arrays())
        written.append(model_dir / OOD_FILE)
        record["ood"] = OOD_FILE
        record["ood_sha256"] = file_sha256(model_dir / OOD_FILE)
    written.append(write_json(model_dir / CALIBRATION_FILE, record))
    return written


def load_calibration(model_dir: str | Path) -> tuple[dict | None, MondrianBins | None, KNNNoveltyScore | None] | None:
    """``(conformal, bins, ood)`` of a model directory, from today's files or an old ``uncertainty.pkl``;
    None when it was never calibrated."""
    model_dir = Path(model_dir)
    path = model_dir / CALIBRATION_FILE
    if not path.is_file():
        if (model_dir / LEGACY_UNCERTAINTY).is_file():
            extra = read_legacy_pickle(model_dir / LEGACY_UNCERTAINTY)
            return extra["conformal"], extra["bins"], extra["ood"]
        return None
    rec = _read_json(path)
    conformal = {}
    for target, state in rec["conformal"].items():
        booster = load_lightgbm_text(checked_file(model_dir / state["difficulty_file"], state.get("sha256"), path))
        conformal[target] = ConformalIntervals.from_dict(state, booster)
    bins = MondrianBins(tuple(tuple(c) for c in rec["bins"])) if rec.get("bins") else None
    ood = None
    if rec.get("ood"):
        ood_path = checked_file(model_dir / rec["ood"], rec.get("ood_sha256"), path)
        try:
            with np.load(ood_path) as arrays:
                ood = KNNNoveltyScore.from_arrays(arrays)
        except (OSError, ValueError, KeyError, EOFError) as err:
            raise InputError(f"{ood_path}: not a readable OOD reference ({type(err).__name__}); restore the model "
                             "directory or retrain (`ocfeh train`)") from None
    return conformal or None, bins, ood


def calibration_files(model_dir: str | Path) -> Iterable[Path]:
    """The files :func:`load_calibration` reads (that exist)."""
    model_dir = Path(model_dir)
    names = [CALIBRATION_FILE, OOD_FILE, LEGACY_UNCERTAINTY, *(p.name for p in model_dir.glob("difficulty_*.txt"))]
    return [model_dir / n for n in names if (model_dir / n).is_file()]


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, ValueError) as err:
        raise InputError(f"{path}: not a readable model file ({err}); retrain the model (`ocfeh train`)") from None
