"""Isochrone fitting of a cluster's members in all bands: log age, distance, A_0 and [Fe/H]_iso with emcee.

Likelihood: for each member, the chi-square to the *nearest point of the isochrone curve* in the
n-band magnitude space (projection onto the segments between consecutive EEPs, per-star errors plus
a floor in quadrature), in a mixture with a constant outlier level, so that binaries, non-members and
bad photometry do not drag the fit::

    ln L_i = logaddexp(-chi2_i / 2, -chi2_cut_i / 2),   chi2_cut_i = n_i + 5 sqrt(2 n_i)

with ``n_i`` the number of bands of star i. Two shifts shared between measurements can be marginalised
analytically: an offset per star common to all its bands (``star_offset``: depth, binarity; a rank-one
term in each star's metric) and an offset per band common to all members (``band_offset``: colour errors
of the models, zero points; a Gaussian integral over the members' residuals at their nearest points).
Priors: log age and [Fe/H] uniform over the BaSTI grid,
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
from ..synthphot import IsochroneMagnitudes

__all__ = ["IsochroneFitResult", "fit_isochrone", "with_feh_prior", "Chi2", "star_arrays"]

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


class Chi2:
    """Nearest-point chi-square of stars to isochrone curves, with matrix products."""

    def __init__(self, mags: np.ndarray, errs: np.ndarray, floor: float, star_offset: float = 0.0):
        ok = np.isfinite(mags) & np.isfinite(errs) & (errs > 0)
        self.m = np.where(ok, mags, 0.0)
        self.n_bands = ok.sum(axis=1)
        self.chi2_cut = self.n_bands + 5.0 * np.sqrt(2.0 * self.n_bands)
        self.star_offset = float(star_offset)
        self._set_weights(np.where(ok, 1.0 / (np.where(ok, errs, 1.0) ** 2 + floor**2), 0.0))

    def _set_weights(self, W: np.ndarray) -> None:
        """Diagonal weights, and the rank-one term of a star's offset common to all its bands.

        With covariance ``diag(1/W) + s^2 1 1^T`` the inverse is ``diag(W) - alpha (W)(W)^T`` with
        ``alpha = s^2 / (1 + s^2 sum W)`` (Sherman-Morrison), so the chi-square of a residual r is
        ``sum W r^2 - alpha (sum W r)^2``.
        """
        self.W = W
        self.Wm = W * self.m
        self.c = (self.Wm * self.m).sum(axis=1)
        self.sWm = self.Wm.sum(axis=1)
        s2 = self.star_offset**2
        self.alpha = s2 / (1.0 + s2 * W.sum(axis=1)) if s2 > 0 else None

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
        if self.alpha is not None:  # the rank-one term: sums of W r at the points, W D along the segments
            a = self.alpha[:, None]
            s_pt = self.sWm[:, None] - self.W @ P.T
            s_d = self.W @ D.T
            chi_pt = chi_pt - a * s_pt * s_pt
            swad = swad - a * s_pt[:, :-1] * s_d
            swd2 = swd2 - a * s_d * s_d
        with np.errstate(invalid="ignore", divide="ignore"):
            t = np.clip(np.where(swd2 > 0, swad / swd2, 0.0), 0.0, 1.0)
        chi_seg = chi_pt[:, :-1] - 2.0 * t * swad + t * t * swd2
        return bad, P, chi_pt, chi_seg, D, gap, t

    def __call__(self, P: np.ndarray) -> np.ndarray:
        """Minimum chi2 (n_star,) to the polyline through the rows of P (n_pts, n_band)."""
        _, _, chi_pt, chi_seg, _, _, _ = self._segments(P)
        return np.minimum(chi_seg.min(axis=1), chi_pt[:, -1])

    def nearest(self, P: np.ndarray, K: np.ndarray | None = None):
        """Minimum chi2, the nearest curve point (n_star, n_band) and ``K`` interpolated there (if given)."""
        bad, P, _, chi_seg, D, gap, t = self._segments(P)
        j = chi_seg.argmin(axis=1)
        tj = t[np.arange(j.size), j][:, None]
        c, near = chi_seg[np.arange(j.size), j], P[j] + tj * D[j]
        if K is None:
            return c, near, None
        K = np.where(bad[:, None], 0.0, K)
        dK = np.where(gap[:, None], 0.0, np.diff(K, axis=0))
        return c, near, K[j] + tj * dK[j]

    def band_offset_term(self, c: np.ndarray, near: np.ndarray, sigma: float) -> float:
        """ln of the likelihood gained by marginalising an offset per band common to all stars.

        The offsets (isochrone and synthetic-photometry colour errors, calibration zero points) are
        Gaussian with ``sigma`` mag per band. For residuals ``r_i`` at the nearest points, each star
        weighted by its probability ``g_i`` of being a member of the curve (not an outlier),
        ``b = sum g_i M_i r_i`` and ``A = sum g_i M_i + I / sigma^2`` with ``M_i`` the star's inverse
        covariance, the term is ``b^T A^-1 b / 2 - ln det(sigma^2 A) / 2``.
        """
        from scipy.linalg import cho_factor, cho_solve

        g = 1.0 / (1.0 + np.exp(np.clip(0.5 * (c - self.chi2_cut), -50.0, 50.0)))
        u = self.W * np.where(self.W > 0, self.m - near, 0.0)
        gW = g[:, None] * self.W
        A = np.diag(gW.sum(axis=0) + 1.0 / sigma**2)
        if self.alpha is not None:
            u = u - (self.alpha * u.sum(axis=1))[:, None] * self.W
            A -= (gW * self.alpha[:, None]).T @ self.W
        b = g @ u
        cf = cho_factor(A)
        return float(0.5 * b @ cho_solve(cf, b) - np.log(np.diag(cf[0])).sum() - b.size * np.log(sigma))

    def subset(self, rows: np.ndarray, floor: float | None = None, errs: np.ndarray | None = None) -> "Chi2":
        """The same stars' subset (optionally with another error floor; needs the raw errors)."""
        new = object.__new__(Chi2)
        new.m = self.m[rows]
        new.n_bands = self.n_bands[rows]
        new.chi2_cut = self.chi2_cut[rows]
        new.star_offset = self.star_offset
        if floor is not None and errs is not None:
            ok = self.W[rows] > 0
            new._set_weights(np.where(ok, 1.0 / (np.where(ok, errs[rows], 1.0) ** 2 + floor**2), 0.0))
        else:
            new._set_weights(self.W[rows])
        return new


def star_arrays(stars: pd.DataFrame, bands) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
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
    star_offset: float = 0.0,
    band_offset: float = 0.01,
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
    star_offset : float, default=0.0
        Sigma (mag) of a per-star offset common to all its bands (depth of the cluster along the line of
        sight, distance scatter, mild binarity), marginalised analytically; 0 treats the bands as
        independent.
    band_offset : float, default=0.01
        Sigma (mag) of an offset per band common to all members (colour errors of the isochrones and
        synthetic photometry, calibration zero points), marginalised analytically
        (:meth:`Chi2.band_offset_term`); 0 treats the members as independent.
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
    mags_all, errs_all, used = star_arrays(stars, iso.bands)
    band_idx = np.array([iso.bands.index(b) for b in used])
    good = np.isfinite(mags_all).sum(axis=1) >= 2
    idx = np.flatnonzero(good)
    if idx.size < 3:
        raise InputError(f"{name}: isochrone fit needs at least 3 members with 2+ magnitudes, got {idx.size}")
    if idx.size > max_stars:
        idx = np.sort(rng.choice(idx, size=max_stars, replace=False))
    chi2 = Chi2(mags_all[idx], errs_all[idx], mag_floor, star_offset)
    g = iso.grid
    lo = np.array([g.log_age[0], -5.0, 0.0, g.mh[0]])
    hi = np.array([g.log_age[-1], 20.0, a0_max, g.mh[-1]])

    def one(theta) -> float:
        la, dm, a0, fe = theta
        if np.any(theta < lo) or np.any(theta > hi):
            return -np.inf
        m0, k1, k2 = iso.at(la, fe)[:, :, band_idx]
        P = m0 + dm + a0 * k1 + (a0 * a0) * k2
        if band_offset > 0:
            c, near, _ = chi2.nearest(P)
            shared = chi2.band_offset_term(c, near, band_offset)
        else:
            c, shared = chi2(P), 0.0
        lp = float(np.logaddexp(-0.5 * c, -0.5 * chi2.chi2_cut).sum()) + shared
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



def _profile_dm_a0(ch: "Chi2", Q: np.ndarray, dm: float, a0: float, a0_max: float, n_iter: int = 6,
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
    <= 60 stars with an inflated error floor, from several A_0 starts without an A_0 prior (the profile
    converges locally); the distinct best candidates profiled again on all stars; then a Nelder-Mead polish
    of the best of them on all stars."""
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
    # the (dm, A_0) profile converges locally (nearest points are reassigned): without a prior, start it
    # every 0.3 mag up to 2.5 mag
    a0_starts = [a0_prior[0]] if a0_prior is not None else list(np.arange(0.1, min(2.5, a0_max) + 1e-9, 0.3))
    if feh_prior is not None:  # the nodes within the prior's 2 sigma, and the two that bracket that band
        lo_f, hi_f = feh_prior[0] - max(2 * feh_prior[1], 0.15), feh_prior[0] + max(2 * feh_prior[1], 0.15)
        i0 = max(int(np.searchsorted(g.mh, lo_f)) - 1, 0)
        i1 = min(int(np.searchsorted(g.mh, hi_f, side="right")), g.mh.size - 1)
        fehs = np.arange(i0, i1 + 1)
    else:
        fehs = np.arange(g.mh.size)
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
                        th = np.array([g.log_age[ia], dm, a0, g.mh[im]])
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
    # ... the 4 best on the coarse subsample and the 4 best on all stars, with (dm, A_0) profiled again on
    # them (either can miss the mode), are polished
    values = []
    with threadpool_limits(1):
        for k, th in enumerate(starts):
            ia, im = int(np.argmin(np.abs(g.log_age - th[0]))), int(np.argmin(np.abs(g.mh - th[3])))
            dm, a0, _ = _profile_dm_a0(chi2, iso.node(ia, im)[:, :, band_idx], th[1], th[2], a0_max, 4, dm_p, a0_prior)
            again = np.array([th[0], dm, a0, th[3]])
            v_again, v = one(again), one(th)
            if v_again > v:
                starts[k], v = again, v_again
            values.append(v)
    by_all = sorted(range(len(starts)), key=lambda i: -values[i])[:4]
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
