"""Cluster [Fe/H] from per-star predictions: bootstrap median and a hierarchical mixture model (emcee).

The hierarchical model: each member's predicted [Fe/H] ``x_i`` with error ``s_i`` is drawn from

.. math::

    p(x_i) = (1 - f)\\,N(x_i \\mid \\mu, \\sqrt{s_i^2 + \\sigma^2}) + f\\,N(x_i \\mid \\mu, \\sqrt{s_i^2 + w^2})

with the cluster mean ``mu``, the intrinsic spread ``sigma`` (uniform prior on ``[0, max_spread]``),
the outlier fraction ``f`` (uniform on ``[0, max_outlier_fraction]``) and a fixed broad outlier width
``w`` (non-members, bad photometry). ``mu`` has a uniform prior on [-3, 1] dex.

With a :class:`~ocfeh.clusters.calibration.FehCalibration` the model is forward-modelled through the
predictor's measured response ``r``: the members' predictions scatter about ``r(mu)`` (``alpha + beta
* mu``, or a monotone broken line) with intrinsic spread ``r'(mu) * sigma`` instead of ``mu``, so the
regression of the predictions towards the training-label mean does not bias the cluster mean. A shared
offset ``delta ~ N(0, s_sys)`` of all members' predictions (the calibration's cluster-level systematic
plus the uncertainty of the response) is degenerate with ``mu``; it is marginalised by convolving the
posterior of ``mu`` with ``N(0, s_sys / r'(mu))``.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass, field, replace

import numpy as np

from ..exceptions import FewMembersWarning, InputError

__all__ = ["ClusterFehResult", "FewMembersWarning", "MedianResult", "fit_cluster_feh", "median_feh", "member_errors",
           "shift_posterior"]

log = logging.getLogger(__name__)

_MU_RANGE = (-3.0, 1.0)
MIN_TAU_MULTIPLE = 20
"""A kept chain shorter than this many autocorrelation times is extended (up to ``max_extend`` times the
steps), then flagged."""


@dataclass(frozen=True)
class MedianResult:
    """Median [Fe/H] of the members and its bootstrap error (dex)."""

    median: float
    err: float
    n: int


@dataclass
class ClusterFehResult:
    """Posterior summary of the hierarchical [Fe/H] model.

    Attributes
    ----------
    mu, mu_p16, mu_p84 : float
        Posterior median and 16th / 84th percentiles of the cluster mean [Fe/H] (dex).
    spread, spread_p16, spread_p84 : float
        The same for the intrinsic spread (dex).
    outlier_fraction : float
        Posterior median of the outlier fraction.
    outlier_prob : ndarray
        Per-star posterior probability of belonging to the outlier component (input order).
    n : int
        Stars used.
    acceptance : float
        Mean acceptance fraction of the walkers.
    samples : ndarray, shape (n_samples, 3)
        Flat chain of (mu, spread, outlier fraction) after burn-in (``mu`` convolved with the
        systematic when a calibration was given).
    sigma_sys : float
        The cluster-level systematic (dex) folded into ``mu``'s posterior; 0 without a calibration.
    tau : ndarray, shape (3,)
        Integrated autocorrelation time (steps) of each parameter's chain after burn-in.
    n_kept : int
        Steps per walker kept after burn-in (more than ``n_steps - n_burn`` if the chain was extended).
    """

    mu: float
    mu_p16: float
    mu_p84: float
    spread: float
    spread_p16: float
    spread_p84: float
    outlier_fraction: float
    outlier_prob: np.ndarray
    n: int
    acceptance: float
    samples: np.ndarray = field(repr=False)
    sigma_sys: float = 0.0
    tau: np.ndarray = field(default_factory=lambda: np.full(3, np.nan))
    n_kept: int = 0

    @property
    def mu_err(self) -> float:
        """Half the 16-84 interval (dex)."""
        return 0.5 * (self.mu_p84 - self.mu_p16)

    @property
    def converged(self) -> bool:
        """The kept chain spans at least :data:`MIN_TAU_MULTIPLE` autocorrelation times of every parameter."""
        return bool(np.all(self.n_kept >= MIN_TAU_MULTIPLE * self.tau))


def _clean(feh, feh_err=None) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
    x = np.asarray(feh, dtype=float).ravel()
    ok = np.isfinite(x)
    e = None
    if feh_err is not None:
        e = np.asarray(feh_err, dtype=float).ravel()
        if e.shape != x.shape:
            raise InputError(f"feh and feh_err differ in length: {x.size} and {e.size}")
        ok &= np.isfinite(e) & (e > 0)
        e = e[ok]
    n_bad = int((~ok).sum())
    if n_bad:
        log.info("cluster [Fe/H]: %d of %d stars dropped (NaN value or non-positive error)", n_bad, x.size)
    return x[ok], e, ok


def _warn_few(n: int, warn_members: int, what: str) -> None:
    if n < warn_members:
        warnings.warn(
            f"{what}: only {n} members with a usable [Fe/H] (fewer than {warn_members}); "
            "the cluster value is uncertain and its error may be underestimated.",
            FewMembersWarning,
            stacklevel=3,
        )


def median_feh(feh, n_bootstrap: int = 1000, seed: int | np.random.Generator = 0,
               warn_members: int = 10, name: str = "cluster") -> MedianResult:
    """Median [Fe/H] with a bootstrap error.

    Parameters
    ----------
    feh : array_like
        Per-star [Fe/H] (dex); NaNs are ignored.
    n_bootstrap : int, default=1000
        Bootstrap resamples.
    seed : int or numpy.random.Generator, default=0
        Randomness of the resampling.
    warn_members : int, default=10
        Fewer stars than this give a :class:`FewMembersWarning`.
    name : str
        Cluster name used in messages.

    Returns
    -------
    MedianResult
        ``median`` and ``err`` (standard deviation of the bootstrap medians), dex; NaN if empty.

    Examples
    --------
    >>> r = median_feh([0.1, 0.0, -0.1, 0.05, 0.02, 0.03, -0.02, 0.0, 0.01, 0.04])
    >>> round(r.median, 3)
    0.015
    """
    x, _, _ = _clean(feh)
    _warn_few(x.size, warn_members, name)
    if x.size == 0:
        return MedianResult(float("nan"), float("nan"), 0)
    rng = np.random.default_rng(seed)
    boot = np.median(x[rng.integers(0, x.size, size=(n_bootstrap, x.size))], axis=1)
    return MedianResult(float(np.median(x)), float(np.std(boot, ddof=1)) if x.size > 1 else float("nan"), x.size)


class _Identity:
    """The response of an unbiased predictor."""

    @staticmethod
    def response(mu):
        return np.asarray(mu, dtype=float)

    @staticmethod
    def slope(mu):
        return np.ones(np.shape(mu))


def _log_prob_factory(x: np.ndarray, s2: np.ndarray, outlier_width: float, max_spread: float, max_f: float,
                      response=_Identity):
    """A vectorised log-posterior over walkers: theta has shape (n_walkers, 3) = (mu, sigma, f).

    ``response`` has ``response(mu)`` and ``slope(mu)`` (a :class:`FehCalibration`)."""
    w2 = outlier_width**2
    var_out = s2 + w2  # (n,)
    lognorm_out = -0.5 * np.log(2 * np.pi * var_out)

    def terms(mu, sig, f):
        var_in = s2[None, :] + (response.slope(mu) * sig) ** 2
        r2 = (x[None, :] - response.response(mu)) ** 2
        l_in = np.log1p(-f) - 0.5 * (np.log(2 * np.pi * var_in) + r2 / var_in)
        l_out = np.log(f) + lognorm_out[None, :] - 0.5 * r2 / var_out[None, :]
        return l_in, l_out

    def log_prob(theta: np.ndarray) -> np.ndarray:
        theta = np.atleast_2d(theta)
        mu, sig, f = theta[:, 0:1], theta[:, 1:2], theta[:, 2:3]
        bad = (mu[:, 0] < _MU_RANGE[0]) | (mu[:, 0] > _MU_RANGE[1]) | (sig[:, 0] < 0) | (sig[:, 0] > max_spread)
        bad |= (f[:, 0] < 0) | (f[:, 0] > max_f)
        lp = np.logaddexp(*terms(mu, sig, np.clip(f, 1e-12, 1 - 1e-12))).sum(axis=1)
        lp[bad] = -np.inf
        return lp

    def outlier_prob(samples: np.ndarray) -> np.ndarray:
        mu, sig, f = samples[:, 0:1], samples[:, 1:2], np.clip(samples[:, 2:3], 1e-12, 1 - 1e-12)
        l_in, l_out = terms(mu, sig, f)
        return np.mean(1.0 / (1.0 + np.exp(l_in - l_out)), axis=0)

    return log_prob, outlier_prob


def member_errors(feh_err, mode: str = "common") -> np.ndarray:
    """The members' errors for the [Fe/H] model: ``common`` gives every member the median of ``feh_err``
    (NaN and non-positive errors stay as they are, so those members are still dropped), ``per_star``
    keeps them."""
    e = np.asarray(feh_err, dtype=float)
    if mode == "per_star":
        return e
    if mode != "common":
        raise InputError(f"member_errors must be 'common' or 'per_star', got {mode!r}")
    ok = np.isfinite(e) & (e > 0)
    return np.where(ok, np.median(e[ok]) if ok.any() else np.nan, e)


def fit_cluster_feh(
    feh,
    feh_err,
    n_walkers: int = 24,
    n_steps: int = 1500,
    n_burn: int = 500,
    outlier_width: float = 0.5,
    max_spread: float = 0.5,
    max_outlier_fraction: float = 0.5,
    seed: int | np.random.Generator = 0,
    warn_members: int = 10,
    name: str = "cluster",
    progress: bool = False,
    calibration=None,
    max_extend: float = 3.0,
) -> ClusterFehResult:
    """Sample the hierarchical cluster-[Fe/H] model with emcee.

    Parameters
    ----------
    feh, feh_err : array_like
        Per-star predicted [Fe/H] and its 1-sigma error (dex). Stars with NaN or non-positive error
        are dropped (and get NaN outlier probability).
    n_walkers, n_steps, n_burn : int
        emcee ensemble size, steps per walker and burn-in steps discarded.
    outlier_width : float, default=0.5
        Width (dex) of the broad outlier component, centred on the cluster mean.
    max_spread, max_outlier_fraction : float
        Upper bounds of the uniform priors of the intrinsic spread (dex) and the outlier fraction.
    seed : int or numpy.random.Generator
        Seeds the walkers' start and the sampler.
    warn_members : int, default=10
        Fewer stars than this give a :class:`FewMembersWarning`.
    name : str
        Cluster name used in messages.
    calibration : FehCalibration, optional
        The predictor's response and cluster-level systematic (see the module docstring), and the
        factor ``err_scale`` applied to ``feh_err`` (conformal widths against noisy labels) to make them
        the scatter about the response; without it the predictions are taken as unbiased and the
        per-star errors as independent.
    max_extend : float, default=3.0
        While the kept chain spans fewer than :data:`MIN_TAU_MULTIPLE` autocorrelation times, it is
        extended, up to this many times ``n_steps`` in all (1: never); ``converged`` says if it got there.

    Returns
    -------
    ClusterFehResult
        With a calibration, ``mu`` and its percentiles include the systematic term; ``sigma_sys`` is
        the systematic (dex, in [Fe/H] units) added.

    Raises
    ------
    InputError
        Fewer than 2 usable stars, or mismatched input lengths.

    References
    ----------
    Foreman-Mackey et al. 2013, PASP 125, 306 (emcee); Hogg, Bovy & Lang 2010, arXiv:1008.4686
    (mixture models for outliers).
    """
    import emcee

    x, e, ok = _clean(feh, feh_err)
    _warn_few(x.size, warn_members, name)
    if x.size < 2:
        raise InputError(f"{name}: the hierarchical [Fe/H] model needs at least 2 stars with [Fe/H] and error, "
                         f"got {x.size}")
    if n_burn >= n_steps:
        raise InputError(f"n_burn must be smaller than n_steps; got n_burn={n_burn}, n_steps={n_steps}")
    rng = np.random.default_rng(seed)
    response = _Identity if calibration is None else calibration
    if calibration is not None:
        e = e * getattr(calibration, "err_scale", 1.0)
        if not calibration.beta > 0.05:
            raise InputError(f"{name}: calibration slope beta={calibration.beta:.3f} is not positive; the "
                             "predictions do not follow [Fe/H]")
    s2 = e**2
    log_prob, outlier_prob = _log_prob_factory(x, s2, outlier_width, max_spread, max_outlier_fraction, response)
    med = float(calibration.invert(np.median(x))) if calibration is not None else float(np.median(x))
    mad = float(1.4826 * np.median(np.abs(x - np.median(x))) / response.slope(med)) or 0.05  # [Fe/H] units
    p0 = np.column_stack([
        med + 0.3 * mad / np.sqrt(x.size) * rng.standard_normal(n_walkers),
        rng.uniform(0.0, min(0.1, max_spread), n_walkers),
        rng.uniform(0.0, min(0.1, max_outlier_fraction), n_walkers),
    ])
    p0[:, 0] = np.clip(p0[:, 0], *_MU_RANGE)
    sampler = emcee.EnsembleSampler(n_walkers, 3, log_prob, vectorize=True)
    sampler.random_state = np.random.RandomState(int(rng.integers(2**31))).get_state()
    sampler.run_mcmc(p0, n_steps, progress=progress)
    tau = _tau(sampler, n_burn)
    while (need := int(np.ceil(1.1 * MIN_TAU_MULTIPLE * np.max(tau))) + n_burn - sampler.iteration) > 0:
        extra = min(need, int(max_extend * n_steps) - sampler.iteration)
        if extra <= 0:
            log.info("%s: [Fe/H] chain of %d steps after burn-in spans %.0f autocorrelation times (< %d)", name,
                     sampler.iteration - n_burn, (sampler.iteration - n_burn) / np.max(tau), MIN_TAU_MULTIPLE)
            break
        sampler.run_mcmc(None, extra, progress=progress)
        tau = _tau(sampler, n_burn)
    chain = sampler.get_chain(discard=n_burn, flat=True)
    prob = np.full(ok.size, np.nan)
    sub = chain[rng.choice(chain.shape[0], size=min(2000, chain.shape[0]), replace=False)]
    prob[ok] = outlier_prob(sub)
    sigma_sys = 0.0
    if calibration is not None:  # a shared offset of all predictions, degenerate with mu: convolve
        s_sys = calibration.systematic(chain[:, 0]) / calibration.slope(chain[:, 0])
        sigma_sys = float(np.median(s_sys))
        chain = chain.copy()
        chain[:, 0] += s_sys * rng.standard_normal(chain.shape[0])
    p16, p50, p84 = np.percentile(chain, [16, 50, 84], axis=0)
    return ClusterFehResult(
        mu=float(p50[0]), mu_p16=float(p16[0]), mu_p84=float(p84[0]),
        spread=float(p50[1]), spread_p16=float(p16[1]), spread_p84=float(p84[1]),
        outlier_fraction=float(p50[2]), outlier_prob=prob, n=int(x.size),
        acceptance=float(np.mean(sampler.acceptance_fraction)), samples=chain, sigma_sys=sigma_sys,
        tau=tau, n_kept=int(sampler.iteration - n_burn),
    )


def _tau(sampler, n_burn: int) -> np.ndarray:
    """Integrated autocorrelation time of each parameter after burn-in (steps; emcee, no tolerance check)."""
    import emcee

    return emcee.autocorr.integrated_time(sampler.get_chain(discard=n_burn), tol=0)


def shift_posterior(result: ClusterFehResult, shift: float, sigma: float = 0.0,
                    seed: int | np.random.Generator = 0) -> ClusterFehResult:
    """``result`` with the cluster mean moved by ``-shift`` and widened by ``sigma`` (dex).

    Moving all members' predictions by a common ``shift`` moves only ``mu`` (the spread, outlier
    fraction and outlier probabilities stay); an uncertain shift is convolved into ``mu`` as a further
    shared systematic.
    """
    rng = np.random.default_rng(seed)
    chain = result.samples.copy()
    chain[:, 0] += -shift + sigma * rng.standard_normal(chain.shape[0])
    p16, p50, p84 = np.percentile(chain[:, 0], [16, 50, 84])
    return replace(result, mu=float(p50), mu_p16=float(p16), mu_p84=float(p84), samples=chain,
                   sigma_sys=float(np.hypot(result.sigma_sys, sigma)))
