"""Initial mass functions and sampling between per-star mass limits.

References
----------
Kroupa 2001, MNRAS 322, 231 (broken power law); Chabrier 2003, PASP 115, 763 (log-normal below
1 M_sun, power law above).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from ..exceptions import InputError

__all__ = ["IMFS", "imf_pdf", "imf_cdf", "sample_imf"]

IMFS = ("kroupa", "chabrier")
_M_MIN, _M_MAX = 0.08, 150.0


def imf_pdf(mass, kind: str = "kroupa") -> np.ndarray:
    """Unnormalised number density dN/dm of the IMF at ``mass`` (M_sun)."""
    m = np.asarray(mass, float)
    if kind == "kroupa":
        # alpha = 1.3 below 0.5 M_sun, 2.3 above; continuous at 0.5
        return np.where(m < 0.5, (m / 0.5) ** -1.3, (m / 0.5) ** -2.3)
    if kind == "chabrier":
        mc, sig = 0.079, 0.69
        low = np.exp(-((np.log10(m) - np.log10(mc)) ** 2) / (2 * sig**2)) / m
        norm = np.exp(-((0 - np.log10(mc)) ** 2) / (2 * sig**2))  # value at 1 M_sun
        return np.where(m < 1.0, low, norm * m**-2.3)
    raise InputError(f"The 'imf' parameter must be one of {IMFS}. Got {kind!r} instead.")


@lru_cache(maxsize=4)
def _table(kind: str) -> tuple[np.ndarray, np.ndarray]:
    logm = np.linspace(np.log10(_M_MIN), np.log10(_M_MAX), 20001)
    m = 10**logm
    dn_dlogm = imf_pdf(m, kind) * m
    cdf = np.concatenate([[0.0], np.cumsum(0.5 * (dn_dlogm[1:] + dn_dlogm[:-1]) * np.diff(logm))])
    return logm, cdf / cdf[-1]


def imf_cdf(mass, kind: str = "kroupa") -> np.ndarray:
    """Fraction of stars (0.08-150 M_sun) with initial mass below ``mass``."""
    logm, cdf = _table(kind)
    return np.interp(np.log10(np.clip(mass, _M_MIN, _M_MAX)), logm, cdf)


def sample_imf(rng: np.random.Generator, n: int, m_min=0.1, m_max=_M_MAX, kind: str = "kroupa") -> np.ndarray:
    """Draw ``n`` initial masses (M_sun) from the IMF truncated to [m_min, m_max].

    ``m_min`` and ``m_max`` may be arrays of length ``n`` (one range per star), which is how the
    mock sky skips stars too faint to be seen at their distance.
    """
    logm, cdf = _table(kind)
    lo = imf_cdf(np.broadcast_to(m_min, (n,)), kind)
    hi = imf_cdf(np.broadcast_to(m_max, (n,)), kind)
    u = lo + rng.random(n) * (hi - lo)
    return 10 ** np.interp(u, cdf, logm)
