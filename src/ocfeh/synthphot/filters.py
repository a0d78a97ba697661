"""Filter transmission curves, read from the data-only distributions (never their code)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from ..datafiles import data_path
from ..exceptions import DataFileError

__all__ = ["FilterCurve", "load_curve", "read_curve_file"]


@dataclass(frozen=True)
class FilterCurve:
    """A photon-counting system response: wavelength in Angstrom and dimensionless throughput."""

    name: str
    wavelength_aa: np.ndarray
    throughput: np.ndarray

    @property
    def pivot_wavelength_aa(self) -> float:
        """Pivot wavelength sqrt(int T lam dlam / int T/lam dlam) in Angstrom."""
        w, t = self.wavelength_aa, self.throughput
        return float(np.sqrt(np.trapezoid(t * w, w) / np.trapezoid(t / w, w)))

    @property
    def mean_wavelength_aa(self) -> float:
        """Throughput-weighted mean wavelength int T lam dlam / int T dlam in Angstrom."""
        w, t = self.wavelength_aa, self.throughput
        return float(np.trapezoid(t * w, w) / np.trapezoid(t, w))


def read_curve_file(path: str | Path, name: str | None = None, wavelength_unit: str = "AA") -> FilterCurve:
    """Read a two-column (wavelength, throughput) curve: whitespace ``.dat``, ``.csv`` or ECSV.

    Parameters
    ----------
    path : str or Path
        The file.
    name : str, optional
        Name of the curve; defaults to the file stem.
    wavelength_unit : {"AA", "nm"}, default="AA"
        Unit of the first column.
    """
    path = Path(path)
    try:
        if path.suffix == ".ecsv":
            from astropy.table import Table

            tab = Table.read(path, format="ascii.ecsv")
            col = tab.columns[0]
            wave = col.quantity.to_value("AA") if col.unit is not None else np.asarray(col, float)
            thr = np.asarray(tab.columns[1], float)
        else:
            data = np.loadtxt(path, comments="#", delimiter="," if path.suffix == ".csv" else None, ndmin=2)
            wave, thr = data[:, 0].astype(float), data[:, 1].astype(float)
    except (OSError, ValueError) as exc:
        raise DataFileError(f"Cannot read filter curve {path}: {exc}") from exc
    scale = {"AA": 1.0, "nm": 10.0}.get(wavelength_unit)
    if scale is None:
        raise ValueError(f"wavelength_unit must be 'AA' or 'nm'; got {wavelength_unit!r}")
    order = np.argsort(wave)
    wave, thr = wave[order] * scale, np.clip(thr[order], 0.0, None)
    if wave.size < 3 or not np.all(np.isfinite(wave)) or thr.max() <= 0:
        raise DataFileError(f"Filter curve {path} has no usable transmission")
    return FilterCurve(name or path.stem, wave, thr)


@lru_cache(maxsize=None)
def load_curve(key: str) -> FilterCurve:
    """Load a registered curve by its data key suffix (e.g. ``"J0660"``, ``"gaiadr3-G"``)."""
    return read_curve_file(data_path(f"filter:{key}"), name=key)
