"""Magnitudes of BaSTI-IAC isochrones in the ocfeh bands.

:class:`IsochroneMagnitudes` turns the points of an :class:`~ocfeh.synthphot.isochrones.Isochrones` grid into
absolute magnitudes and per-band extinction through a table of synthetic magnitudes on a regular
(log Teff, log g, [Fe/H], A_0) grid, computed once with :func:`ocfeh.synthphot.magnitudes` (or any
function with its signature) and cached on disk.

Absolute magnitude of a point: ``M_b = M_b(R = 1 Rsun) - 5 log10(R / Rsun)`` with
``log R = 0.5 log L - 2 (log Teff - log 5772)``; extinction ``A_b(A_0) = k1_b A_0 + k2_b A_0^2``
from the synthetic magnitudes at A_0 = 0, 1 and 3 mag.

References
----------
Hidalgo et al. 2018, ApJ 856, 125 (BaSTI-IAC); Pietrinferni et al. 2021, ApJ 908, 102.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Callable

import numpy as np

from ..bands import band_set
from ..datafiles import cache_dir
from ..exceptions import InputError
from ..provenance import atomic_path, stable_hash, versions
from .isochrones import Isochrones, _bracket
from .stellar import magnitudes

__all__ = ["IsochroneMagnitudes", "MagnitudeTable", "fill_logg"]

log = logging.getLogger(__name__)

LOG_TEFF_SUN = np.log10(5772.0)
A0_NODES = (0.0, 1.0, 3.0)


def _synthphot_stamp() -> str:
    """Hash of the synthphot sources, so that a changed synthetic photometry invalidates the cache."""
    h = hashlib.sha256()
    folder = Path(__file__).resolve().parent
    for p in sorted(folder.glob("*.py")):
        h.update(p.read_bytes())
    return h.hexdigest()[:16]


def _band_column(df, band: str):
    for name in (f"mag_{band}", band):
        if name in df:
            return np.asarray(df[name], float)
    raise InputError(f"the magnitude function returned no column for band {band}; got {list(df.columns)}")


@dataclass
class MagnitudeTable:
    """Synthetic absolute magnitudes (R = 1 Rsun, d = 10 pc) on a regular grid.

    ``mags`` has shape (n_teff, n_logg, n_feh, n_a0, n_band); NaN where the spectral grid has no model.
    """

    log_teff: np.ndarray
    logg: np.ndarray
    feh: np.ndarray
    a0: np.ndarray
    bands: tuple[str, ...]
    mags: np.ndarray

    @classmethod
    def build(cls, feh_nodes, bands="all", mag_fn: Callable | None = None,
              log_teff=None, logg=None, cache: bool = True) -> "MagnitudeTable":
        """Compute (or load from the cache) the table.

        Parameters
        ----------
        feh_nodes : array_like
            [Fe/H] nodes (dex), normally the BaSTI ``mh``.
        bands : str or sequence of str
            A band set name or band names.
        mag_fn : callable, optional
            ``mag_fn(teff, logg, feh, a0=..., radius=1.0, distance=10.0, bands=...) -> DataFrame``
            with one column per band (``mag_<band>`` or ``<band>``); default
            :func:`ocfeh.synthphot.magnitudes`.
        log_teff, logg : array_like, optional
            Grid nodes; default log Teff 3.40-4.70 step 0.02, log g -0.5-5.5 step 0.5.
        cache : bool, default=True
            Read/write ``<cache_dir>/isomags-<hash>.npz`` (only for the default ``mag_fn``).
        """
        bands = tuple(band_set(bands)) if isinstance(bands, str) else tuple(bands)
        lt = np.round(np.arange(3.40, 4.7001, 0.02), 4) if log_teff is None else np.asarray(log_teff, float)
        lg = np.arange(-0.5, 5.5001, 0.5) if logg is None else np.asarray(logg, float)
        fe = np.asarray(feh_nodes, float)
        a0 = np.asarray(A0_NODES)
        use_cache = cache and mag_fn is None
        key = stable_hash({"lt": lt.tolist(), "lg": lg.tolist(), "fe": fe.tolist(), "a0": a0.tolist(),
                           "bands": bands, "ocfeh": versions()["ocfeh"], "synthphot": _synthphot_stamp()})
        path = cache_dir() / f"isomags-{key}.npz"
        if use_cache and path.is_file():
            mags = np.load(path)["mags"]
            return cls(lt, lg, fe, a0, bands, fill_logg(mags))
        fn = mag_fn or magnitudes
        T, G, F, A = np.meshgrid(10**lt, lg, fe, a0, indexing="ij")
        log.info("isochrones: synthetic magnitudes on a %d-point grid (%d bands), once", T.size, len(bands))
        df = fn(T.ravel(), G.ravel(), F.ravel(), a0=A.ravel(), radius=1.0, distance=10.0, bands=list(bands))
        mags = np.stack([_band_column(df, b) for b in bands], axis=-1).reshape(T.shape + (len(bands),))
        if use_cache:
            with atomic_path(path) as tmp:
                with open(tmp, "wb") as fh:
                    np.savez_compressed(fh, mags=mags)
        return cls(lt, lg, fe, a0, bands, fill_logg(mags))

    def interpolate(self, log_teff, logg, feh) -> np.ndarray:
        """Magnitudes at points (n,), shape (n, n_a0, n_band); NaN outside the grid or near missing models."""
        from scipy.interpolate import RegularGridInterpolator  # deferred: scipy costs 0.3 s at import

        rgi = RegularGridInterpolator((self.log_teff, self.logg, self.feh), self.mags,
                                      bounds_error=False, fill_value=np.nan)
        pts = np.column_stack([np.ravel(log_teff), np.ravel(logg), np.ravel(feh)])
        return rgi(pts)


def fill_logg(mags: np.ndarray) -> np.ndarray:
    """Fill grid holes along log g (axis 1) with the nearest computed log g at the same Teff, [Fe/H], A_0.

    Spectral grids stop at log g 4.5-5 for warm dwarfs; magnitudes at fixed radius change by
    millimagnitudes per 0.5 dex of log g, so the edge value is a fair stand-in for the few isochrone
    points beyond it. Cells with no value at any log g stay NaN.
    """
    out = mags.copy()
    ok = np.isfinite(out)
    n = out.shape[1]
    idx = np.arange(n).reshape((1, n) + (1,) * (out.ndim - 2))
    big = n + 1
    # nearest valid index along axis 1: distances to valid cells
    valid_idx = np.where(ok, idx, -big)
    prev = np.maximum.accumulate(valid_idx, axis=1)
    nxt = np.flip(np.minimum.accumulate(np.flip(np.where(ok, idx, 2 * big), axis=1), axis=1), axis=1)
    use_prev = (idx - prev) <= (nxt - idx)
    src = np.where(use_prev & (prev >= 0), prev, np.where(nxt < big, nxt, prev))
    src = np.clip(src, 0, n - 1)
    filled = np.take_along_axis(out, src, axis=1)
    return np.where(ok, out, filled)


class IsochroneMagnitudes:
    """Absolute magnitudes and extinction coefficients of BaSTI isochrone points, computed lazily.

    Parameters
    ----------
    grid : Isochrones
        A grid of EEPs (``load_isochrones().subset()``).
    table : MagnitudeTable
        Must cover the grid's [Fe/H] nodes.
    """

    def __init__(self, grid: Isochrones, table: MagnitudeTable):
        self.grid = grid
        self.table = table
        self.bands = table.bands
        self._cache: dict[tuple[int, int], np.ndarray] = {}

    @cached_property
    def _met_index(self) -> np.ndarray:
        return np.array([int(np.argmin(np.abs(self.table.feh - m))) for m in self.grid.mh])

    def node(self, ia: int, im: int) -> np.ndarray:
        """Stacked (M0, k1, k2), shape (3, n_eep, n_band), of grid isochrone (age index ia, [Fe/H] index im)."""
        key = (ia, im)
        arr = self._cache.get(key)
        if arr is None:
            g = self.grid
            lt, lg, ll = g.log_teff[:, ia, im], g.logg[:, ia, im], g.log_lum[:, ia, im]
            m = self.table.interpolate(lt, lg, np.full(lt.size, g.mh[im]))  # (n, n_a0, nb)
            log_r = 0.5 * ll - 2.0 * (lt - LOG_TEFF_SUN)
            a1 = m[:, 1, :] - m[:, 0, :]
            a3 = m[:, 2, :] - m[:, 0, :]
            k2 = (a3 - 3.0 * a1) / 6.0
            arr = np.stack([m[:, 0, :] - 5.0 * log_r[:, None], a1 - k2, k2])
            self._cache[key] = arr
        return arr

    def at(self, log_age: float, feh: float) -> np.ndarray:
        """Stacked (M0, k1, k2), shape (3, n_eep, n_band), bilinear between the four neighbouring isochrones."""
        (ia, wa), (im, wm) = _bracket(self.grid.log_age, log_age), _bracket(self.grid.mh, feh)
        out = (1 - wa) * (1 - wm) * self.node(ia, im)
        if wa > 0:
            out += wa * (1 - wm) * self.node(ia + 1, im)
        if wm > 0:
            out += (1 - wa) * wm * self.node(ia, im + 1)
            if wa > 0:
                out += wa * wm * self.node(ia + 1, im + 1)
        return out

    def magnitudes(self, log_age: float, feh: float, distance_pc: float = 10.0, a0: float = 0.0) -> np.ndarray:
        """Apparent magnitudes (n_eep, n_band) of an isochrone at a distance and extinction."""
        m0, k1, k2 = self.at(log_age, feh)
        return m0 + 5.0 * np.log10(distance_pc / 10.0) + a0 * k1 + a0**2 * k2
