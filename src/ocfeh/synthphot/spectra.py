"""Model-spectrum grids read from the SEDFit bz2 pickles (never importing SEDFit code).

Each SEDFit file ``sed_<grid>.p`` is a bz2-compressed pickle of a list
``[log10(lambda F_lambda) surface flux (n_spec, n_wave), astropy Table(teff, logg, feh, alpha),
wavelength Quantity in Angstrom]``. The pickles reference only numpy, astropy and ``collections``
classes; they are read with a restricted unpickler that refuses any other class, so no code from
SEDFit (or anything else) can run while loading.

References
----------
Kurucz R. L. 1993, ATLAS9 (CD-ROM 13); Castelli & Kurucz 2003.
Coelho P. R. T. 2014, MNRAS 440, 1027.
Husser T.-O. et al. 2013, A&A 553, A6 (PHOENIX).
Allard F. et al. 2012, Phil. Trans. R. Soc. A 370, 2765 (BT-Settl).
"""

from __future__ import annotations

import bz2
import io
import logging
import pickle
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from ..datafiles import data_path
from ..exceptions import DataFileError

__all__ = ["SpectralGrid", "GRID_NAMES", "load_grid", "RestrictedUnpickler"]

log = logging.getLogger(__name__)

GRID_NAMES = ("kurucz", "coelho", "phoenix", "btsettl")

_ALLOWED_PREFIXES = ("numpy", "astropy.", "collections")


class RestrictedUnpickler(pickle.Unpickler):
    """Unpickle only numpy / astropy / collections classes (the SEDFit files need nothing else)."""

    def find_class(self, module: str, name: str):  # noqa: D102
        if module == "numpy.core.multiarray" or module.startswith("numpy.core."):
            module = "numpy._core" + module[len("numpy.core"):]  # NumPy 2 renamed numpy.core
        if module == "collections" or module.startswith(_ALLOWED_PREFIXES):
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load class {module}.{name} from a model-grid pickle")


@dataclass(frozen=True)
class SpectralGrid:
    """Surface-flux spectra of one model grid.

    Attributes
    ----------
    name : str
        Grid name (``kurucz``, ``coelho``, ``phoenix``, ``btsettl``).
    teff, logg, feh : ndarray, shape (n_spec,)
        Effective temperature [K], log10 surface gravity [cgs], [Fe/H] [dex] of each spectrum.
    wavelength_aa : ndarray, shape (n_wave,)
        Wavelength [Angstrom], increasing.
    log_lam_flam : ndarray, shape (n_spec, n_wave)
        log10(lambda F_lambda) of the surface flux, F_lambda in erg s^-1 cm^-2 AA^-1.
    """

    name: str
    teff: np.ndarray
    logg: np.ndarray
    feh: np.ndarray
    wavelength_aa: np.ndarray
    log_lam_flam: np.ndarray

    def flam(self, index: np.ndarray | slice = slice(None)) -> np.ndarray:
        """Surface F_lambda [erg s^-1 cm^-2 AA^-1] of the selected spectra."""
        return 10.0 ** self.log_lam_flam[index] / self.wavelength_aa


@lru_cache(maxsize=4)
def load_grid(name: str) -> SpectralGrid:
    """Load one SEDFit grid (solar-scaled [alpha/Fe] = 0 spectra only), sha256-verified.

    Parameters
    ----------
    name : {"kurucz", "coelho", "phoenix", "btsettl"}
        The grid.

    Raises
    ------
    DataFileError
        The file is missing, altered or not a grid pickle.
    """
    if name not in GRID_NAMES:
        raise ValueError(f"grid must be one of {', '.join(GRID_NAMES)}; got {name!r}")
    path = data_path(f"grid:{name}")
    log.info("reading model grid %s from %s", name, path)
    try:
        with bz2.open(path, "rb") as fh:
            obj = RestrictedUnpickler(io.BufferedReader(fh)).load()
        flux, table, wave = obj
        wave = np.asarray(getattr(wave, "to_value", lambda u: wave)("AA"), dtype=float)
        flux = np.asarray(flux, dtype=float)
        teff = np.asarray(table["teff"], dtype=float)
        logg = np.asarray(table["logg"], dtype=float)
        feh = np.asarray(table["feh"], dtype=float)
        alpha = np.asarray(table["alpha"], dtype=float)
    except (OSError, EOFError, pickle.UnpicklingError, ValueError, KeyError, TypeError) as exc:
        raise DataFileError(f"Cannot read model grid {name!r} from {path}: {exc}") from exc
    if flux.shape != (teff.size, wave.size):
        raise DataFileError(f"Model grid {path}: flux shape {flux.shape} does not match "
                            f"{teff.size} spectra x {wave.size} wavelengths")
    keep = alpha == 0.0
    order = np.argsort(wave)
    return SpectralGrid(
        name=name, teff=teff[keep], logg=logg[keep], feh=feh[keep],
        wavelength_aa=wave[order], log_lam_flam=np.ascontiguousarray(flux[keep][:, order]),
    )
