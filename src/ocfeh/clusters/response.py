"""A monotone, piecewise-linear response of the predicted [Fe/H] to the true value.

Far from the bulk of the training labels a regression model's response bends: on real stars the
predictions of metal-poor stars flatten towards the mean, then fall steeply where few training stars
are. One straight line cannot follow that. :func:`fit_response` fits ``E[pred | feh]`` as a continuous,
strictly increasing broken line through knots spaced in [Fe/H] (continued straight beyond the end
knots), with bounded least squares (:func:`scipy.optimize.lsq_linear`) under Huber's loss: the residuals
have a one-sided tail of badly predicted stars, and the line should follow most stars, where a cluster's
robust mean lies.

The labels are noisy. Regressing on them flattens the fitted response (the Deming problem); here each
label is replaced by its expected true value given the label (Tweedie's formula,
``E[t | y] = y + s^2 d log p(y) / dy``, with ``p`` the smoothed density of the labels and ``s`` the
star's label error), which for a Gaussian label distribution is exactly the Deming correction.

References
----------
Efron 2011, JASA 106, 1602 (Tweedie's formula); Carroll et al. 2006, *Measurement Error in Nonlinear
Models*, ch. 4 (regression calibration).
"""

from __future__ import annotations

import numpy as np

from ..exceptions import InputError

__all__ = ["expected_true_labels", "fit_response", "hat_basis", "response_knots"]


def hat_basis(x, knots) -> np.ndarray:
    """Linear-interpolation weights of ``x`` on ``knots``, continued straight beyond the end knots.

    Returns an array of shape ``x.shape + (len(knots),)``: ``hat_basis(x, k) @ v`` is the broken line
    through ``(k, v)``.
    """
    x = np.asarray(x, dtype=float)
    k = np.asarray(knots, dtype=float)
    i = np.clip(np.searchsorted(k, x, side="right") - 1, 0, k.size - 2)
    w = (x - k[i]) / (k[i + 1] - k[i])
    b = np.zeros(x.shape + (k.size,))
    np.put_along_axis(b, i[..., None], (1.0 - w)[..., None], axis=-1)
    np.put_along_axis(b, (i + 1)[..., None], w[..., None], axis=-1)
    return b


def expected_true_labels(label, label_err, step: float = 0.01) -> np.ndarray:
    """``E[true | label]`` by Tweedie's formula, from a Gaussian-smoothed histogram of the labels (dex).

    The smoothing width is ``0.9 scale n^(-1/7)`` (robust scale), the rate suited to a density's
    derivative, which is noisier than the density; ``label_err`` is each star's 1-sigma error.
    """
    from scipy.ndimage import gaussian_filter1d

    y = np.asarray(label, dtype=float)
    e = np.asarray(label_err, dtype=float)
    if not np.any(e > 0):
        return y.copy()
    iqr = np.subtract(*np.percentile(y, [75, 25]))
    scale = min(float(np.std(y)), iqr / 1.349) or float(np.std(y))
    h = max(0.9 * scale * y.size ** (-1 / 7), 2 * step)
    edges = np.arange(y.min() - 5 * h, y.max() + 5 * h + step, step)
    dens = gaussian_filter1d(np.histogram(y, edges)[0].astype(float), h / step, mode="constant")
    centres = 0.5 * (edges[1:] + edges[:-1])
    score = np.gradient(np.log(np.maximum(dens, 1e-12 * dens.max())), step)
    return y + e**2 * np.interp(y, centres, score)


def response_knots(t, step: float = 0.25, min_stars: int = 50, tail: float = 0.002) -> np.ndarray:
    """Knots every ``step`` dex between the ``tail`` and ``1 - tail`` quantiles of ``t``, merged so that
    at least ``min_stars`` stars lie between neighbours. Fewer than two knots: an empty array."""
    t = np.sort(np.asarray(t, dtype=float))
    lo, hi = np.quantile(t, [tail, 1 - tail])
    if not hi - lo > 0:
        return np.array([])
    cand = np.linspace(lo, hi, max(2, round((hi - lo) / step) + 1))
    kept = [cand[0]]
    for k in cand[1:]:
        if np.searchsorted(t, k) - np.searchsorted(t, kept[-1]) >= min_stars:
            kept.append(k)
    if len(kept) > 1 and kept[-1] != cand[-1]:
        kept[-1] = cand[-1]  # the last segment takes the remainder
    return np.array(kept) if len(kept) >= 2 else np.array([])


def fit_response(pred, t, knots, min_slope: float = 0.05, huber: float | None = 1.345, n_iter: int = 20) -> np.ndarray:
    """Values at ``knots`` of the broken line ``pred ~ f(t)`` with every slope >= ``min_slope``.

    The fit is robust: Huber's loss with threshold ``huber`` robust standard deviations of the residuals
    (iteratively reweighted least squares), so a tail of badly predicted stars does not pull the line
    from where most stars lie, as it would not pull a cluster's robust mean. ``huber=None``: least squares.

    Raises
    ------
    InputError
        Fewer than two knots.
    """
    from scipy.optimize import lsq_linear

    k = np.asarray(knots, dtype=float)
    if k.size < 2:
        raise InputError("a broken-line response needs at least two knots")
    y = np.asarray(pred, dtype=float)
    # values = v0 + cumsum(increments): increments bounded below keep the line increasing
    design = np.cumsum(hat_basis(t, k)[:, ::-1], axis=1)[:, ::-1]
    lower = np.concatenate([[-np.inf], min_slope * np.diff(k)])
    w = np.ones(y.size)
    p = None
    for _ in range(n_iter if huber else 1):
        # the weighted minimum on the K x K Cholesky factor of the normal equations: fast for any n
        gram = (design * w[:, None]).T @ design + 1e-12 * np.eye(k.size)
        r = np.linalg.cholesky(gram).T
        z = np.linalg.solve(r.T, design.T @ (w * y))
        new = lsq_linear(r, z, bounds=(lower, np.full(k.size, np.inf)), method="bvls").x
        if p is not None and np.max(np.abs(new - p)) < 1e-6:
            p = new
            break
        p = new
        if huber:
            res = y - design @ p
            scale = 1.4826 * np.median(np.abs(res - np.median(res))) or 1e-12
            w = np.minimum(1.0, huber * scale / np.maximum(np.abs(res), 1e-12))
    return np.cumsum(p)
