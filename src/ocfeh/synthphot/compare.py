"""Synthetic colours against observed ones at the stars' spectroscopic labels.

:func:`colour_residuals` computes every star's synthetic magnitudes at its labels (and its ``a0``) and
reports, per band, the offset of the observed colour ``band - reference`` from the synthetic one and
the colour's [Fe/H] sensitivity at fixed Teff and log g, measured the same way in both. The offset
tests the filter curves, zero points and model spectra; the sensitivity ratio tells whether a mock sky
made from these spectra carries as much metallicity information per band as the real photometry.

>>> import numpy as np, pandas as pd
>>> rng = np.random.default_rng(0)
>>> n = 400
>>> t = pd.DataFrame({"teff": rng.uniform(5600, 6400, n), "logg": rng.uniform(4.0, 4.5, n),
...                   "feh": rng.uniform(-2.0, 0.0, n), "a0": 0.0})
>>> m = magnitudes(t["teff"], t["logg"], t["feh"], bands=["J0395", "rSDSS"])   # doctest: +SKIP
>>> t["mag_J0395"], t["mag_rSDSS"] = m["J0395"] + 0.1, m["rSDSS"]                # doctest: +SKIP
>>> t["mag_err_J0395"] = t["mag_err_rSDSS"] = 0.01                              # doctest: +SKIP
>>> r = colour_residuals(t, ["J0395"]).iloc[0]                                  # doctest: +SKIP
>>> round(float(r["offset"]), 3), round(float(r["sensitivity_ratio"]), 3)       # doctest: +SKIP
(0.1, 1.0)
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import pandas as pd

from ..exceptions import InputError
from ..schema import err_col, mag_col
from .api import magnitudes

__all__ = ["colour_residuals"]

log = logging.getLogger(__name__)


def _feh_slope(colour: np.ndarray, teff: np.ndarray, logg: np.ndarray, feh: np.ndarray) -> tuple[float, float]:
    """d colour / d[Fe/H] and its error, from colour ~ 1 + dT + dT^2 + dlogg + [Fe/H] (least squares)."""
    dt = (teff - np.median(teff)) / 1000.0
    X = np.column_stack([np.ones_like(dt), dt, dt**2, logg - np.median(logg), feh])
    beta, *_ = np.linalg.lstsq(X, colour, rcond=None)
    resid = colour - X @ beta
    dof = max(len(colour) - X.shape[1], 1)
    cov = np.linalg.pinv(X.T @ X) * float(resid @ resid) / dof
    return float(beta[-1]), float(np.sqrt(cov[-1, -1]))


def colour_residuals(table: pd.DataFrame, bands: Sequence[str], reference: str = "rSDSS", max_err: float = 0.05,
                     teff_range: tuple[float, float] = (5500.0, 6500.0), min_logg: float = 3.8,
                     min_stars: int = 50) -> pd.DataFrame:
    """Observed minus synthetic colours, and the colours' [Fe/H] sensitivity, per band.

    Parameters
    ----------
    table : pandas.DataFrame
        Canonical star table: ``teff``, ``logg``, ``feh`` labels, ``mag_<band>`` and ``mag_err_<band>``
        for ``bands`` and ``reference``, and optionally ``a0`` (mag; 0 when absent: de-reddened magnitudes).
    bands : sequence of str
        Bands whose colour ``band - reference`` is compared.
    reference : str, default="rSDSS"
    max_err : float, default=0.05
        Stars enter a band's sensitivity fit when both magnitude errors are below this [mag].
    teff_range, min_logg
        The stars of the sensitivity fit (default: turn-off and main-sequence dwarfs, where the blue
        J-PLUS bands carry most of the metallicity signal).
    min_stars : int, default=50
        Fewer stars in a band's fit give NaN sensitivities.

    Returns
    -------
    pandas.DataFrame
        One row per band: ``n`` stars with both magnitudes and in the model grid; ``offset`` (median of
        observed - synthetic colour, mag), ``robust_scatter`` (1.4826 MAD) and ``expected_scatter`` (median
        of the two magnitude errors in quadrature); ``n_fit``, ``slope_observed`` +- ``slope_observed_err``
        and ``slope_synthetic`` (mag per dex of [Fe/H], the same fit on the same stars) and their ratio
        ``sensitivity_ratio`` (synthetic / observed).
    """
    need = ["teff", "logg", "feh"] + [c for b in (*bands, reference) for c in (mag_col(b), err_col(b))]
    missing = [c for c in need if c not in table.columns]
    if missing:
        raise InputError(f"colour_residuals: the table ({len(table)} rows) lacks columns {missing}")
    if len(table) == 0:
        raise InputError("colour_residuals: the table is empty")
    a0 = table["a0"].to_numpy(float) if "a0" in table else np.zeros(len(table))
    a0 = np.where(np.isfinite(a0), a0, np.nan)
    teff, logg, feh = (table[c].to_numpy(float) for c in ("teff", "logg", "feh"))
    synth = magnitudes(teff, logg, feh, a0=a0, bands=[*bands, reference])
    n_out = int((~synth["in_grid"]).sum())
    if n_out:
        log.info("colour_residuals: %d of %d stars outside the model grid or without a0 skipped", n_out, len(table))
    fit_rows = (teff >= teff_range[0]) & (teff <= teff_range[1]) & (logg >= min_logg)
    ref_obs, ref_err = table[mag_col(reference)].to_numpy(float), table[err_col(reference)].to_numpy(float)
    rows = []
    for b in bands:
        obs = table[mag_col(b)].to_numpy(float) - ref_obs
        syn = synth[b].to_numpy(float) - synth[reference].to_numpy(float)
        err = np.hypot(table[err_col(b)].to_numpy(float), ref_err)
        ok = np.isfinite(obs) & np.isfinite(syn)
        d = obs[ok] - syn[ok]
        row = {"band": b, "colour": f"{b} - {reference}", "n": int(ok.sum()),
               "offset": float(np.median(d)) if ok.any() else np.nan,
               "robust_scatter": float(1.4826 * np.median(np.abs(d - np.median(d)))) if ok.any() else np.nan,
               "expected_scatter": float(np.nanmedian(err[ok])) if ok.any() else np.nan}
        fit = ok & fit_rows & (table[err_col(b)].to_numpy(float) < max_err) & (ref_err < max_err)
        row["n_fit"] = int(fit.sum())
        if fit.sum() >= min_stars:
            s_obs, s_err = _feh_slope(obs[fit], teff[fit], logg[fit], feh[fit])
            s_syn, _ = _feh_slope(syn[fit], teff[fit], logg[fit], feh[fit])
            row.update(slope_observed=s_obs, slope_observed_err=s_err, slope_synthetic=s_syn,
                       sensitivity_ratio=s_syn / s_obs if s_obs != 0 else np.nan)
        else:
            row.update(slope_observed=np.nan, slope_observed_err=np.nan, slope_synthetic=np.nan,
                       sensitivity_ratio=np.nan)
        rows.append(row)
    return pd.DataFrame(rows)
