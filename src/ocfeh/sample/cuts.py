"""The quality cuts of the sample, applied top to bottom; each cut is a row of the cleaning table."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from ..bands import BAND_SETS, JPLUS_BANDS, resolve_bands
from ..exceptions import InputError
from .cleaning import CleaningSteps
from .config import CutsConfig

__all__ = ["apply_cuts", "cut_bands", "cut_mask", "photometric_cuts"]

log = logging.getLogger(__name__)


def cut_bands(cuts: CutsConfig) -> list[str]:
    """The bands whose magnitudes the band cut requires: sets, bands and 2MASS J/H/Ks, in order, no repeats
    (unset: all 17)."""
    bands: list[str] = []
    for item in cuts.bands if cuts.bands is not None else ["all"]:
        bands += [b for b in resolve_bands(item if item in BAND_SETS else [item]) if b not in bands]
    return bands


def cut_mask(df: pd.DataFrame, cuts: CutsConfig, steps: CleaningSteps | None = None) -> tuple[np.ndarray, pd.DataFrame]:
    """Which rows pass the quality cuts, applied top to bottom, and the cleaning table.

    Parameters
    ----------
    df : pandas.DataFrame
        Canonical table.
    cuts : CutsConfig
        The cuts.
    steps : CleaningSteps, optional
        Earlier steps (the joins) to continue.

    Returns
    -------
    keep : (n,) bool array
        True for the rows that pass every cut.
    cleaning : pandas.DataFrame
        One row per step: ``step``, ``n_remaining``, ``n_removed``, ``fraction`` (of the first row's
        count), ``note``. The last ``n_remaining`` equals ``keep.sum()``.
    """
    steps = steps if steps is not None else CleaningSteps()
    if not steps.rows:
        steps.add("input", len(df))
    keep = np.ones(len(df), bool)

    missing: list[str] = []  # every cut whose column is absent, reported at once

    def step(name: str, columns: list[str], mask_fn, setting: str, hint: str = "") -> None:
        """One cut; ``setting`` is the [sample.cuts] value that relaxes it (named in errors)."""
        nonlocal keep
        absent = [c for c in columns if c not in df]
        if absent:
            if cuts.on_missing_column == "error":
                missing.append(f"cut '{name}' needs column(s) {', '.join(absent)}: "
                               f"{hint or f'set [sample.cuts] {setting}'}")
            steps.add(name, int(keep.sum()), f"skipped: no column {', '.join(absent)}", setting)
            return
        with np.errstate(invalid="ignore"):
            keep &= np.asarray(mask_fn(), bool)
        steps.add(name, int(keep.sum()), setting=setting)

    col = lambda c: df[c].to_numpy(float)
    step(f"finite labels ({', '.join(cuts.labels)})", list(cuts.labels),
         lambda: np.all([np.isfinite(col(c)) for c in cuts.labels], axis=0), "labels = [the labels the table has]")
    for label, unit in (("teff", "K"), ("logg", "dex"), ("feh", "dex")):
        rng = getattr(cuts, f"{label}_range")
        if rng is not None and label in cuts.labels:
            step(f"{rng[0]:g} <= {label} <= {rng[1]:g} {unit}", [label],
                 lambda label=label, rng=rng: (col(label) >= rng[0]) & (col(label) <= rng[1]), f'{label}_range = "off"')
        emax = getattr(cuts, f"max_{label}_err")
        if emax is not None and label in cuts.labels:
            step(f"{label}_err <= {emax:g}", [f"{label}_err"], lambda c=f"{label}_err", e=emax: col(c) <= e,
                 f'max_{label}_err = "off"')
    if cuts.min_snr is not None:
        step(f"snr >= {cuts.min_snr:g}", ["snr"], lambda: col("snr") >= cuts.min_snr, 'min_snr = "off"')
    bands = cut_bands(cuts)
    if bands:
        mags = [f"mag_{b}" for b in bands]
        have = [b for b in bands if f"mag_{b}" in df]
        hint = (f"the sample has the bands {have}: set [sample.cuts] bands = {have} (and [features] bands "
                "to the same)") if have else ""
        step(f"photometry in {len(bands)} bands", mags, lambda: np.all([np.isfinite(col(m)) for m in mags], axis=0),
             "bands = [the bands the table has]", hint)
        if cuts.max_mag_err is not None:
            errs = [f"mag_err_{b}" for b in bands]
            step(f"mag_err <= {cuts.max_mag_err:g} mag", errs,
                 lambda: np.all([col(e) <= cuts.max_mag_err for e in errs], axis=0), 'max_mag_err = "off"')
    if cuts.jplus_flags_zero and any(b in JPLUS_BANDS for b in bands):
        step("J-PLUS flags == 0", ["jplus_flags"], lambda: col("jplus_flags") == 0, "jplus_flags_zero = false")
    if cuts.jplus_mask_flags_zero and any(b in JPLUS_BANDS for b in bands):
        step("J-PLUS mask_flags == 0", ["jplus_mask_flags"], lambda: col("jplus_mask_flags") == 0,
             "jplus_mask_flags_zero = false")
    if cuts.max_ruwe is not None:
        step(f"ruwe < {cuts.max_ruwe:g}", ["ruwe"], lambda: col("ruwe") < cuts.max_ruwe, 'max_ruwe = "off"')
    if cuts.min_parallax_over_error is not None:
        step(f"parallax / error > {cuts.min_parallax_over_error:g}", ["parallax", "parallax_error"],
             lambda: col("parallax") / col("parallax_error") > cuts.min_parallax_over_error,
             'min_parallax_over_error = "off"')
    if cuts.require_distance:
        step("distance known", ["distance_pc"], lambda: np.isfinite(col("distance_pc")) & (col("distance_pc") > 0),
             "require_distance = false (colour features only)")
    if cuts.require_a0:
        step("extinction a0 known", ["a0"], lambda: np.isfinite(col("a0")),
             "require_a0 = false, or [sample] extinction_source")
    if missing:
        raise InputError(f"{len(missing)} cut(s) need columns absent from the sample (or set [sample.cuts] "
                         "on_missing_column = \"skip\" to skip them all): " + "; ".join(missing))
    return keep, steps.frame()


def apply_cuts(df: pd.DataFrame, cuts: CutsConfig, steps: CleaningSteps | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The rows of ``df`` that pass the quality cuts (see :func:`cut_mask`), and the cleaning table."""
    keep, table = cut_mask(df, cuts, steps)
    kept = df.loc[keep].reset_index(drop=True)
    kept.attrs = dict(df.attrs)
    frac = len(kept) / max(len(df), 1)
    if frac < 0.05 and len(df) >= 100:
        log.warning("the cuts kept only %d of %d rows (%.1f%%): check [sample.cuts]", len(kept), len(df), 100 * frac)
    return kept, table


def photometric_cuts(cuts: CutsConfig) -> CutsConfig:
    """``cuts`` without those on the labels: the photometric quality a star to predict for is held to.

    Saturated, flagged or noisy photometry biases a predicted [Fe/H]; :func:`~ocfeh.sample.build_catalog`
    marks the catalogue stars that pass these cuts (column ``phot_quality``), and only those give a
    cluster's [Fe/H].
    """
    return cuts.model_copy(update={
        "labels": [], "teff_range": None, "logg_range": None, "feh_range": None, "min_snr": None,
        "max_teff_err": None, "max_logg_err": None, "max_feh_err": None})
