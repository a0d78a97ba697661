"""The photometric systems: the 17 bands, their surveys, magnitude systems, transmission curves and wavelengths.

Curves are read from the data-only distributions (never their code), checksum-verified on first use.

>>> from ocfeh.bands import get_band, band_set
>>> get_band("J0660").system
'AB'
>>> len(band_set("all"))
17
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from .datafiles import data_path
from .exceptions import DataFileError, UnknownBandError

__all__ = [
    "Band",
    "BANDS",
    "BAND_SETS",
    "JPLUS_BANDS",
    "JPLUS_ARRAY_ORDER",
    "EXTRA_BAND_WAVELENGTH_AA",
    "FilterCurve",
    "band_set",
    "get_band",
    "load_curve",
    "read_curve_file",
    "resolve_bands",
    "splus_bands",
    "unknown_band_error",
    "wavelength_aa",
]

JPLUS_BANDS = (
    "uJAVA", "J0378", "J0395", "J0410", "J0430", "gSDSS",
    "J0515", "rSDSS", "J0660", "iSDSS", "J0861", "zSDSS",
)
JPLUS_ARRAY_ORDER = (
    "rSDSS", "gSDSS", "iSDSS", "zSDSS", "uJAVA", "J0378",
    "J0395", "J0410", "J0430", "J0515", "J0660", "J0861",
)
"""The order of the 12 elements of the J-PLUS archive's array columns (``mag_aper_6_0`` ...): the
archive's ``filter_id`` 1-12 (the broad bands first), not wavelength; ``x[jplus::J0660]`` in ADQL
picks the element by name."""


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


@dataclass(frozen=True)
class Band:
    """One passband.

    Attributes
    ----------
    name : str
        Name used in column names (``M_<name>``, ``<a>-<b>``).
    survey : str
        ``"jplus"``, ``"gaia"``, ``"wise"`` (or ``"splus"``).
    system : str
        ``"AB"`` or ``"Vega"``.
    curve_key : str
        Key of the registered filter curve, or a path to a curve file.
    """

    name: str
    survey: str
    system: str
    curve_key: str
    curve_unit: str = "AA"

    @property
    def curve(self) -> FilterCurve:
        """The transmission curve (loaded and checksum-verified on first use)."""
        if "/" in self.curve_key:
            return read_curve_file(self.curve_key, self.name, self.curve_unit)
        return load_curve(self.curve_key)

    @property
    def pivot_wavelength_aa(self) -> float:
        """Pivot wavelength in Angstrom, computed from the curve."""
        return self.curve.pivot_wavelength_aa

    @property
    def mean_wavelength_aa(self) -> float:
        """Mean wavelength in Angstrom, computed from the curve."""
        return self.curve.mean_wavelength_aa


_ALL = (
    [Band(b, "jplus", "AB", b) for b in JPLUS_BANDS]
    + [Band(b, "gaia", "Vega", f"gaiadr3-{b}") for b in ("G", "BP", "RP")]
    + [Band(b, "wise", "Vega", f"wise2010-{b}") for b in ("W1", "W2")]
)
BANDS: dict[str, Band] = {b.name: b for b in _ALL}

BAND_SETS: dict[str, tuple[str, ...]] = {
    "jplus": JPLUS_BANDS,
    "gaia": ("G", "BP", "RP"),
    "wise": ("W1", "W2"),
    "gaia+wise": ("G", "BP", "RP", "W1", "W2"),
    "all": tuple(BANDS),
}


def unknown_band_error(kind: str, name: str, known) -> UnknownBandError:
    """The error for an unknown band (or band set) ``name``: the near miss and the known names."""
    near = difflib.get_close_matches(name, list(known), n=1)
    hint = f" Did you mean {near[0]!r}?" if near else ""
    return UnknownBandError(f"Unknown {kind} {name!r}.{hint} Known: {', '.join(known)}")


def get_band(name: str) -> Band:
    """The registered band called ``name``; unknown names raise with the known list."""
    try:
        return BANDS[name]
    except KeyError:
        raise unknown_band_error("band", name, BANDS) from None


def band_set(name_or_bands: str | list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """Resolve a named set (``jplus``, ``gaia``, ``wise``, ``gaia+wise``, ``all``) or a list of bands."""
    if isinstance(name_or_bands, str):
        if name_or_bands in BAND_SETS:
            return BAND_SETS[name_or_bands]
        if name_or_bands in BANDS:
            return (name_or_bands,)
        raise unknown_band_error("band set", name_or_bands, list(BAND_SETS) + list(BANDS))
    return tuple(get_band(b).name for b in name_or_bands)


EXTRA_BAND_WAVELENGTH_AA = {"J": 12350.0, "H": 16620.0, "Ks": 21590.0}
"""Bands outside :data:`ocfeh.bands.BANDS` that features accept (2MASS, Vega; isophotal wavelengths of
Cohen, Wheaton & Megeath 2003, Angstrom). Their extinction is the G23 law at that wavelength."""


def resolve_bands(bands) -> tuple[str, ...]:
    """A band-set name or a list of registered bands and/or 2MASS ``J``, ``H``, ``Ks``."""
    if isinstance(bands, str):
        return band_set(bands)
    unknown = [b for b in bands if b not in BANDS and b not in EXTRA_BAND_WAVELENGTH_AA]
    if unknown:
        err = unknown_band_error("band", unknown[0], [*BANDS, *EXTRA_BAND_WAVELENGTH_AA])
        raise UnknownBandError(f"{err}; band sets: {', '.join(BAND_SETS)}")
    return tuple(bands)


def wavelength_aa(band: str) -> float:
    """Pivot wavelength of a band (Angstrom); the isophotal one for 2MASS J, H, Ks."""
    if band in EXTRA_BAND_WAVELENGTH_AA:
        return EXTRA_BAND_WAVELENGTH_AA[band]
    return get_band(band).pivot_wavelength_aa


def splus_bands(directory: str | Path) -> dict[str, Band]:
    """S-PLUS (T80-South) bands from a folder of ``<band>.csv`` curves (wavelength in nm).

    S-PLUS uses the same 12-filter design as J-PLUS; its curves differ slightly.
    """
    directory = Path(directory)
    out = {}
    for b in JPLUS_BANDS:
        path = directory / f"{b}.csv"
        if not path.is_file():
            raise FileNotFoundError(f"S-PLUS curve for {b} not found: {path}")
        out[b] = Band(b, "splus", "AB", str(path), curve_unit="nm")
    return out
