"""The canonical star table that every stage after the readers uses.

Readers (``ocfeh.catalogs``) map each survey's native columns onto these names; the cross-match
joins them into one row per star. Magnitudes are floats with NaN for missing (never 99).

Columns (units in the name or listed here):

- ``source_id`` : int64 or str, the star's id (Gaia DR3 ``source_id`` where there is one)
- ``ra``, ``dec`` : deg, ICRS
- ``mag_<band>``, ``mag_err_<band>`` : mag, for each band of :data:`ocfeh.bands.BANDS`
  (J-PLUS in AB, Gaia and WISE in Vega, as the surveys publish them)
- ``parallax``, ``parallax_error`` : mas
- ``distance_pc`` : adopted distance (Bailer-Jones ``r_med_photogeo`` by default), with
  ``distance_lo_pc`` / ``distance_hi_pc`` (16th / 84th percentiles) where known
- ``a0`` : mag, monochromatic extinction at 541.4 nm (Gaia GSP-Phot ``azero_gspphot`` convention);
  ``a0_err`` where known; ``ebv`` : mag, E(B-V) where a reddening map gives it instead
- ``ruwe``, ``class_star``, ``jplus_flags`` : quality columns
- labels ``teff`` (K), ``logg`` (dex, cgs), ``feh`` (dex), each with ``<label>_err``; ``snr``
- ``label_source`` : e.g. ``"lamost"``, ``"apogee"``
- ``split`` : ``"train"``, ``"val"`` or ``"test"``
- on the mock sky, the truth: ``teff_true``, ``logg_true``, ``feh_true``, ``distance_true_pc``, ``a0_true``
- cluster members: ``cluster``, ``member_prob``
- survey ids and extras written by the readers (``ocfeh.catalogs``): ``jplus_tile_id``, ``jplus_number``,
  ``jplus_id`` (``"<tile>-<number>"``), ``jplus_mask_flags`` (bitwise OR of the per-band flags, like
  ``jplus_flags``), ``catwise_id``, ``lamost_obsid``, ``apogee_id``, ``aspcapflag``; ``a_<band>`` : mag,
  J-PLUS ``MWExtinction`` per-band extinction; ``ag``, ``ebpminrp`` : mag, GSP-Phot A_G and E(BP-RP);
  ``distance_gspphot_pc``, ``distance_geo_pc``, ``distance_photogeo_pc`` (+ ``_lo_pc`` / ``_hi_pc``) : pc,
  the candidates for ``distance_pc``; ``ebv_sfd`` : mag, E(B-V) already removed from dereddened inputs
- cross-match: ``ra_jplus``, ``dec_jplus`` etc. (a matched table's own positions), ``sep_<table>_arcsec``
- cluster catalogue (HR23): ``cluster``, ``cluster_id``, ``ra``, ``dec``, ``pmra``, ``pmdec`` (mas/yr),
  ``parallax``, ``r50_deg``, ``n_members``, ``log_age`` (log10 yr), ``av`` (mag), ``distance_pc``,
  ``cluster_type``, ``cst``
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from .bands import BANDS

__all__ = ["A0_MIN", "LABELS", "LABEL_TRUTH_COLUMNS", "MAG_LIMIT", "mag_col", "err_col", "MAG_COLUMNS", "ERR_COLUMNS", "as_star_table"]

LABELS = ("teff", "logg", "feh")
LABEL_TRUTH_COLUMNS = tuple(f"{t}_true" for t in LABELS)
"""The mock sky's true labels, which only its tables carry (a table with them comes from the mock sky)."""
A0_MIN = -0.05
"""Lowest usable ``a0`` (mag): below it an extinction is unphysical and taken as missing."""
MAG_LIMIT = 50.0
"""A magnitude beyond +-MAG_LIMIT is a sentinel (99, -9999) a table kept: taken as missing."""


def mag_col(band: str) -> str:
    """Canonical magnitude column of a band: ``mag_<band>``."""
    return f"mag_{band}"


def err_col(band: str) -> str:
    """Canonical magnitude-error column of a band: ``mag_err_<band>``."""
    return f"mag_err_{band}"


MAG_COLUMNS = tuple(mag_col(b) for b in BANDS)
ERR_COLUMNS = tuple(err_col(b) for b in BANDS)


def as_star_table(table: Any, expected: str = "canonical columns (mag_<band>, distance_pc, a0)") -> pd.DataFrame:
    """``table`` as a DataFrame (an astropy Table is converted); anything else is a TypeError saying how to
    make one."""
    if isinstance(table, pd.DataFrame):
        return table
    if type(table).__module__.startswith("astropy.table") and hasattr(table, "to_pandas"):
        return table.to_pandas()
    hint = (" (one star: series.to_frame().T)" if isinstance(table, pd.Series)
            else " (pd.DataFrame(array, columns=[...]) names its columns)" if isinstance(table, np.ndarray)
            else " (pd.DataFrame(data) makes one)" if isinstance(table, (dict, list, tuple)) else "")
    raise TypeError(f"expected a pandas DataFrame with {expected}; got {type(table).__name__}{hint}")
