"""The photometric systems: the 17 bands, their surveys, magnitude systems and wavelengths.

>>> from ocfeh.bands import get_band, band_set
>>> get_band("J0660").system
'AB'
>>> len(band_set("all"))
17
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from .exceptions import UnknownBandError

if TYPE_CHECKING:
    from .synthphot.filters import FilterCurve

__all__ = ["Band", "BANDS", "BAND_SETS", "JPLUS_BANDS", "get_band", "band_set", "splus_bands"]

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
        from .synthphot.filters import load_curve, read_curve_file

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


def _unknown(kind: str, name: str, known) -> UnknownBandError:
    near = difflib.get_close_matches(name, list(known), n=1)
    hint = f" Did you mean {near[0]!r}?" if near else ""
    return UnknownBandError(f"Unknown {kind} {name!r}.{hint} Known: {', '.join(known)}")


def get_band(name: str) -> Band:
    """The registered band called ``name``; unknown names raise with the known list."""
    try:
        return BANDS[name]
    except KeyError:
        raise _unknown("band", name, BANDS) from None


def band_set(name_or_bands: str | list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """Resolve a named set (``jplus``, ``gaia``, ``wise``, ``gaia+wise``, ``all``) or a list of bands."""
    if isinstance(name_or_bands, str):
        if name_or_bands in BAND_SETS:
            return BAND_SETS[name_or_bands]
        if name_or_bands in BANDS:
            return (name_or_bands,)
        raise _unknown("band set", name_or_bands, list(BAND_SETS) + list(BANDS))
    return tuple(get_band(b).name for b in name_or_bands)


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
