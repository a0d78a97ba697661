"""The extinction law: G23 (Gordon et al. 2023), R_V = 3.1, normalised to A_0 at 541.4 nm.

``A(lambda) = A_0 * k(lambda) / k(5414 AA)`` with ``k`` the G23 A(lambda)/A(V) curve at R_V = 3.1,
so ``A_0`` is the monochromatic extinction at 541.4 nm, the Gaia DR3 GSP-Phot convention
(``azero_gspphot``; Creevey et al. 2023). G23 is defined over 1/32 - 1/0.0912 micron^-1
(912 AA - 32 micron), which contains every passband here (3000 AA - 5.6 micron); a wavelength
outside it raises instead of extrapolating.

References
----------
Gordon K. D. et al. 2023, ApJ 950, 86 (G23). Gordon K. D. 2024, JOSS 9, 7023 (dust_extinction).
"""

from __future__ import annotations

import numpy as np

__all__ = ["A0_WAVELENGTH_AA", "RV", "extinction_curve"]

A0_WAVELENGTH_AA = 5414.0
"""Wavelength [AA] at which A_0 is defined (Gaia GSP-Phot)."""
RV = 3.1
"""Total-to-selective extinction ratio of the law."""


def extinction_curve(wavelength_aa: np.ndarray) -> np.ndarray:
    """A(lambda)/A_0 of the G23 law (R_V = 3.1) at ``wavelength_aa`` [AA].

    Raises
    ------
    ValueError
        A wavelength lies outside the G23 range (912 AA - 32 micron).
    """
    import astropy.units as u
    from dust_extinction.parameter_averages import G23

    law = G23(Rv=RV)
    x = 1.0e4 / np.asarray(wavelength_aa, dtype=float)  # micron^-1
    lo, hi = law.x_range
    if np.any((x < lo) | (x > hi)):
        raise ValueError(
            f"G23 is defined for {1e4 / hi:.0f}-{1e4 / lo:.0f} AA; got wavelengths "
            f"{np.min(wavelength_aa):.0f}-{np.max(wavelength_aa):.0f} AA"
        )
    return law(x / u.micron) / law(np.array([1.0e4 / A0_WAVELENGTH_AA]) / u.micron)[0]
