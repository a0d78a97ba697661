"""Fast interpolation in the synthetic-photometry table, with an explicit in-grid flag.

- Surface magnitude at A_0 = 0: tensor-product cubic interpolating B-spline (not-a-knot) in the
  physical coordinates (log10 Teff, log g, [Fe/H]), all bands at once (``scipy.interpolate.NdBSpline``).
  The grid is rectilinear, so the coefficients follow from three small 1-D solves (one per axis);
  the spline passes through every node.
- A_band / A_0: multilinear in (log10 Teff, log g, [Fe/H], A_0); it varies slowly (a few per cent
  over the whole grid), so the extinction error is << 0.01 mag x A_0.

A star is inside the grid when its parameters lie within the node ranges, are finite, and the
eight nodes of its (log Teff, log g, [Fe/H]) cell all hold models. Gap nodes are filled with the
nearest filled node only so the spline coefficients exist; stars in cells touching a gap are
reported outside the grid (NaN), so the fill never reaches a result.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage
from scipy.interpolate import NdBSpline, make_interp_spline

from .table import SynthTable

__all__ = ["TableInterpolator"]


def _fill_nearest(values: np.ndarray, valid: np.ndarray) -> np.ndarray:
    if valid.all():
        return values
    _, idx = ndimage.distance_transform_edt(~valid, return_indices=True)
    return values[tuple(idx)]


class TableInterpolator:
    """Evaluate a :class:`SynthTable` at arbitrary (Teff, log g, [Fe/H], A_0).

    Parameters
    ----------
    table : SynthTable
        The table.
    """

    def __init__(self, table: SynthTable) -> None:
        self.table = table
        self.bands = table.bands
        self._axes = (np.log10(table.teff), table.logg, table.feh)
        valid = np.all(np.isfinite(table.msurf), axis=-1) & np.all(np.isfinite(table.kext), axis=(-2, -1))
        self.valid = valid
        cell = valid[:-1, :-1, :-1].copy()
        for di in (0, 1):
            for dj in (0, 1):
                for dk in (0, 1):
                    cell &= valid[di:valid.shape[0] - 1 + di, dj:valid.shape[1] - 1 + dj, dk:valid.shape[2] - 1 + dk]
        self._cell_valid = cell
        filled = np.stack([_fill_nearest(table.msurf[..., b], valid) for b in range(len(self.bands))], axis=-1)
        knots, coef = [], filled
        for ax, x in enumerate(self._axes):
            spl = make_interp_spline(x, np.eye(x.size), k=3)  # c = inverse collocation matrix
            knots.append(spl.t)
            coef = np.moveaxis(np.tensordot(spl.c, np.moveaxis(coef, ax, 0), axes=(1, 0)), 0, ax)
        self._spline = NdBSpline(tuple(knots), coef, 3, extrapolate=False)
        kf = np.stack([_fill_nearest(table.kext[..., a, :], valid) for a in range(table.kext.shape[3])], axis=3)
        self._kext_flat = kf.reshape(-1, kf.shape[-1])  # (n_T * n_g * n_Z * n_A0, n_bands)
        self._kext_shape = kf.shape[:4]

    def _kext_linear(self, coords: np.ndarray, idx: list[int]) -> np.ndarray:
        """Multilinear A_band/A_0 at fractional node indices (4, n), all bands at once."""
        shape = self._kext_shape
        base, frac = [], []
        for c, n in zip(coords, shape):
            i = np.clip(np.floor(c).astype(np.intp), 0, n - 2)
            base.append(i)
            frac.append(c - i)
        strides = np.cumprod((1,) + shape[::-1][:-1])[::-1]
        flat0 = sum(b * s for b, s in zip(base, strides))
        every = list(idx) == list(range(self._kext_flat.shape[1]))
        table = self._kext_flat if every else self._kext_flat[:, idx]
        out = np.zeros((coords.shape[1], len(idx)))
        for corner in range(16):
            bits = [(corner >> d) & 1 for d in range(4)]
            w = np.ones(coords.shape[1])
            off = 0
            for d, bit in enumerate(bits):
                w *= frac[d] if bit else 1.0 - frac[d]
                off += bit * strides[d]
            out += w[:, None] * table[flat0 + off]
        return out

    def _index(self, teff, logg, feh):
        x = (np.log10(teff), logg, feh)
        coords, inside = [], np.ones(np.shape(teff), dtype=bool)
        for ax, v in zip(self._axes, x):
            inside &= (v >= ax[0]) & (v <= ax[-1])
            coords.append(np.nan_to_num(np.interp(v, ax, np.arange(ax.size, dtype=float))))
        return np.array(coords), inside

    def in_grid(self, teff, logg, feh, a0) -> np.ndarray:
        """True where the star lies inside the filled grid (and 0 <= A_0 <= max node)."""
        coords, inside = self._index(teff, logg, feh)
        inside &= np.isfinite(a0) & (a0 >= self.table.a0[0]) & (a0 <= self.table.a0[-1])
        i = [np.clip(np.floor(c).astype(np.intp), 0, n - 1) for c, n in zip(coords, self._cell_valid.shape)]
        return inside & self._cell_valid[i[0], i[1], i[2]]

    def evaluate(self, teff, logg, feh, a0, bands: list[int] | None = None, extinction_only: bool = False):
        """Surface magnitudes (with extinction) or A_band, shape (n, n_bands); NaN outside the grid.

        Parameters
        ----------
        teff, logg, feh, a0 : ndarray, shape (n,)
            Parameters [K, dex, dex, mag].
        bands : list of int, optional
            Indices into :attr:`bands` (default all).
        extinction_only : bool, default=False
            Return A_band [mag] instead of the magnitude.

        Returns
        -------
        values : ndarray, shape (n, n_bands)
        in_grid : ndarray of bool, shape (n,)
        """
        teff, logg, feh, a0 = (np.asarray(v, dtype=float) for v in (teff, logg, feh, a0))
        ok = self.in_grid(teff, logg, feh, a0)
        idx = range(len(self.bands)) if bands is None else bands
        out = np.full((teff.size, len(idx)), np.nan)
        if not ok.any():
            return out, ok
        t, g, f, a = teff[ok], logg[ok], feh[ok], a0[ok]
        need_ext = extinction_only or np.any(a != 0)
        if not extinction_only:
            m = self._spline(np.column_stack([np.log10(t), g, f]))
            out[ok] = m[:, list(idx)]
        if need_ext:
            coords, _ = self._index(t, g, f)
            ac = np.interp(a, self.table.a0, np.arange(self.table.a0.size, dtype=float))
            kk = self._kext_linear(np.vstack([coords, ac[None]]), list(idx))
            ext = a[:, None] * kk
            out[ok] = ext if extinction_only else out[ok] + ext
        return out, ok
