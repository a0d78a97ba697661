"""A small neural network averaged with the boosted trees: scikit-learn's MLP on standardised features.

Trees fit a label with steps; a network fits the smooth run of a label with colour. On real stars
(APOGEE labels, XP-synthetic J-PLUS + Gaia colours) an MLP on the trees' selected features beats the
tuned trees on every target, and the mean of the two beats both (``benchmarks/bench_models.py``).

:class:`NetworkRegressor` holds ``n_models`` networks (seeds ``seed`` ...), each fitted with
scikit-learn's ``MLPRegressor`` (Adam, early stopping on a 10% hold-out of the training rows) on
features with NaN replaced by the training median and standardised, against the standardised label.
It saves to one ``.npz`` of plain arrays (no pickle) and predicts with the ReLU forward pass those
arrays define, identical to ``MLPRegressor.predict``.

>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> X = rng.normal(size=(2000, 3))
>>> y = 5000 + 300 * np.sin(X[:, 0]) + 100 * X[:, 1]
>>> net = NetworkRegressor(layers=(32, 32), seed=0).fit(X[:1500], y[:1500])
>>> bool(np.abs(net.predict(X[1500:]) - y[1500:]).mean() < 30)
True
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

import numpy as np

from ..exceptions import InputError, NotFittedError
from ..provenance import atomic_path

__all__ = ["NetworkRegressor"]

log = logging.getLogger(__name__)


class NetworkRegressor:
    """A seed ensemble of multi-layer perceptrons for one label.

    Parameters
    ----------
    layers : sequence of int, default=(256, 256, 128)
        Hidden-layer widths (ReLU).
    alpha : float, default=1e-4
        L2 penalty on the weights (scikit-learn's ``alpha``).
    n_models : int, default=1
        Networks averaged, seeds ``seed`` .. ``seed + n_models - 1``.
    seed : int, default=42
    max_iter : int, default=400
        Epochs at most; early stopping (25 epochs without gain on the hold-out) usually ends sooner.
    learning_rate : float, default=1e-3
        Adam's initial step (scikit-learn's ``learning_rate_init``).
    batch_size : int, default=256

    Attributes
    ----------
    n_features_in_ : int
    fill_ : (n_features,) training medians put in place of NaN
    n_imputed_ : int
        NaN values filled at fit.
    n_outputs_ : int
        Labels fitted: 1 for a label vector ``y`` (``predict`` returns a vector), k for an (n, k) array
        (one network for k labels, each standardised; ``predict`` returns (n, k)).
    """

    def __init__(self, layers=(256, 256, 128), alpha: float = 1e-4, n_models: int = 1, seed: int = 42,
                 max_iter: int = 400, learning_rate: float = 1e-3, batch_size: int = 256):
        self.layers = tuple(int(n) for n in layers)
        self.alpha = float(alpha)
        self.n_models = int(n_models)
        self.seed = int(seed)
        self.max_iter = int(max_iter)
        self.learning_rate = float(learning_rate)
        self.batch_size = int(batch_size)

    def __repr__(self) -> str:
        state = f"{self.n_features_in_} features" if hasattr(self, "weights_") else "not fitted"
        return f"NetworkRegressor(layers={list(self.layers)}, n_models={self.n_models}, {state})"

    def _inputs(self, X) -> np.ndarray:
        X = np.asarray(X, dtype=float)
        if X.ndim != 2 or X.shape[1] != self.n_features_in_:
            raise InputError(f"the network takes {self.n_features_in_} features; got an array of shape {X.shape}")
        X = np.where(np.isnan(X), self.fill_, X)
        return (X - self.x_mean_) / self.x_scale_

    def fit(self, X, y) -> NetworkRegressor:
        """Fit on an (n, n_features) array and n labels, or an (n, k) array of k labels; rows with a
        non-finite label are dropped."""
        from sklearn.exceptions import ConvergenceWarning
        from sklearn.neural_network import MLPRegressor

        X, y = np.asarray(X, dtype=float), np.asarray(y, dtype=float)
        if y.ndim not in (1, 2):
            raise InputError(f"NetworkRegressor.fit takes labels of shape (n,) or (n, k); got {y.shape}")
        ok = np.isfinite(y) if y.ndim == 1 else np.isfinite(y).all(axis=1)
        if X.ndim != 2 or len(X) != len(y) or ok.sum() < 20:
            raise InputError(f"NetworkRegressor.fit needs an (n, k) array and n labels, 20 finite at least; "
                             f"got X {X.shape}, {int(ok.sum())} finite of {len(y)} labels")
        if self.n_models < 1:
            raise InputError(f"n_models must be >= 1, got {self.n_models}")
        X, y = X[ok], y[ok]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns
            fill = np.nanmedian(X, axis=0)
        self.fill_ = np.where(np.isfinite(fill), fill, 0.0)
        self.n_imputed_ = int(np.isnan(X).sum())
        if self.n_imputed_:
            log.info("network: %d NaN feature values of %d rows filled with the training medians",
                     self.n_imputed_, len(X))
        self.n_features_in_ = X.shape[1]
        Xf = np.where(np.isnan(X), self.fill_, X)
        self.x_mean_ = Xf.mean(axis=0)
        scale = Xf.std(axis=0)
        self.x_scale_ = np.where(scale > 0, scale, 1.0)
        self.n_outputs_ = 1 if y.ndim == 1 else y.shape[1]
        scale = y.std(axis=0)
        self.y_mean_, self.y_scale_ = y.mean(axis=0), np.where(scale > 0, scale, 1.0)
        Z, t = (Xf - self.x_mean_) / self.x_scale_, (y - self.y_mean_) / self.y_scale_
        self.weights_, self.n_iter_ = [], []
        for i in range(self.n_models):
            net = MLPRegressor(hidden_layer_sizes=self.layers, alpha=self.alpha, batch_size=self.batch_size,
                               learning_rate_init=self.learning_rate, max_iter=self.max_iter,
                               early_stopping=True, validation_fraction=0.1, n_iter_no_change=25,
                               random_state=self.seed + i)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                net.fit(Z, t)
            self.weights_.append([(w.copy(), b.copy()) for w, b in zip(net.coefs_, net.intercepts_)])
            self.n_iter_.append(int(net.n_iter_))
        return self

    def predict(self, X) -> np.ndarray:
        """Mean prediction of the networks (label units): (n,) for one label, (n, k) for k."""
        if not hasattr(self, "weights_"):
            raise NotFittedError("This NetworkRegressor is not fitted yet. Call 'fit' first.")
        Z = self._inputs(X)
        out = np.zeros((len(Z), self.n_outputs_))
        for net in self.weights_:
            h = Z
            for w, b in net[:-1]:
                h = np.maximum(h @ w + b, 0.0)
            out += h @ net[-1][0] + net[-1][1]
        out = out / len(self.weights_) * self.y_scale_ + self.y_mean_
        return out[:, 0] if self.n_outputs_ == 1 else out

    # -- persistence
    def save(self, path: str | Path) -> None:
        """Write every array to one ``.npz`` (written whole or not at all)."""
        if not hasattr(self, "weights_"):
            raise NotFittedError("This NetworkRegressor is not fitted yet. Call 'fit' first.")
        arrays = {"fill": self.fill_, "x_mean": self.x_mean_, "x_scale": self.x_scale_,
                  "y": np.array([self.y_mean_, self.y_scale_]).reshape(2, -1), "layers": np.array(self.layers),
                  "alpha": np.array(self.alpha), "seed": np.array(self.seed), "n_iter": np.array(self.n_iter_),
                  "learning_rate": np.array(self.learning_rate), "batch_size": np.array(self.batch_size)}
        for i, net in enumerate(self.weights_):
            for j, (w, b) in enumerate(net):
                arrays[f"w{i}_{j}"], arrays[f"b{i}_{j}"] = w, b
        with atomic_path(Path(path)) as tmp, open(tmp, "wb") as fh:
            np.savez(fh, **arrays)

    @classmethod
    def load(cls, path: str | Path) -> NetworkRegressor:
        try:
            with np.load(path) as f:
                a = {k: f[k] for k in f.files}
        except (OSError, ValueError) as exc:
            raise InputError(f"cannot read the network file {path}: {exc}") from exc
        n_iter = a["n_iter"].tolist()
        fit_kw = {k: v.item() for k in ("learning_rate", "batch_size") if (v := a.get(k)) is not None}
        net = cls(layers=a["layers"].tolist(), alpha=float(a["alpha"]), n_models=len(n_iter), seed=int(a["seed"]),
                  **fit_kw)
        net.fill_, net.x_mean_, net.x_scale_ = a["fill"], a["x_mean"], a["x_scale"]
        y = a["y"].reshape(2, -1)  # files before multi-label networks hold (mean, scale)
        net.y_mean_, net.y_scale_, net.n_outputs_ = y[0], y[1], y.shape[1]
        net.n_features_in_, net.n_iter_, net.n_imputed_ = len(net.fill_), n_iter, 0
        n_layers = len(net.layers) + 1
        try:
            net.weights_ = [[(a[f"w{i}_{j}"], a[f"b{i}_{j}"]) for j in range(n_layers)] for i in range(len(n_iter))]
        except KeyError as exc:
            raise InputError(f"the network file {path} lacks the array {exc}: it is incomplete") from None
        return net
