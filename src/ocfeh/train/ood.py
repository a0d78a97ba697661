"""Out-of-distribution score: is a star inside the colour-magnitude space the model was trained on?

The score is the mean Euclidean distance to the ``k`` nearest training stars in standardised feature
space (absolute magnitudes span the whole colour-magnitude space, so they are the default features),
divided by the ``quantile`` of the same distance among held-out training stars. ``ood_score > 1``
(``ood_flag``) means the star is farther from the training set than 99.5% (default) of training
stars are: the model extrapolates there and its intervals are not calibrated.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..exceptions import InputError, NotFittedError

__all__ = ["KNNNoveltyScore"]


class KNNNoveltyScore:
    """kNN-distance novelty score in standardised feature space.

    Parameters
    ----------
    k : int, default=10
        Neighbours averaged.
    quantile : float, default=0.995
        Training quantile that maps to ``ood_score = 1``.
    n_reference : int, default=20000
        Training stars kept as the reference set (a random subsample; bounds memory and query time).
    n_holdout : int, default=5000
        Further training stars (not in the reference) that set the threshold.
    seed : int, default=0

    Attributes
    ----------
    feature_names_in_ : list of str
    center_, scale_ : ndarray
        Standardisation (median and 1.4826 x MAD, robust to outliers).
    threshold_ : float
        Mean kNN distance at the training quantile.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(0)
    >>> X = pd.DataFrame(rng.normal(size=(3000, 3)), columns=["a", "b", "c"])
    >>> det = KNNNoveltyScore(n_reference=2000, n_holdout=1000).fit(X)
    >>> bool(det.score(pd.DataFrame({"a": [0.0, 30.0], "b": [0.0, 0.0], "c": [0.0, 0.0]}))[1] > 1)
    True
    """

    def __init__(self, k: int = 10, quantile: float = 0.995, n_reference: int = 20000,
                 n_holdout: int = 5000, seed: int = 0):
        self.k = k
        self.quantile = quantile
        self.n_reference = n_reference
        self.n_holdout = n_holdout
        self.seed = seed

    def fit(self, X: pd.DataFrame) -> KNNNoveltyScore:
        """Learn the reference set and threshold from training features (rows with NaN are dropped)."""
        from sklearn.neighbors import KDTree

        if not isinstance(X, pd.DataFrame):
            raise InputError("KNNNoveltyScore.fit needs a DataFrame of named features")
        arr = X.to_numpy(dtype=np.float64)
        arr = arr[np.isfinite(arr).all(axis=1)]
        n = arr.shape[0]
        if n < 2 * (self.k + 1):
            raise InputError(f"KNNNoveltyScore needs at least {2 * (self.k + 1)} complete training rows; got {n}")
        self.feature_names_in_ = list(X.columns)
        self.center_ = np.median(arr, axis=0)
        mad = 1.4826 * np.median(np.abs(arr - self.center_), axis=0)
        self.scale_ = np.where(mad > 0, mad, 1.0)
        rng = np.random.default_rng(self.seed)
        perm = rng.permutation(n)
        n_hold = min(self.n_holdout, n // 3)
        hold = perm[:n_hold]
        ref = perm[n_hold:n_hold + self.n_reference]
        z = (arr - self.center_) / self.scale_
        self.tree_ = KDTree(z[ref], leaf_size=40)
        d = self._raw(z[hold])
        self.threshold_ = float(np.quantile(d, self.quantile))
        return self

    def to_arrays(self) -> dict[str, np.ndarray]:
        """The fitted state as arrays (for an ``.npz``): settings, standardisation, reference set, threshold."""
        if not hasattr(self, "tree_"):
            raise NotFittedError("This KNNNoveltyScore is not fitted yet. Call 'fit' with training features.")
        return {"settings": np.array([self.k, self.quantile, self.n_reference, self.n_holdout, self.seed], float),
                "features": np.array(self.feature_names_in_, dtype=str), "center": self.center_,
                "scale": self.scale_, "reference": np.asarray(self.tree_.data), "threshold": np.array(self.threshold_)}

    @classmethod
    def from_arrays(cls, arrays) -> KNNNoveltyScore:
        """The inverse of :meth:`to_arrays` (the k-d tree is rebuilt from the reference set)."""
        from sklearn.neighbors import KDTree

        k, quantile, n_reference, n_holdout, seed = arrays["settings"].tolist()
        det = cls(int(k), float(quantile), int(n_reference), int(n_holdout), int(seed))
        det.feature_names_in_ = [str(f) for f in arrays["features"]]
        det.center_, det.scale_ = np.asarray(arrays["center"], float), np.asarray(arrays["scale"], float)
        det.tree_ = KDTree(np.asarray(arrays["reference"], float), leaf_size=40)
        det.threshold_ = float(arrays["threshold"])
        return det

    def _raw(self, z: np.ndarray) -> np.ndarray:
        dist, _ = self.tree_.query(z, k=self.k)
        return dist.mean(axis=1)

    def score(self, X: pd.DataFrame | np.ndarray) -> np.ndarray:
        """``ood_score`` of each row (NaN for rows with missing features); > 1 means outside."""
        if not hasattr(self, "tree_"):
            raise NotFittedError("This KNNNoveltyScore is not fitted yet. Call 'fit' with training features.")
        if isinstance(X, pd.DataFrame):
            missing = [c for c in self.feature_names_in_ if c not in X]
            if missing:
                raise InputError(f"OOD score needs features {missing[:10]} (of {len(missing)} missing)")
            X = X[self.feature_names_in_]
        arr = np.asarray(X, dtype=np.float64)
        out = np.full(arr.shape[0], np.nan)
        ok = np.isfinite(arr).all(axis=1)
        if ok.any():
            out[ok] = self._raw((arr[ok] - self.center_) / self.scale_) / self.threshold_
        return out
