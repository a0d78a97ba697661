"""The LAMOST/APOGEE/GALAH x Gaia x PS1 x 2MASS x unWISE table of Green et al. (2021) for validation, and
de-reddened colours of its bands.

References
----------
Green et al. 2021, ApJ 907, 57; Green et al. 2019, ApJ 887, 93 (Bayestar19 extinction coefficients).
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import combinations
from pathlib import Path

import numpy as np
import pandas as pd

from ..bands import get_band
from ..catalogs import read_catalog
from ..exceptions import InputError

__all__ = ["GREEN2020_BANDS", "colour_features", "read_green2020"]


GREEN2020_BANDS = ("G", "BP", "RP", "ps1_g", "ps1_r", "ps1_i", "ps1_z", "ps1_y", "J", "H", "Ks", "W1", "W2")
"""Bands of ``shared/data/lamost_gaia_wise`` (Gaia DR2 and 2MASS/unWISE in Vega, PS1 in AB)."""


# A_band / E for Bayestar19 reddening units E (Green et al. 2019, Table 1, R_V = 3.1)
_GREEN19_R = {"ps1_g": 3.518, "ps1_r": 2.617, "ps1_i": 1.971, "ps1_z": 1.549, "ps1_y": 1.263,
              "J": 0.7927, "H": 0.4690, "Ks": 0.3026}


_PS1_R_PIVOT_AA = 6156.0


def _green2020_ratios() -> dict[str, float]:
    """A_band / E for every band of :data:`GREEN2020_BANDS`.

    PS1 and 2MASS: Green et al. (2019). Gaia and WISE: the G23 law at the band's pivot wavelength,
    scaled so that it gives Green's PS1 r coefficient at 6156 Angstrom.
    """
    import astropy.units as u
    from dust_extinction.parameter_averages import G23

    law = G23(Rv=3.1)
    scale = _GREEN19_R["ps1_r"] / float(law(_PS1_R_PIVOT_AA * u.AA))
    out = dict(_GREEN19_R)
    for b in ("G", "BP", "RP", "W1", "W2"):
        out[b] = scale * float(law(get_band(b).pivot_wavelength_aa * u.AA))
    return out


def read_green2020(path: str | Path) -> pd.DataFrame:
    """The LAMOST/APOGEE/GALAH x Gaia x PS1 x 2MASS x unWISE table (Green et al. 2021) for validation.

    Labels, Gaia and unWISE (converted to Vega) come through the ``green2020`` catalogue reader; PS1
    ``mag_ps1_<g..y>`` (AB), 2MASS ``mag_J``, ``mag_H``, ``mag_Ks`` (Vega) and the Bayestar19
    reddening ``ebv_bayestar`` (Green et al. 2019 units) are added from the same rows of the file.
    """
    path = Path(path)
    table = read_catalog(path, "green2020")
    raw = pd.read_csv(path)
    if len(raw) != len(table):
        raise InputError(f"{path}: the reader returned {len(table)} rows but the file has {len(raw)}")
    extra = {f"mag_{b}": b for b in ("ps1_g", "ps1_r", "ps1_i", "ps1_z", "ps1_y", "J", "H", "Ks")}
    for col, native in extra.items():
        if native not in raw:
            raise InputError(f"{path} lacks the column {native!r}")
        v = raw[native].to_numpy(float)
        table[col] = np.where((v > 0) & (v < 40), v, np.nan)
    if "E_reddening" not in raw:
        raise InputError(f"{path} lacks the column 'E_reddening'")
    table["ebv_bayestar"] = raw["E_reddening"].to_numpy(float)
    table.attrs["extinction_ratios"] = _green2020_ratios()
    return table


def colour_features(table: pd.DataFrame, bands: Sequence[str], ratios: dict[str, float] | None = None,
                    reddening_col: str | None = None, parallax_snr_min: float = 5.0) -> pd.DataFrame:
    """De-reddened colours and absolute magnitudes of any magnitude columns ``mag_<band>``.

    For bands outside :data:`ocfeh.bands.BANDS` (PS1, 2MASS), where
    :func:`ocfeh.train.features.make_features` does not apply. ``A_b = ratios[b] x table[reddening_col]``;
    ``M_<b>`` use ``parallax`` [mas] where ``parallax / parallax_error >= parallax_snr_min`` (NaN
    elsewhere); the reddening itself is kept as a feature.
    """
    absent = [b for b in bands if f"mag_{b}" not in table]
    if absent:
        raise InputError(f"the table ({len(table)} rows) lacks magnitude columns {[f'mag_{b}' for b in absent]}")
    red = np.zeros(len(table)) if reddening_col is None else np.nan_to_num(table[reddening_col].to_numpy(float))
    mags = {b: table[f"mag_{b}"].to_numpy(float) - (ratios or {}).get(b, 0.0) * red for b in bands}
    cols: dict[str, np.ndarray] = {}
    if "parallax" in table and "parallax_error" in table:
        plx = table["parallax"].to_numpy(float)
        good = (plx > 0) & (plx / table["parallax_error"].to_numpy(float) >= parallax_snr_min)
        dm = np.full(len(table), np.nan)
        dm[good] = 5.0 * np.log10(1000.0 / plx[good] / 10.0)
        for b in bands:
            cols[f"M_{b}"] = mags[b] - dm
    for a, b in combinations(bands, 2):
        cols[f"{a}-{b}"] = mags[a] - mags[b]
    if reddening_col is not None:
        cols[reddening_col] = red
    return pd.DataFrame(cols, index=table.index)
