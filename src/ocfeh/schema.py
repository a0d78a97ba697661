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
"""

from __future__ import annotations

from .bands import BANDS

__all__ = ["LABELS", "mag_col", "err_col", "MAG_COLUMNS", "ERR_COLUMNS"]

LABELS = ("teff", "logg", "feh")


def mag_col(band: str) -> str:
    """Canonical magnitude column of a band: ``mag_<band>``."""
    return f"mag_{band}"


def err_col(band: str) -> str:
    """Canonical magnitude-error column of a band: ``mag_err_<band>``."""
    return f"mag_err_{band}"


MAG_COLUMNS = tuple(mag_col(b) for b in BANDS)
ERR_COLUMNS = tuple(err_col(b) for b in BANDS)
