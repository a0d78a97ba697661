"""Isochrone fitting of a cluster's members in all bands: log age, distance, A_0 and [Fe/H]_iso with emcee.

Likelihood: for each member, the chi-square to the *nearest point of the isochrone curve* in the
n-band magnitude space (projection onto the segments between consecutive EEPs, per-star errors plus
a floor in quadrature), in a mixture with a constant outlier level, so that binaries, non-members and
bad photometry do not drag the fit::

    ln L_i = logaddexp(-chi2_i / 2, -chi2_cut_i / 2),   chi2_cut_i = n_i + 5 sqrt(2 n_i)

with ``n_i`` the number of bands of star i. Priors: log age and [Fe/H] uniform over the BaSTI grid,
distance modulus uniform (optionally a Gaussian prior on the distance), A_0 uniform on
``[0, a0_max]``, and optionally the photometric cluster [Fe/H] as a Gaussian prior (as in
Nizovkina et al. 2025).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..exceptions import InputError
from ..schema import err_col, mag_col
from .isochrones import IsochroneMagnitudes

__all__ = ["IsochroneFitResult", "fit_isochrone", "with_feh_prior"]

log = logging.getLogger(__name__)

_GAP_MAG = 0.8  # segments jumping more than this (any band) join separate phases: not a curve


@dataclass
class IsochroneFitResult:
    """Posterior summary of an isochrone fit (percentiles 16/50/84 of each parameter).

    Attributes
    ----------
    log_age, distance_pc, a0, feh_iso : tuple of float
        (p16, p50, p84) of log10 age [yr], distance [pc], A_0 [mag] and isochronal [Fe/H] [dex].
    best : dict
        Maximum-posterior sample (``log_age``, ``distance_pc``, ``a0``, ``feh_iso``).
    outlier_prob : ndarray
        Per-star probability of the outlier component at the best parameters (input order).
    bands : tuple of str
    n : int
        Stars used.
    acceptance : float
    samples : ndarray, shape (n_samples, 4)
        Flat chain of (log_age, distance modulus, A_0, [Fe/H]).
    tau : float
        The largest integrated autocorrelation time of the four parameters after burn-in (steps).
    n_kept : int
        Steps per walker kept after burn-in.
    feh_prior : (float, float) or None
        The Gaussian [Fe/H] prior (mean, sigma) the chain was drawn under.
    weights : ndarray or None
        Importance weights of ``samples`` (after :func:`with_feh_prior`); None: equal weights.
    """

    log_age: tuple[float, float, float]
    distance_pc: tuple[float, float, float]
    a0: tuple[float, float, float]
    feh_iso: tuple[float, float, float]
    best: dict
    outlier_prob: np.ndarray
    bands: tuple[str, ...]
    n: int
    acceptance: float
    samples: np.ndarray = field(repr=False)
    tau: float = float("nan")
    n_kept: int = 0
    feh_prior: tuple[float, float] | None = None
    weights: np.ndarray | None = field(default=None, repr=False)

    def summary(self, prefix: str = "iso_") -> dict[str, float]:
        """Flat dict ``iso_log_age``, ``iso_log_age_p16``, ... for a results table."""
        out = {}
        for name in ("log_age", "distance_pc", "a0", "feh_iso"):
            p16, p50, p84 = getattr(self, name)
            key = name if name != "feh_iso" else "feh"
            out[f"{prefix}{key}"], out[f"{prefix}{key}_p16"], out[f"{prefix}{key}_p84"] = p50, p16, p84
        out[f"{prefix}n_stars"] = self.n
        out[f"{prefix}acceptance"] = self.acceptance
        out[f"{prefix}tau"] = self.tau
        out[f"{prefix}n_kept"] = self.n_kept
        return out


class _Chi2:
    """Nearest-point chi-square of stars to isochrone curves, with matrix products."""

    def __init__(self, mags: np.ndarray, errs: np.ndarray, floor: float):
        ok = np.isfinite(mags) & np.isfinite(errs) & (errs > 0)
        self.W = np.where(ok, 1.0 / (np.where(ok, errs, 1.0) ** 2 + floor**2), 0.0)
        self.m = np.where(ok, mags, 0.0)
        self.Wm = self.W * self.m
        self.c = (self.Wm * self.m).sum(axis=1)
        self.n_bands = ok.sum(axis=1)
        self.chi2_cut = self.n_bands + 5.0 * np.sqrt(2.0 * self.n_bands)

    def _segments(self, P: np.ndarray):
        """chi2 to every curve point and every segment, with the segment parameters, for :meth:`__call__`
        and :meth:`nearest`."""
        bad = ~np.all(np.isfinite(P), axis=1)
        P = np.where(bad[:, None], 1e3, P)
        chi_pt = self.c[:, None] - 2.0 * self.Wm @ P.T + self.W @ (P * P).T
        D = np.diff(P, axis=0)
        gap = (np.abs(D).max(axis=1) > _GAP_MAG) | bad[1:] | bad[:-1]
        D[gap] = 0.0
        swad = self.Wm @ D.T - self.W @ (P[:-1] * D).T
        swd2 = self.W @ (D * D).T
        with np.errstate(invalid="ignore", divide="ignore"):
            t = np.clip(np.where(swd2 > 0, swad / swd2, 0.0), 0.0, 1.0)
        chi_seg = chi_pt[:, :-1] - 2.0 * t * swad + t * t * swd2
        return bad, P, chi_pt, chi_seg, D, gap, t

    def __call__(self, P: np.ndarray) -> np.ndarray:
        """Minimum chi2 (n_star,) to the polyline through the rows of P (n_pts, n_band)."""
        _, _, chi_pt, chi_seg, _, _, _ = self._segments(P)
        return np.minimum(chi_seg.min(axis=1), chi_pt[:, -1])

    def nearest(self, P: np.ndarray, K: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Minimum chi2, the nearest curve point (n_star, n_band) and ``K`` interpolated there."""
        bad, P, _, chi_seg, D, gap, t = self._segments(P)
        K = np.where(bad[:, None], 0.0, K)
        j = chi_seg.argmin(axis=1)
        tj = t[np.arange(j.size), j][:, None]
        dK = np.where(gap[:, None], 0.0, np.diff(K, axis=0))
        return chi_seg[np.arange(j.size), j], P[j] + tj * D[j], K[j] + tj * dK[j]

    def subset(self, rows: np.ndarray, floor: float | None = None, errs: np.ndarray | None = None) -> "_Chi2":
        """The same stars' subset (optionally with another error floor; needs the raw errors)."""
        new = object.__new__(_Chi2)
        if floor is not None and errs is not None:
            ok = self.W[rows] > 0
            new.W = np.where(ok, 1.0 / (np.where(ok, errs[rows], 1.0) ** 2 + floor**2), 0.0)
        else:
            new.W = self.W[rows]
        new.m = self.m[rows]
        new.Wm = new.W * new.m
        new.c = (new.Wm * new.m).sum(axis=1)
        new.n_bands = self.n_bands[rows]
        new.chi2_cut = self.chi2_cut[rows]
        return new


def _star_arrays(stars: pd.DataFrame, bands) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    used = tuple(b for b in bands if mag_col(b) in stars)
    if not used:
        raise InputError(f"isochrone fit: no magnitude column of bands {list(bands)} in the members table")
    mags = np.column_stack([stars[mag_col(b)].to_numpy(float) for b in used])
    errs = np.column_stack([
        stars[err_col(b)].to_numpy(float) if err_col(b) in stars else np.full(len(stars), 0.03) for b in used
    ])
    return mags, errs, used


def fit_isochrone(
    stars: pd.DataFrame,
    iso: IsochroneMagnitudes,
    feh_prior: tuple[float, float] | None = None,
    distance_prior: tuple[float, float] | None = None,
    a0_prior: tuple[float, float] | None = None,
    mag_floor: float = 0.02,
    a0_max: float = 5.0,
    n_walkers: int = 16,
    n_steps: int = 400,
    n_burn: int = 200,
    max_stars: int = 200,
    seed: int | np.random.Generator = 0,
    name: str = "cluster",
) -> IsochroneFitResult:
    """Fit BaSTI isochrones to a cluster's members in all their bands.

    Parameters
    ----------
    stars : DataFrame
        Members with ``mag_<band>`` and ``mag_err_<band>`` (apparent magnitudes, NaN where missing);
        bands are those of ``iso`` present in the table.
    iso : IsochroneMagnitudes
        The isochrone grid with magnitudes.
    feh_prior : (float, float), optional
        Mean and sigma (dex) of a Gaussian prior on [Fe/H]_iso (the photometric cluster value).
    distance_prior : (float, float), optional
        Mean and sigma (pc) of a Gaussian prior on the distance (e.g. from parallaxes).
    a0_prior : (float, float), optional
        Mean and sigma (mag) of a Gaussian prior on A_0.
    mag_floor : float, default=0.02
        Model error added in quadrature to the photometric errors (mag).
    a0_max : float, default=5.0
        Upper edge of the A_0 prior (mag).
    n_walkers, n_steps, n_burn : int
        emcee settings.
    max_stars : int, default=200
        Fit at most this many members (a seeded random subsample).
    seed : int or Generator
    name : str
        Cluster name in messages.

    Returns
    -------
    IsochroneFitResult
    """
    import emcee
    from threadpoolctl import threadpool_limits

    rng = np.random.default_rng(seed)
    mags_all, errs_all, used = _star_arrays(stars, iso.bands)
    band_idx = np.array([iso.bands.index(b) for b in used])
    good = np.isfinite(mags_all).sum(axis=1) >= 2
    idx = np.flatnonzero(good)
    if idx.size < 3:
        raise InputError(f"{name}: isochrone fit needs at least 3 members with 2+ magnitudes, got {idx.size}")
    if idx.size > max_stars:
        idx = np.sort(rng.choice(idx, size=max_stars, replace=False))
    chi2 = _Chi2(mags_all[idx], errs_all[idx], mag_floor)
    g = iso.grid
    lo = np.array([g.log_age[0], -5.0, 0.0, g.mets[0]])
    hi = np.array([g.log_age[-1], 20.0, a0_max, g.mets[-1]])

    def one(theta) -> float:
        la, dm, a0, fe = theta
        if np.any(theta < lo) or np.any(theta > hi):
            return -np.inf
        m0, k1, k2 = iso.at(la, fe)[:, :, band_idx]
        c = chi2(m0 + dm + a0 * k1 + (a0 * a0) * k2)
        lp = float(np.logaddexp(-0.5 * c, -0.5 * chi2.chi2_cut).sum())
        if feh_prior is not None:
            lp -= 0.5 * ((fe - feh_prior[0]) / feh_prior[1]) ** 2
        if distance_prior is not None:
            lp -= 0.5 * ((10 ** (dm / 5 + 1) - distance_prior[0]) / distance_prior[1]) ** 2
        if a0_prior is not None:
            lp -= 0.5 * ((a0 - a0_prior[0]) / a0_prior[1]) ** 2
        return lp

    def log_prob(thetas: np.ndarray) -> np.ndarray:
        return np.array([one(t) for t in np.atleast_2d(thetas)])

    # start: a coarse grid on a subsample of stars, then a simplex polish on all of them
    start = _start(one, chi2, errs_all[idx], iso, band_idx, used, mags_all[idx], feh_prior, distance_prior,
                   a0_prior, a0_max, rng, name)
    scale = np.array([0.02, 0.02, 0.02, 0.02])
    p0 = start + scale * rng.standard_normal((n_walkers, 4))
    p0 = np.clip(p0, lo + 1e-6, hi - 1e-6)
    p0[:, 2] = np.abs(p0[:, 2])
    sampler = emcee.EnsembleSampler(n_walkers, 4, log_prob, vectorize=True)
    sampler.random_state = np.random.RandomState(int(rng.integers(2**31))).get_state()
    with threadpool_limits(1):  # small matrix products: BLAS threads only add overhead here
        sampler.run_mcmc(p0, n_steps)
    chain = sampler.get_chain(discard=n_burn, flat=True)
    lps = sampler.get_log_prob(discard=n_burn, flat=True)
    top = chain[int(np.argmax(lps))]
    dist = 10 ** (chain[:, 1] / 5 + 1)
    pct = lambda v: tuple(float(q) for q in np.percentile(v, [16, 50, 84]))  # noqa: E731
    m0, k1, k2 = iso.at(top[0], top[3])[:, :, band_idx]
    c = chi2(m0 + top[1] + top[2] * k1 + top[2] ** 2 * k2)
    prob = np.full(len(stars), np.nan)
    prob[idx] = 1.0 / (1.0 + np.exp(np.clip(0.5 * (chi2.chi2_cut - c), -50, 50)))
    return IsochroneFitResult(
        log_age=pct(chain[:, 0]), distance_pc=pct(dist), a0=pct(chain[:, 2]), feh_iso=pct(chain[:, 3]),
        best={"log_age": float(top[0]), "distance_pc": float(10 ** (top[1] / 5 + 1)), "a0": float(top[2]),
              "feh_iso": float(top[3])},
        outlier_prob=prob,
        bands=used, n=int(idx.size), acceptance=float(np.mean(sampler.acceptance_fraction)), samples=chain,
        tau=float(np.max(emcee.autocorr.integrated_time(sampler.get_chain(discard=n_burn), tol=0))),
        n_kept=n_steps - n_burn, feh_prior=feh_prior,
    )


def _weighted_percentiles(v: np.ndarray, w: np.ndarray, q=(16, 50, 84)) -> tuple[float, ...]:
    order = np.argsort(v)
    c = np.cumsum(w[order])
    return tuple(float(np.interp(p / 100 * c[-1], c - 0.5 * w[order], v[order])) for p in q)


def with_feh_prior(result: IsochroneFitResult, feh_prior: tuple[float, float],
                   min_eff_fraction: float = 0.2) -> IsochroneFitResult:
    """``result`` under another Gaussian [Fe/H] prior, by importance weights on its chain.

    The chain was drawn under ``result.feh_prior``; each sample is weighted by the ratio of the new prior
    to the old one and the percentiles are recomputed (``best`` and ``outlier_prob`` stay). If the
    weights leave fewer than ``min_eff_fraction`` of the samples effective, the priors differ too much to
    reweight: ``result`` is returned unchanged, with a warning.
    """
    from dataclasses import replace

    if result.feh_prior is None:
        raise InputError("the isochrone fit had no [Fe/H] prior to replace")
    fe = result.samples[:, 3]
    (m0, s0), (m1, s1) = result.feh_prior, feh_prior
    logw = -0.5 * ((fe - m1) / s1) ** 2 + 0.5 * ((fe - m0) / s0) ** 2
    w = np.exp(logw - logw.max())
    n_eff = w.sum() ** 2 / (w**2).sum()
    if n_eff < min_eff_fraction * fe.size:
        log.warning("isochrone fit: the new [Fe/H] prior (%.3f +- %.3f) leaves %.0f of %d samples effective; "
                    "not reweighted", m1, s1, n_eff, fe.size)
        return result
    la, dm, a0 = result.samples[:, 0], result.samples[:, 1], result.samples[:, 2]
    return replace(result, log_age=_weighted_percentiles(la, w), distance_pc=_weighted_percentiles(10 ** (dm / 5 + 1), w),
                   a0=_weighted_percentiles(a0, w), feh_iso=_weighted_percentiles(fe, w),
                   feh_prior=(float(m1), float(s1)), weights=w)



def _profile_dm_a0(ch: "_Chi2", Q: np.ndarray, dm: float, a0: float, a0_max: float, n_iter: int = 6,
                   dm_prior: tuple[float, float] | None = None, a0_prior: tuple[float, float] | None = None
                   ) -> tuple[float, float, float]:
    """Best (dm, A_0) for one isochrone by alternating nearest-point assignment and linear least squares.

    ``Q`` is the stacked (M0, k1, k2) of the isochrone. Returns (dm, a0, robust log-likelihood).
    """
    m0, k1, k2 = Q
    ll = -np.inf
    for _ in range(n_iter):
        P = m0 + dm + a0 * k1 + a0 * a0 * k2
        c, near, kn = ch.nearest(P, k1 + 2.0 * a0 * k2)
        ll = float(np.logaddexp(-0.5 * c, -0.5 * ch.chi2_cut).sum())
        w = ch.W * (c < ch.chi2_cut)[:, None]
        r = np.where(ch.W > 0, ch.m - near, 0.0)
        A = np.array([[w.sum(), (w * kn).sum()], [(w * kn).sum(), (w * kn * kn).sum()]])
        b = np.array([(w * r).sum(), (w * r * kn).sum()])
        if dm_prior is not None:
            A[0, 0] += 1.0 / dm_prior[1] ** 2
            b[0] += (dm_prior[0] - dm) / dm_prior[1] ** 2
        if a0_prior is not None:
            A[1, 1] += 1.0 / a0_prior[1] ** 2
            b[1] += (a0_prior[0] - a0) / a0_prior[1] ** 2
        try:
            step = np.linalg.solve(A + 1e-9 * np.eye(2), b)
        except np.linalg.LinAlgError:
            break
        dm_new, a0_new = dm + step[0], float(np.clip(a0 + step[1], 0.0, a0_max))
        if abs(dm_new - dm) < 1e-3 and abs(a0_new - a0) < 1e-3:
            dm, a0 = dm_new, a0_new
            break
        dm, a0 = dm_new, a0_new
    return dm, a0, ll


def _start(one, chi2, errs, iso, band_idx, used, mags, feh_prior, distance_prior, a0_prior, a0_max, rng,
           name) -> np.ndarray:
    """Start of the chains: for each grid isochrone (log age, [Fe/H]) the best (dm, A_0) by profiling on
    <= 60 stars with an inflated error floor; then a Nelder-Mead polish of the best on all stars."""
    from scipy.optimize import minimize
    from threadpoolctl import threadpool_limits

    g = iso.grid
    if distance_prior is not None:
        dm_p = (5 * np.log10(distance_prior[0] / 10.0), 5 / np.log(10) * distance_prior[1] / distance_prior[0])
        dm_starts = [dm_p[0]]
    else:
        dm_p = None
        gi = used.index("G") if "G" in used else 0
        bright = float(np.nanpercentile(mags[:, gi], 5))
        dm_starts = list(np.arange(max(0.0, bright - 5.0), bright + 3.01, 2.0))
    # the A_0 profile converges locally: without a prior, start it low and high
    a0_starts = [a0_prior[0]] if a0_prior is not None else [0.3 * min(1.0, a0_max), min(1.2, a0_max)]
    if feh_prior is not None:  # the nodes within the prior's 2 sigma, and the two that bracket that band
        lo_f, hi_f = feh_prior[0] - max(2 * feh_prior[1], 0.15), feh_prior[0] + max(2 * feh_prior[1], 0.15)
        i0 = max(int(np.searchsorted(g.mets, lo_f)) - 1, 0)
        i1 = min(int(np.searchsorted(g.mets, hi_f, side="right")), g.mets.size - 1)
        fehs = np.arange(i0, i1 + 1)
    else:
        fehs = np.arange(g.mets.size)
    sub = rng.choice(chi2.W.shape[0], size=min(60, chi2.W.shape[0]), replace=False)
    coarse = chi2.subset(sub, floor=0.05, errs=errs)
    cands: list[tuple[float, np.ndarray]] = []
    with threadpool_limits(1):
        for ia in range(0, g.log_age.size, 2):
            for im in fehs:
                Q = iso.node(ia, int(im))[:, :, band_idx]
                for dm0 in dm_starts:
                    for a0_start in a0_starts:
                        dm, a0, ll = _profile_dm_a0(coarse, Q, dm0, a0_start, a0_max, 4, dm_p, a0_prior)
                        th = np.array([g.log_age[ia], dm, a0, g.mets[im]])
                        if feh_prior is not None:
                            ll -= 0.5 * ((th[3] - feh_prior[0]) / feh_prior[1]) ** 2
                        if np.isfinite(ll):
                            cands.append((ll, th))
    cands = [c for c in cands if np.isfinite(one(c[1]))]
    if not cands:
        raise InputError(f"{name}: no isochrone of the grid gives a finite likelihood (check the magnitudes)")
    cands.sort(key=lambda c: -c[0])
    starts: list[np.ndarray] = []
    for _, th in cands:  # distinct grid optima (several modes: age-[Fe/H]-distance degeneracy) ...
        if all(abs(th[0] - s[0]) > 0.05 or abs(th[3] - s[3]) > 0.15 for s in starts):
            starts.append(th)
        if len(starts) == 16:
            break
    # ... the 4 best on the coarse subsample and the 4 best on all stars (either can miss the mode) are polished
    by_all = sorted(range(len(starts)), key=lambda i: -one(starts[i]))[:4]
    starts = [starts[i] for i in sorted(set(range(min(4, len(starts)))) | set(by_all))]

    def neg(t):
        v = one(t)
        return -v if np.isfinite(v) else 1e30

    best, best_val = starts[0], neg(starts[0])
    with threadpool_limits(1):
        for th in starts:
            simplex = th + np.vstack([np.zeros(4), np.diag([0.03, 0.05, 0.05, 0.05])])
            res = minimize(neg, th, method="Nelder-Mead",
                           options={"xatol": 1e-3, "fatol": 0.05, "maxiter": 500, "initial_simplex": simplex})
            if res.fun < best_val:
                best, best_val = res.x, res.fun
    return best
