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

from ..bands import BANDS
from ..exceptions import InputError
from ..schema import err_col, mag_col
from .stellar import magnitudes

__all__ = ["check_colours", "colour_residuals"]

log = logging.getLogger(__name__)


def _covariates(teff: np.ndarray, logg: np.ndarray) -> np.ndarray:
    dt = (teff - np.median(teff)) / 1000.0
    return np.column_stack([np.ones_like(dt), dt, dt**2, logg - np.median(logg)])


def _feh_slope(colour: np.ndarray, teff: np.ndarray, logg: np.ndarray, feh: np.ndarray) -> tuple[float, float]:
    """d colour / d[Fe/H] and its error, from colour ~ 1 + dT + dT^2 + dlogg + [Fe/H] (least squares)."""
    X = np.column_stack([_covariates(teff, logg), feh])
    beta, *_ = np.linalg.lstsq(X, colour, rcond=None)
    resid = colour - X @ beta
    dof = max(len(colour) - X.shape[1], 1)
    cov = np.linalg.pinv(X.T @ X) * float(resid @ resid) / dof
    return float(beta[-1]), float(np.sqrt(cov[-1, -1]))


def _reliability(teff: np.ndarray, logg: np.ndarray, feh: np.ndarray, feh_err: np.ndarray) -> float:
    """var(true [Fe/H]) / var(label [Fe/H]) at fixed Teff and log g: the factor by which label noise
    flattens a slope fitted against the labels (NaN when fewer than half the stars have an error, or when
    it falls below 0.5)."""
    if np.isfinite(feh_err).mean() < 0.5:
        return np.nan
    X = _covariates(teff, logg)
    resid = feh - X @ np.linalg.lstsq(X, feh, rcond=None)[0]
    lam = 1.0 - float(np.nanmean(feh_err**2)) / float(np.var(resid))
    return lam if lam >= 0.5 else np.nan


def _errors(table: pd.DataFrame, band: str) -> np.ndarray:
    """The band's magnitude errors, NaN when the table has none."""
    col = err_col(band)
    return table[col].to_numpy(float) if col in table else np.full(len(table), np.nan)


def colour_residuals(table: pd.DataFrame, bands: Sequence[str], reference: str = "rSDSS", max_err: float = 0.05,
                     teff_range: tuple[float, float] = (5500.0, 6500.0), min_logg: float = 3.8,
                     min_stars: int = 50) -> pd.DataFrame:
    """Observed minus synthetic colours, and the colours' [Fe/H] sensitivity, per band.

    Parameters
    ----------
    table : pandas.DataFrame
        Canonical star table: ``teff``, ``logg``, ``feh`` labels, ``mag_<band>`` for ``bands`` and
        ``reference``, optionally ``mag_err_<band>`` (without them every star enters the sensitivity fit)
        and ``a0`` (mag; 0 when absent: de-reddened magnitudes).
    bands : sequence of str
        Bands whose colour ``band - reference`` is compared.
    reference : str, default="rSDSS"
    max_err : float, default=0.05
        Stars enter a band's sensitivity fit unless a magnitude error reaches this [mag].
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
        and ``slope_synthetic`` (mag per dex of [Fe/H], the same fit on the same stars), and
        ``sensitivity_ratio``, synthetic / observed. With ``feh_err`` in the table the observed slope is
        first divided by ``label_reliability`` = 1 - <feh_err^2> / var([Fe/H] | Teff, log g): label
        noise flattens a slope fitted against the labels, while the synthetic colour follows the label.
    """
    need = ["teff", "logg", "feh"] + [mag_col(b) for b in (*bands, reference)]
    missing = [c for c in need if c not in table.columns]
    if missing:
        raise InputError(f"colour_residuals: the table ({len(table)} rows) lacks columns {missing}")
    if len(table) == 0:
        raise InputError("colour_residuals: the table is empty")
    a0 = table["a0"].to_numpy(float) if "a0" in table else np.zeros(len(table))
    a0 = np.where(np.isfinite(a0), a0, np.nan)
    teff, logg, feh = (table[c].to_numpy(float) for c in ("teff", "logg", "feh"))
    feh_err = table["feh_err"].to_numpy(float) if "feh_err" in table else np.full(len(table), np.nan)
    synth = magnitudes(teff, logg, feh, a0=a0, bands=[*bands, reference])
    n_out = int((~synth["in_grid"]).sum())
    if n_out:
        log.info("colour_residuals: %d of %d stars outside the model grid or without a0 skipped", n_out, len(table))
    fit_rows = (teff >= teff_range[0]) & (teff <= teff_range[1]) & (logg >= min_logg)
    ref_obs, ref_err = table[mag_col(reference)].to_numpy(float), _errors(table, reference)
    rows = []
    for b in bands:
        obs = table[mag_col(b)].to_numpy(float) - ref_obs
        syn = synth[b].to_numpy(float) - synth[reference].to_numpy(float)
        err = np.hypot(_errors(table, b), ref_err)
        ok = np.isfinite(obs) & np.isfinite(syn)
        d = obs[ok] - syn[ok]
        row = {"band": b, "colour": f"{b} - {reference}", "n": int(ok.sum()),
               "offset": float(np.median(d)) if ok.any() else np.nan,
               "robust_scatter": float(1.4826 * np.median(np.abs(d - np.median(d)))) if ok.any() else np.nan,
               "expected_scatter": float(np.median(err[ok & np.isfinite(err)])) if (ok & np.isfinite(err)).any()
               else np.nan}
        fit = ok & fit_rows & ~(_errors(table, b) >= max_err) & ~(ref_err >= max_err)
        row["n_fit"] = int(fit.sum())
        if fit.sum() >= min_stars:
            s_obs, s_err = _feh_slope(obs[fit], teff[fit], logg[fit], feh[fit])
            s_syn, _ = _feh_slope(syn[fit], teff[fit], logg[fit], feh[fit])
            # the synthetic colour follows the label itself, the observed one the true [Fe/H]: undo the
            # flattening of the observed slope by the label noise when the labels carry errors
            lam = _reliability(teff[fit], logg[fit], feh[fit], feh_err[fit])
            scale = lam if np.isfinite(lam) else 1.0
            row.update(slope_observed=s_obs, slope_observed_err=s_err, slope_synthetic=s_syn, label_reliability=lam,
                       sensitivity_ratio=s_syn * scale / s_obs if s_obs != 0 else np.nan)
        else:
            row.update(slope_observed=np.nan, slope_observed_err=np.nan, slope_synthetic=np.nan,
                       label_reliability=np.nan, sensitivity_ratio=np.nan)
        rows.append(row)
    return pd.DataFrame(rows)


def check_colours(table: pd.DataFrame, warn_mag: float = 0.2) -> tuple[pd.DataFrame | None, dict]:
    """:func:`colour_residuals` of a labelled sample, every band against rSDSS (else G).

    A band whose median offset exceeds ``warn_mag`` is logged as a warning: a wrong magnitude system
    (AB / Vega: 0.36 mag in RP, 2.7 in W1), aperture or extinction is the usual cause. Returns the table
    and a summary, or ``(None, {"skipped": reason})`` without labels or a reference band.
    """
    labelled = table.dropna(subset=[c for c in ("teff", "logg", "feh") if c in table])
    if not {"teff", "logg", "feh"} <= set(table.columns) or labelled.empty:
        return None, {"skipped": "no star with Teff, log g and [Fe/H] labels"}
    present = [b for b in BANDS if mag_col(b) in labelled and labelled[mag_col(b)].notna().any()]
    reference = next((b for b in ("rSDSS", "G") if b in present), None)
    if reference is None or len(present) < 2:
        return None, {"skipped": f"no reference band (rSDSS or G) among {present}"}
    res = colour_residuals(labelled, [b for b in present if b != reference], reference)
    flagged = res[res["offset"].abs() > warn_mag]
    for r in flagged.itertuples():
        log.warning("sample: %s of %d labelled stars is %+.2f mag off the synthetic colour at their labels; "
                    "check the magnitude system (AB / Vega), the aperture and the extinction of %s",
                    r.colour, r.n, r.offset, r.band)
    summary = {"reference": reference, "n_stars": len(labelled), "warn_mag": warn_mag,
               "offsets": {r.band: round(float(r.offset), 4) for r in res.itertuples() if np.isfinite(r.offset)},
               "flagged": list(flagged["band"])}
    return res, summary
