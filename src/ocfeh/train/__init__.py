"""Training: features, SHAP-ranked feature selection with a Bayesian hyper-parameter search, one
gradient-boosted model per label (a network averaged in), and what later calibrates it (conformal
intervals, the out-of-distribution score).

>>> import numpy as np, pandas as pd
>>> from ocfeh.train import TargetModel
>>> rng = np.random.default_rng(0)
>>> X = pd.DataFrame({"G-RP": rng.normal(size=300), "BP-RP": rng.normal(size=300)})
>>> m = TargetModel("teff", n_estimators=50, params={"learning_rate": 0.2}).fit(X, 5000 + 800 * X["BP-RP"])
>>> m.bands_
['G', 'RP', 'BP']
"""

from .features import FeatureConfig, make_features
from .model import ModelConfig, StellarParameterModel, TargetModel
from .photcheck import PhotometricCheck
from .selection import SelectionConfig
from .training import train_models, train_run
from .uncertainty import UncertaintyConfig

__all__ = [
    "FeatureConfig",
    "make_features",
    "SelectionConfig",
    "ModelConfig",
    "TargetModel",
    "StellarParameterModel",
    "PhotometricCheck",
    "UncertaintyConfig",
    "train_models",
    "train_run",
]
