"""The trained estimator: one gradient-boosted regressor per target, saved as text model + JSON card.

Two back-ends share one small interface (:class:`~ocfeh.train.backends.Backend`): LightGBM (default; SHAP from its own
``pred_contrib``) and CatBoost (symmetric trees, exact and fast SHAP from
``get_feature_importance(type="ShapValues")``). A neural network (:mod:`ocfeh.train.network`) on the same
features may be averaged in (``[model] network_weight``).

>>> import numpy as np, pandas as pd
>>> rng = np.random.default_rng(0)
>>> X = pd.DataFrame({"G-RP": rng.normal(size=300), "BP-RP": rng.normal(size=300)})
>>> y = 5000 + 800 * X["BP-RP"].to_numpy()
>>> m = TargetModel("teff", n_estimators=50, params={"learning_rate": 0.2}).fit(X, y)
>>> m.feature_names_in_, m.bands_
(['G-RP', 'BP-RP'], ['G', 'RP', 'BP'])
>>> bool(np.abs(m.predict(X) - y).mean() < 100)
True
"""

from __future__ import annotations

import json
import logging
import warnings
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from ..exceptions import InputError, NotFittedError, OcfehWarning
from ..provenance import checked_file, file_sha256, package_version, provenance, write_json
from ..schema import LABELS, as_star_table, mag_col
from .backends import get_backend
from .features import FeatureConfig, bands_of_features, make_features
from .network import NetworkRegressor

__all__ = ["ModelConfig", "StellarParameterModel", "TargetModel"]

log = logging.getLogger(__name__)


class ModelConfig(BaseModel):
    """The ``[model]`` section: back-end and the base hyper-parameters (tuning may override them)."""

    model_config = ConfigDict(extra="forbid")
    PROFILES: ClassVar[dict[str, dict[str, Any]]] = {
        "small": {"n_estimators": 80, "learning_rate": 0.2, "early_stopping_rounds": 10, "n_jobs": 1,
                  "network_weight": 0.0},
        "default": {"n_estimators": 500, "learning_rate": 0.1, "early_stopping_rounds": 30, "n_jobs": 2},
        "full": {"n_estimators": 2000, "learning_rate": 0.05, "early_stopping_rounds": 50, "n_jobs": 2},
    }

    backend: Literal["lightgbm", "catboost"] = Field("lightgbm", description="Gradient-boosting library.")
    targets: list[Literal["teff", "logg", "feh"]] = Field(
        list(LABELS), description="Labels to model (one estimator each)."
    )
    n_estimators: int = Field(1000, ge=1, description="Maximum boosting rounds (early stopping in CV picks fewer).")
    learning_rate: float = Field(0.05, gt=0, le=1, description="Shrinkage (tuned by the search when enabled).")
    max_depth: int = Field(8, ge=1, le=16, description="Tree depth cap (SHAP cost grows with depth; ~8 halves it).")
    num_leaves: int = Field(63, ge=2, description="LightGBM leaves per tree (tuned).")
    min_child_samples: int = Field(20, ge=1, description="Minimum stars per leaf (tuned).")
    objective: Literal["l2", "l1", "huber"] = Field(
        "l2", description="Training loss. huber: squared below huber_delta, linear above, so the few large "
        "residuals (binaries, bad photometry, label outliers) pull less than in l2 and the fit follows the MAE."
    )
    huber_delta: float | None = Field(
        None, gt=0, description="Huber transition point in label units; unset: the k-fold MAE of an l2 model with "
        "the base parameters on the selection rows (the typical residual), found by the selection."
    )
    n_models: int = Field(
        1, ge=1, description="Seed-ensemble members of the final model (different row and feature subsamples), "
        "averaged into one saved model; each costs one more final fit."
    )
    network_weight: float = Field(
        0.5, ge=0, le=1, description="Weight of a neural network (scikit-learn MLP on the selected features, "
        "standardised; n_models seeds) averaged with the trees' prediction; 0: trees only (the small "
        "profile, for time). "
        "It lowers the blind-test MAE of every target on the mock sky and on real stars (README), at about a "
        "minute per seed and target on 60,000 stars (2 idle cores)."
    )
    network_layers: list[int] = Field([256, 256, 128], min_length=1, description="Hidden-layer widths of the network.")
    network_alpha: float = Field(1e-4, ge=0, description="L2 penalty on the network's weights.")
    gap_model: bool = Field(
        True, description="Train the gap model (model/gaps/): stars that miss bands, a distance or A_0 get a "
        "prediction from it, with intervals calibrated on their own missing pattern (see [predict] min_bands)."
    )
    gap_mask_probability: float = Field(
        0.25, gt=0, lt=1, description="Probability that each input group (a J-PLUS band, W1, W2, BP+RP, the "
        "distance) is masked in a training copy of the gap model."
    )
    gap_copies: int = Field(2, ge=1, description="Masked copies of the train rows the gap model is fitted on "
                            "(beside the rows as they are).")
    gap_patterns: int = Field(
        8, ge=0, description="The catalogue's most common missing patterns that get a model of their own (trained "
        "on the train rows masked alike); the other patterns use the gap model. Needs the run's catalogue.")
    phot_check: bool = Field(
        True, description="Fit the photometric check (each band predicted from the others; flags a band off the "
        "colour locus at predict time, model/photcheck/).")
    early_stopping_rounds: int = Field(50, ge=1, description="Rounds without CV-fold improvement before stopping.")
    n_jobs: int = Field(
        1, ge=1, description="Threads per fit (1 is fastest on a busy shared machine; 2 when the cores are free)."
    )

    def network(self) -> dict[str, Any] | None:
        """The :class:`TargetModel` ``network`` argument (None when the weight is 0)."""
        if self.network_weight == 0:
            return None
        return {"weight": self.network_weight, "layers": list(self.network_layers), "alpha": self.network_alpha}

    def base_params(self) -> dict[str, Any]:
        """Hyper-parameters before tuning, in the back-end-neutral names this package uses."""
        return {"learning_rate": self.learning_rate, "max_depth": self.max_depth, "num_leaves": self.num_leaves,
                "min_child_samples": self.min_child_samples}


# --------------------------------------------------------------------------------------- estimator
_CARD_KEYS = ("target", "backend", "model_file", "features", "bands", "label_range")
"""What a model card must hold to be loaded."""


class TargetModel:
    """One regressor for one label, fitted on named features (sklearn conventions).

    Parameters
    ----------
    target : {"teff", "logg", "feh"}
        The label (K for teff, dex for logg and feh).
    backend : {"lightgbm", "catboost"}, default="lightgbm"
    params : dict, optional
        Hyper-parameters (``learning_rate``, ``max_depth``, ``num_leaves`` ...).
    n_estimators : int, default=500
        Boosting rounds.
    objective : {"l2", "l1", "huber"}, default="l2"
        Training loss; ``params["huber_delta"]`` is the Huber transition point in label units
        (the back-end's default, 0.9 for LightGBM and 1.0 for CatBoost, when absent).
    feature_config : dict, optional
        :class:`~ocfeh.train.features.FeatureConfig` fields used to build features from a star table.
    seed : int, default=42
    n_jobs : int, default=1
    n_models : int, default=1
        Members of a seed ensemble (seeds ``seed`` .. ``seed + n_models - 1``; their row and feature
        subsampling differs), averaged into one model of the back-end: it is saved, loaded, explained
        (SHAP) and predicted like a single one.
    network : dict, optional
        ``{"weight": w, "layers": [...], "alpha": a}``: with ``w > 0`` a
        :class:`~ocfeh.train.network.NetworkRegressor` (``n_models`` seeds) is fitted on the same features
        and the prediction is ``(1 - w) * trees + w * network``. SHAP values explain the trees only.

    Attributes
    ----------
    feature_names_in_ : list of str
    bands_ : list of str
        Bands the features need (``predict`` on a star table fails naming the absent ones).
    label_range_ : (float, float)
        Smallest and largest training label.
    n_train_ : int
    booster_ : the fitted LightGBM Booster or CatBoostRegressor
    network_ : NetworkRegressor or None
    """

    def __init__(self, target: str = "feh", backend: str = "lightgbm", params: dict | None = None,
                 n_estimators: int = 500, objective: str = "l2", feature_config: dict | None = None,
                 seed: int = 42, n_jobs: int = 1, n_models: int = 1, network: dict | None = None):
        self.target = target
        self.backend = backend
        self.params = params
        self.n_estimators = n_estimators
        self.objective = objective
        self.feature_config = feature_config
        self.seed = seed
        self.n_jobs = n_jobs
        self.n_models = n_models
        self.network = network

    @property
    def network_weight(self) -> float:
        """Weight of the network in the prediction (0: trees only)."""
        return float((self.network or {}).get("weight", 0.0))

    def __repr__(self) -> str:
        state = f"{len(self.feature_names_in_)} features" if hasattr(self, "booster_") else "not fitted"
        return f"TargetModel({self.target!r}, backend={self.backend!r}, {state})"

    # -- fit / predict
    def fit(self, X: pd.DataFrame, y) -> TargetModel:
        """Fit on a DataFrame of named features and labels ``y``; rows with NaN labels are dropped."""
        if not isinstance(X, pd.DataFrame):
            raise InputError("TargetModel.fit needs a DataFrame of named features (see ocfeh.train.features)")
        y = np.asarray(y, dtype=float)
        if len(y) != len(X):
            raise InputError(f"X has {len(X)} rows but y has {len(y)}")
        ok = np.isfinite(y)
        if ok.sum() < 2:
            raise InputError(f"TargetModel.fit({self.target!r}): fewer than 2 finite labels in {len(y)} rows")
        if (~ok).any():
            log.info("%s: %d of %d training rows without a label dropped", self.target, int((~ok).sum()), len(y))
        for attr in ("booster_", "network_", "feature_names_in_", "bands_", "label_range_", "n_train_"):
            self.__dict__.pop(attr, None)
        be = get_backend(self.backend)
        names = [str(c) for c in X.columns]
        if int(self.n_models) < 1:
            raise InputError(f"TargetModel({self.target!r}): n_models must be >= 1, got {self.n_models}")
        if not 0.0 <= self.network_weight <= 1.0:
            raise InputError(f"TargetModel({self.target!r}): the network weight must lie in [0, 1], "
                             f"got {self.network_weight}")
        Xf = X.to_numpy(float)[ok]
        members = [be.fit(Xf, y[ok], dict(self.params or {}), int(self.n_estimators), self.seed + i, self.n_jobs,
                          self.objective, feature_names=names)[0] for i in range(int(self.n_models))]
        self.booster_ = be.average(members)
        self.network_ = self._fit_network(Xf, y[ok])
        self.feature_names_in_ = names
        self.bands_ = bands_of_features(names)
        self.label_range_ = (float(y[ok].min()), float(y[ok].max()))
        self.n_train_ = int(ok.sum())
        return self

    def _fit_network(self, X: np.ndarray, y: np.ndarray):
        w = self.network_weight
        if w == 0.0:
            return None
        spec = {k: v for k, v in (self.network or {}).items() if k in ("layers", "alpha")}
        net = NetworkRegressor(**spec, n_models=int(self.n_models), seed=self.seed).fit(X, y)
        log.info("%s: network fitted (%s epochs), weight %.2f", self.target, net.n_iter_, w)
        return net

    def blend(self, trees: np.ndarray, X: np.ndarray) -> np.ndarray:
        """The trees' prediction ``trees`` of the feature array ``X``, averaged with the network's."""
        net = getattr(self, "network_", None)
        if net is None:
            return np.asarray(trees, dtype=float)
        w = self.network_weight
        return (1.0 - w) * np.asarray(trees, dtype=float) + w * net.predict(X)

    def _check_fitted(self) -> None:
        if not hasattr(self, "booster_"):
            raise NotFittedError(
                f"This TargetModel({self.target!r}) is not fitted yet. Call 'fit' with features and labels first."
            )

    def features_of(self, data: pd.DataFrame) -> pd.DataFrame:
        """The model's features from a feature frame or, failing that, from a canonical star table.

        ``data`` is a pandas DataFrame (an astropy Table is converted); anything else raises TypeError.
        """
        self._check_fitted()
        data = as_star_table(data, "the model's features or canonical columns (mag_<band>, distance_pc, a0)")
        names = self.feature_names_in_
        if all(n in data.columns for n in names):
            return data[names]
        if any(str(c).startswith("mag_") for c in data.columns):
            absent = [b for b in self.bands_ if mag_col(b) not in data.columns]
            if absent:
                raise InputError(
                    f"the {self.target} model needs bands absent from the table ({len(data)} rows): "
                    f"{', '.join(absent)} (columns {', '.join(mag_col(b) for b in absent)})"
                )
            fc = dict(self.feature_config or {})
            order = list(FeatureConfig(**fc).resolved_bands()) if fc else []
            bands = sorted(self.bands_, key=lambda b: order.index(b) if b in order else len(order))
            fc["bands"] = bands
            fc["absolute_magnitudes"] = any(n.startswith("M_") for n in names)
            if fc["absolute_magnitudes"] and "distance_pc" not in data:
                raise InputError(f"the {self.target} model uses absolute magnitudes: the table needs distance_pc")
            return make_features(data, FeatureConfig(**fc), names=names)
        missing = [n for n in names if n not in data.columns]
        raise InputError(
            f"the {self.target} model needs {len(missing)} features absent from the data "
            f"(first: {missing[:5]}); pass a star table with columns "
            f"{', '.join(mag_col(b) for b in self.bands_)} or the feature frame"
        )

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        """Predictions for a feature frame or a canonical star table (label units); a DataFrame, see
        :meth:`features_of`."""
        feats = self.features_of(X)
        arr = feats.to_numpy(float)
        pred = self.blend(get_backend(self.backend).predict(self.booster_, arr), arr)
        lo, hi = self.label_range_
        n_out = int(((pred < lo) | (pred > hi)).sum())
        if n_out:
            log.info("%s: %d of %d predictions outside the training range [%g, %g]", self.target, n_out,
                     len(pred), lo, hi)
        return pred

    def shap_values(self, X: pd.DataFrame) -> pd.DataFrame:
        """Per-star SHAP contributions (label units) of the trees, one column per feature (a network
        blended in is not explained)."""
        feats = self.features_of(X)
        vals = get_backend(self.backend).shap(self.booster_, feats.to_numpy(float))
        return pd.DataFrame(vals, columns=self.feature_names_in_, index=feats.index)

    # -- persistence
    def save(self, directory: str | Path, metrics: dict | None = None, config: Any = None, **card_extra) -> Path:
        """Write ``<target><suffix>`` (LightGBM text / CatBoost .cbm) and ``<target>.json`` (the model card)."""
        self._check_fitted()
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        be = get_backend(self.backend)
        model_file = directory / f"{self.target}{be.suffix}"
        be.save(self.booster_, model_file)
        net_card = None
        if getattr(self, "network_", None) is not None:
            net_file = directory / f"{self.target}_network.npz"
            self.network_.save(net_file)
            net_card = {**(self.network or {}), "file": net_file.name, "n_iter": self.network_.n_iter_,
                        "sha256": file_sha256(net_file)}
        card = {
            "target": self.target,
            "backend": self.backend,
            "model_file": model_file.name,
            "model_sha256": file_sha256(model_file),
            "features": self.feature_names_in_,
            "bands": self.bands_,
            "feature_config": self.feature_config,
            "label_range": list(self.label_range_),
            "n_train": self.n_train_,
            "params": self.params,
            "n_estimators": self.n_estimators,
            "objective": self.objective,
            "n_models": self.n_models,
            "network": net_card,
            "metrics": metrics or {},
            **card_extra,
            "provenance": provenance(config, self.seed),
        }
        return write_json(directory / f"{self.target}.json", card)

    @classmethod
    def load(cls, directory: str | Path, target: str) -> TargetModel:
        """Load a model saved by :meth:`save`; a different ocfeh version warns."""
        card_path = Path(directory) / f"{target}.json"
        if not card_path.is_file():
            raise InputError(f"no model card for {target!r}: {card_path} does not exist (run 'ocfeh train' first)")
        try:
            card = json.loads(card_path.read_text())
        except (OSError, UnicodeDecodeError, ValueError) as err:
            raise InputError(f"model card {card_path} is not readable JSON ({err}): restore the model directory "
                             "or retrain (`ocfeh train`)") from None
        lacking = [k for k in _CARD_KEYS if not isinstance(card, dict) or k not in card]
        if lacking:
            raise InputError(f"model card {card_path} lacks {', '.join(lacking)}: restore the model directory or "
                             "retrain (`ocfeh train`)")
        saved = card.get("provenance", {}).get("ocfeh_version")
        if saved != package_version():
            warnings.warn(f"{card_path} was saved by ocfeh {saved}; this is ocfeh {package_version()}: "
                          "predictions may differ; retrain to be safe", OcfehWarning, stacklevel=2)
        m = cls(target=card["target"], backend=card["backend"], params=card.get("params"),
                n_estimators=card.get("n_estimators", 500), objective=card.get("objective", "l2"),
                feature_config=card.get("feature_config"), seed=card.get("provenance", {}).get("seed") or 42,
                n_models=card.get("n_models", 1),
                network={k: v for k, v in (card.get("network") or {}).items() if k in ("weight", "layers", "alpha")})
        model_file = checked_file(card_path.parent / card["model_file"], card.get("model_sha256"), card_path)
        m.booster_ = get_backend(m.backend).load(model_file)
        m.network_ = None
        if card.get("network"):
            net = card["network"]
            m.network_ = NetworkRegressor.load(checked_file(card_path.parent / net["file"], net.get("sha256"),
                                                            card_path))
        m.feature_names_in_ = list(card["features"])
        m.bands_ = list(card["bands"])
        m.label_range_ = tuple(card["label_range"])
        m.n_train_ = card.get("n_train")
        m.card_ = card
        return m


class StellarParameterModel:
    """The three targets together: ``predict(table) -> DataFrame`` of ``teff``, ``logg``, ``feh``.

    Parameters
    ----------
    models : dict of target -> TargetModel
    """

    def __init__(self, models: dict[str, TargetModel]):
        self.models = dict(models)

    def __repr__(self) -> str:
        return f"StellarParameterModel({', '.join(repr(m) for m in self.models.values())})"

    @property
    def bands_(self) -> list[str]:
        out: list[str] = []
        for m in self.models.values():
            out += [b for b in m.bands_ if b not in out]
        return out

    def predict(self, table: pd.DataFrame) -> pd.DataFrame:
        """Predictions of every target for a canonical star table (or a feature frame).

        ``table`` is a pandas DataFrame (an astropy Table is converted); anything else raises TypeError.
        """
        table = as_star_table(table, "the model's features or canonical columns (mag_<band>, distance_pc, a0)")
        return pd.DataFrame({t: m.predict(table) for t, m in self.models.items()}, index=table.index)

    def save(self, directory: str | Path, **card_extra) -> Path:
        directory = Path(directory)
        for m in self.models.values():
            m.save(directory, **card_extra)
        return directory

    @classmethod
    def load(cls, directory: str | Path, targets=LABELS) -> StellarParameterModel:
        """Load the targets whose cards exist in ``directory``."""
        directory = Path(directory)
        found = [t for t in targets if (directory / f"{t}.json").is_file()]
        if not found:
            raise InputError(f"no model cards ({', '.join(f'{t}.json' for t in targets)}) in {directory}")
        return cls({t: TargetModel.load(directory, t) for t in found})
