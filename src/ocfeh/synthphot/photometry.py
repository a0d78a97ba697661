"""Photon-counting synthetic photometry of spectra through a passband, AB and Vega zero points.

A photon-counting detector measures ``N = int F_lambda T(lambda) lambda dlambda / (h c)``; every
curve used here (J-PLUS, Gaia DR3, WISE) is a per-photon response (for WISE: Wright et al. 2010,
"the WISE response per photon"), so the integrand is ``F_lambda T lambda``.

- AB: ``m = -2.5 log10( int F_lambda T lambda dlambda / int f_nu^AB (c / lambda^2) T lambda dlambda )``
  with ``f_nu^AB = 3631 Jy`` (Oke & Gunn 1983).
- Vega: ``m = -2.5 log10( int F_lambda T lambda dlambda / int F^Vega_lambda T lambda dlambda ) + m_Vega``.
  The Vega spectrum is milespy's ``vega.sed``, scaled to F_lambda(5556 AA) = 3.44e-9
  erg s^-1 cm^-2 AA^-1 (Hayes 1985), as milespy does. ``m_Vega`` is 0 for WISE and 0.023 for
  Gaia G, BP, RP: the Gaia (E)DR3 Vega zero points put Vega at +0.023 mag (Riello et al. 2021
  ZP_Vega with the 0.7278 m^2 pupil give 0.0227, 0.0219, 0.0246 for this spectrum; the tests check
  this), so synthetic Gaia magnitudes are on the published Gaia DR3 scale.

Spectra are linearly interpolated onto the passband's own wavelength sampling (finer than the
model grids in every band), then integrated with the trapezoid rule.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from ..bands import FilterCurve
from ..datafiles import data_path
from ..exceptions import DataFileError

__all__ = [
    "VEGA_MAG_SURVEY", "C_AA_S", "AB_FNU_CGS", "VEGA_F5556", "Quadrature", "vega_spectrum", "zero_point_counts",
    "spectrum_magnitude",
]

C_AA_S = 2.99792458e18
"""Speed of light [AA s^-1]."""
AB_FNU_CGS = 3631.0e-23
"""AB reference flux density 3631 Jy [erg s^-1 cm^-2 Hz^-1]."""
VEGA_F5556 = 3.44e-9
"""Vega F_lambda at 5556 AA [erg s^-1 cm^-2 AA^-1] (Hayes 1985)."""


VEGA_MAG_SURVEY = {"gaia": 0.023}
"""Magnitude of Vega in the Vega-system bands of a survey (default 0): Gaia DR3 puts Vega at 0.023."""


@dataclass(frozen=True)
class Quadrature:
    """Weights that turn a spectrum on ``wavelength_aa`` into the photon-counting integral.

    ``counts = flam_on_grid @ weights`` gives ``int F_lambda T lambda dlambda``
    [erg s^-1 cm^-2] for F_lambda in erg s^-1 cm^-2 AA^-1.
    """

    wavelength_aa: np.ndarray
    weights: np.ndarray

    @classmethod
    def from_curve(cls, curve: FilterCurve) -> "Quadrature":
        """Trapezoid weights times throughput times wavelength on the curve's non-zero support."""
        w, t = curve.wavelength_aa, curve.throughput
        nz = np.flatnonzero(t > 0)
        lo, hi = max(nz[0] - 1, 0), min(nz[-1] + 2, w.size)
        w, t = w[lo:hi], t[lo:hi]
        dw = np.diff(w)
        trap = np.zeros_like(w)
        trap[:-1] += dw / 2
        trap[1:] += dw / 2
        return cls(w, trap * t * w)

    def interpolation_matrix(self, native_aa: np.ndarray) -> tuple[slice, np.ndarray]:
        """Linear-interpolation matrix from a native spectrum sampling onto this quadrature.

        Returns the slice of native columns used and the matrix ``M`` (n_used, n_quad) such that
        ``flam[:, slice] @ M`` is the spectrum on ``wavelength_aa``.
        """
        x = self.wavelength_aa
        if x[0] < native_aa[0] or x[-1] > native_aa[-1]:
            raise DataFileError(
                f"spectrum sampling {native_aa[0]:.0f}-{native_aa[-1]:.0f} AA does not cover the passband "
                f"{x[0]:.0f}-{x[-1]:.0f} AA"
            )
        j = np.clip(np.searchsorted(native_aa, x, side="right") - 1, 0, native_aa.size - 2)
        lo, hi = j.min(), j.max() + 2
        f = (x - native_aa[j]) / (native_aa[j + 1] - native_aa[j])
        m = np.zeros((hi - lo, x.size))
        cols = np.arange(x.size)
        m[j - lo, cols] += 1.0 - f
        m[j + 1 - lo, cols] += f
        return slice(lo, hi), m


@lru_cache(maxsize=1)
def vega_spectrum() -> tuple[np.ndarray, np.ndarray]:
    """Vega: wavelength [AA] and F_lambda [erg s^-1 cm^-2 AA^-1], scaled to 3.44e-9 at 5556 AA."""
    path = data_path("vega")
    try:
        data = np.loadtxt(path, comments="#", ndmin=2)
    except ValueError as exc:
        raise DataFileError(f"Cannot read the Vega spectrum {path}: {exc}") from exc
    w, f = data[:, 0], data[:, 1]
    return w, f * (VEGA_F5556 / np.interp(5556.0, w, f))


def zero_point_counts(quad: Quadrature, system: str) -> float:
    """Photon-counting integral of the zero-magnitude reference (AB 3631 Jy or Vega) [erg s^-1 cm^-2]."""
    x = quad.wavelength_aa
    if system == "AB":
        ref = AB_FNU_CGS * C_AA_S / x**2
    elif system == "Vega":
        vw, vf = vega_spectrum()
        ref = np.interp(x, vw, vf)
    else:
        raise ValueError(f"magnitude system must be 'AB' or 'Vega'; got {system!r}")
    return float(ref @ quad.weights)


def spectrum_magnitude(wavelength_aa, flam, band) -> np.ndarray:
    """Synthetic magnitude of observed-frame spectra through one band (photon counting).

    Parameters
    ----------
    wavelength_aa : array_like, shape (n_wave,)
        Increasing wavelength [AA]; must cover the band.
    flam : array_like, shape (..., n_wave)
        F_lambda [erg s^-1 cm^-2 AA^-1] (at the observer).
    band : Band
        The passband (its ``system`` picks AB or Vega).

    Returns
    -------
    ndarray, shape (...)
        Magnitudes in the band's system.
    """
    quad = Quadrature.from_curve(band.curve)
    w = np.asarray(wavelength_aa, dtype=float)
    cols, mat = quad.interpolation_matrix(w)
    counts = (np.asarray(flam, dtype=float)[..., cols] @ mat) @ quad.weights
    zmag = VEGA_MAG_SURVEY.get(band.survey, 0.0) if band.system == "Vega" else 0.0
    return -2.5 * np.log10(counts / zero_point_counts(quad, band.system)) + zmag
