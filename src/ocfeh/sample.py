"""The training sample: read the survey tables, cross-match, adopt distance and extinction, apply the
quality cuts (the poster's Table 1), split train/val/test, and write ``sample.parquet``.

The ``[sample]`` section of the run TOML::

    [sample]
    distance_source = "auto"          # photogeo, geo, gspphot, parallax, column or auto
    [sample.sources.jplus]
    path = "jplus_dr3.parquet"        # relative to the TOML file
    reader = "jplus"
    [sample.sources.gaia]
    path = "gaia_dr3.fits"
    reader = "gaia"
    [sample.sources.labels]
    path = "lamost_dr8.csv"
    reader = "lamost"
    [sample.crossmatch]
    radius_jplus_gaia_arcsec = 1.0
    [sample.cuts]
    max_ruwe = 1.4
    min_snr = "off"                   # "off" disables a cut
    [sample.split]
    fractions = [0.7, 0.2, 0.1]

Cuts and splits are also usable alone: :func:`apply_cuts`, :func:`stratified_split`.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any, Literal, NamedTuple

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from .exceptions import InputError
from .zeropoints import (
    TILE_COLUMN,
    ZeroPointConfig,
    apply_tile_offsets,
    fit_tile_offsets,
    read_tile_offsets,
    summarize_offsets,
)

__all__ = [
    "CrossmatchConfig",
    "CutsConfig",
    "SampleConfig",
    "SamplePaths",
    "SourceSpec",
    "SourcesConfig",
    "SplitConfig",
    "adopt_distance",
    "adopt_extinction",
    "apply_cuts",
    "assemble",
    "build_catalog",
    "build_sample",
    "cut_bands",
    "read_sources",
    "stratified_split",
]

log = logging.getLogger(__name__)

SPLITS = ("train", "val", "test")


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _off_to_none(value: Any) -> Any:
    if value is False or (isinstance(value, str) and value.strip().lower() in ("off", "none", "")):
        return None
    return value


# ------------------------------------------------------------------------------------------------ config
class SourceSpec(BaseModel):
    """One input table."""

    model_config = ConfigDict(extra="forbid")

    path: str = Field(description="The file (FITS, Parquet, CSV, VOTable); relative paths are relative to the TOML.")
    reader: str = Field(description="A registered reader name (ocfeh.catalogs.readers), e.g. 'jplus', 'gaia'.")
    format: Literal["fits", "parquet", "csv", "votable", "ecsv"] | None = Field(
        None, description="Guessed from the suffix.")
    column_map: dict[str, str | list[str]] = Field(
        default_factory=dict, description="Canonical name -> native column name(s), for renamed columns."
    )
    epoch: float | None = Field(None, description="Julian year of the positions; default: the reader's.")


class SourcesConfig(BaseModel):
    """``[sample.sources]``: the tables. Either ``table`` (one table already joined) or the survey tables."""

    model_config = ConfigDict(extra="forbid")

    table: SourceSpec | None = Field(None, description="One pre-joined table (no cross-match), e.g. shared data.")
    jplus: SourceSpec | None = Field(None, description="J-PLUS DR3 MagABDualObj photometry.")
    jplus_extinction: SourceSpec | None = Field(None, description="J-PLUS MWExtinction (joined on tile_id, number).")
    gaia: SourceSpec | None = Field(None, description="Gaia DR3 gaia_source.")
    gaia_ap: SourceSpec | None = Field(None, description="Gaia DR3 astrophysical_parameters (joined on source_id).")
    distances: SourceSpec | None = Field(None, description="Bailer-Jones EDR3 distances (joined on source_id).")
    catwise: SourceSpec | None = Field(None, description="CatWISE2020 (W1, W2).")
    labels: SourceSpec | None = Field(None, description="Spectroscopic labels: LAMOST DR8, APOGEE DR17, ...")

    @model_validator(mode="after")
    def _enough(self) -> SourcesConfig:
        positional = [n for n in ("jplus", "gaia", "catwise", "labels") if getattr(self, n) is not None]
        if self.table is None and not positional:
            raise ValueError("give either 'table' or at least one of jplus, gaia, catwise, labels")
        if self.table is not None and positional:
            raise ValueError(f"'table' is a pre-joined table: do not combine it with {', '.join(positional)}")
        return self


class CrossmatchConfig(BaseModel):
    """``[sample.crossmatch]``: matching radii and the implementation."""

    model_config = ConfigDict(extra="forbid")

    radius_jplus_gaia_arcsec: float = Field(1.0, gt=0, description="J-PLUS x Gaia radius (arcsec).")
    radius_catwise_arcsec: float = Field(1.5, gt=0, description="CatWISE x Gaia (or x anchor) radius (arcsec).")
    radius_labels_arcsec: float = Field(1.0, gt=0, description="Spectroscopic labels x anchor radius (arcsec).")
    method: Literal["memory", "lsdb"] = Field("memory", description="KD-tree in memory, or LSDB/HATS on Dask.")
    n_jobs: int = Field(1, ge=1, description="Threads for the KD-tree or Dask.")


class CutsConfig(BaseModel):
    """``[sample.cuts]``: quality cuts, applied top to bottom. A value of "off" disables a cut."""

    model_config = ConfigDict(extra="forbid")

    labels: list[Literal["teff", "logg", "feh"]] = Field(
        ["teff", "logg", "feh"], description="Labels that must be finite (and in range)."
    )
    teff_range: tuple[float, float] | None = Field((3500.0, 8500.0), description="Teff range kept (K).")
    logg_range: tuple[float, float] | None = Field((0.0, 5.5), description="log g range kept (dex).")
    feh_range: tuple[float, float] | None = Field((-2.5, 0.6), description="[Fe/H] range kept (dex).")
    max_teff_err: float | None = Field(None, description="Largest teff_err kept (K).")
    max_logg_err: float | None = Field(None, description="Largest logg_err kept (dex).")
    max_feh_err: float | None = Field(None, description="Largest feh_err kept (dex).")
    min_snr: float | None = Field(30.0, description="Smallest spectroscopic S/N kept (LAMOST snrg).")
    bands: list[str] | None = Field(
        None, description='Bands or band sets whose magnitudes must be present, e.g. ["jplus", "G"]; [] for no band '
                          'cut; unset: the [features] bands (all 17 by default).')
    max_mag_err: float | None = Field(0.2, description="Largest magnitude error kept in every band (mag).")
    jplus_flags_zero: bool = Field(True, description="Keep only J-PLUS SExtractor flags == 0 (all bands).")
    jplus_mask_flags_zero: bool = Field(True, description="Keep only J-PLUS mask_flags == 0 (all bands).")
    max_ruwe: float | None = Field(1.4, description="Gaia ruwe kept below this (ruwe < max_ruwe).")
    min_parallax_over_error: float | None = Field(5.0, description="Smallest parallax / parallax_error kept.")
    require_distance: bool = Field(True, description="Drop stars without an adopted distance_pc.")
    require_a0: bool = Field(True, description="Drop stars without an adopted extinction a0.")
    on_missing_column: Literal["error", "skip"] = Field(
        "error", description="A cut whose column is absent: raise, or skip it (logged, noted in the table)."
    )

    _nullable = ("teff_range", "logg_range", "feh_range", "max_teff_err", "max_logg_err", "max_feh_err",
                 "min_snr", "max_mag_err", "max_ruwe", "min_parallax_over_error")

    @field_validator(*_nullable, mode="before")
    @classmethod
    def _off(cls, v: Any, info: ValidationInfo) -> Any:
        v = _off_to_none(v)
        if isinstance(v, str) and not _is_number(v):
            what = "[low, high]" if info.field_name.endswith("_range") else "a number"
            raise ValueError(f'expected {what}, or "off" to disable the cut; got {v!r}')
        return v

    @field_validator("teff_range", "logg_range", "feh_range")
    @classmethod
    def _ordered(cls, v):
        if v is not None and not v[0] < v[1]:
            raise ValueError(f"a range must be [low, high] with low < high; got {list(v)}")
        return v


class SplitConfig(BaseModel):
    """``[sample.split]``: train / validation / test fractions, stratified in label space."""

    model_config = ConfigDict(extra="forbid")

    fractions: tuple[float, float, float] = Field((0.7, 0.2, 0.1), description="train, val, test fractions.")
    labels: list[Literal["teff", "logg", "feh"]] = Field(
        ["teff", "feh", "logg"], description="Stratification labels, most important first (the last is merged first)."
    )
    n_bins: int = Field(5, ge=1, le=50, description="Quantile bins per label.")
    min_stratum: int = Field(20, ge=3, description="Smaller cells are merged with their neighbours in coarser bins.")
    seed: int | None = Field(None, description="Split seed; default the [run] seed.")

    @field_validator("fractions")
    @classmethod
    def _sum_one(cls, v):
        if any(f < 0 for f in v) or abs(sum(v) - 1.0) > 1e-6:
            raise ValueError(f"fractions must be >= 0 and sum to 1; got {list(v)} (sum {sum(v):.4g})")
        return v


class SampleConfig(BaseModel):
    """``[sample]``: sources, cross-match, distance and extinction choice, cuts and split."""

    model_config = ConfigDict(extra="forbid")

    sources: SourcesConfig | None = Field(None, description="The input tables (required to build a sample).")
    crossmatch: CrossmatchConfig = Field(default_factory=CrossmatchConfig, description="Matching radii.")
    cuts: CutsConfig = Field(default_factory=CutsConfig, description="Quality cuts.")
    split: SplitConfig = Field(default_factory=SplitConfig, description="Train/val/test split.")
    distance_source: Literal["auto", "photogeo", "geo", "gspphot", "parallax", "column"] = Field(
        "auto", description="Adopted distance_pc: Bailer-Jones photogeo/geo, GSP-Phot, 1/parallax, or the "
        "table's own distance_pc; auto takes the first available in that order.",
    )
    extinction_source: Literal["auto", "gspphot", "ebv", "zero", "column"] = Field(
        "auto", description="Adopted a0: GSP-Phot azero, 3.1 x E(B-V), 0 (dereddened input) or the table's a0; "
        "auto keeps a0 when present, else uses ebv.",
    )
    zero_points: ZeroPointConfig = Field(default_factory=ZeroPointConfig,
                                         description="Per-tile J-PLUS zero points measured on the labelled stars.")


# ----------------------------------------------------------------------------------------------- reading
def read_sources(sources: SourcesConfig, base_dir: str | Path = ".") -> dict[str, pd.DataFrame]:
    """Read every configured table through its reader (relative paths against ``base_dir``)."""
    from .catalogs import read_catalog

    out = {}
    for name in SourcesConfig.model_fields:
        spec: SourceSpec | None = getattr(sources, name)
        if spec is None:
            continue
        path = Path(spec.path)
        if not path.is_absolute():
            path = Path(base_dir) / path
        df = read_catalog(path, spec.reader, format=spec.format, column_map=spec.column_map or None)
        if spec.epoch is not None:
            df.attrs["epoch"] = spec.epoch
        log.info("read %s: %d rows from %s (reader %s)", name, len(df), path, spec.reader)
        out[name] = df
    return out


# ---------------------------------------------------------------------------------------------- assembly
class _Steps:
    """The rows of the cleaning table."""

    def __init__(self) -> None:
        self.rows: list[dict] = []
        self.settings: dict[str, str] = {}  # cut step -> the [sample.cuts] setting that relaxes it

    def add(self, step: str, n: int, note: str = "", setting: str = "") -> None:
        n0 = self.rows[0]["n_remaining"] if self.rows else n
        self.rows.append({"step": step, "n_remaining": int(n), "fraction": (n / n0) if n0 else 0.0, "note": note})
        if setting:
            self.settings[step] = setting
        log.info("%-40s %8d  %s", step, n, note)

    def frame(self) -> pd.DataFrame:
        df = pd.DataFrame(self.rows, columns=["step", "n_remaining", "fraction", "note"])
        df["n_removed"] = (-df["n_remaining"].diff()).fillna(0).astype(int)
        return df[["step", "n_remaining", "n_removed", "fraction", "note"]]


def _match(left: pd.DataFrame, right: pd.DataFrame, radius: float, cfg: CrossmatchConfig):
    from .crossmatch import crossmatch, crossmatch_lsdb

    fn = crossmatch_lsdb if cfg.method == "lsdb" else crossmatch
    return fn(left, right, radius, n_jobs=cfg.n_jobs)


def _attach(base: pd.DataFrame, other: pd.DataFrame, name: str, radius: float, cfg: CrossmatchConfig,
            stats: dict, how: str = "inner") -> pd.DataFrame:
    """Join ``other`` to ``base`` by a positional match; base positions (Gaia) move to other's epoch.

    ``how="left"`` keeps base rows without a counterpart (``other``'s columns NaN).
    """
    from .crossmatch import join_matches

    res = _match(other, base, radius, cfg)
    stats[name] = {"n_pairs": res.n_pairs, "n_ambiguous": res.n_ambiguous, "n_rejected": res.n_rejected,
                   "radius_arcsec": radius, "median_sep_arcsec": float(np.median(res.sep_arcsec)) if res.n_pairs else None}
    swapped = res._replace(idx_left=res.idx_right, idx_right=res.idx_left)
    return join_matches(base, other, swapped, how=how, suffix=f"_{name}", sep_column=f"sep_{name}_arcsec")


def _join_id(base: pd.DataFrame, other: pd.DataFrame, on: str | list[str], name: str) -> pd.DataFrame:
    keys = [on] if isinstance(on, str) else on
    for k in keys:
        if k not in base or k not in other:
            raise InputError(f"cannot join {name} on {k!r}: the column is missing from one of the tables")
    dup = other.duplicated(keys)
    if dup.any():
        log.info("%s: %d duplicate %s rows dropped before the join", name, int(dup.sum()), "/".join(keys))
        other = other[~dup]
    extra = [c for c in other.columns if c not in base.columns or c in keys]
    out = base.merge(other[extra], on=keys, how="left")
    out.attrs = dict(base.attrs)
    return out


def assemble(tables: dict[str, pd.DataFrame], cfg: CrossmatchConfig, steps: _Steps | None = None,
             stats: dict | None = None, optional: tuple[str, ...] = ()) -> pd.DataFrame:
    """Join the tables into one row per star (inner joins; each join is a cleaning-table step).

    The anchor is Gaia when present (``ra``/``dec`` are then Gaia's, epoch 2016.0, and J-PLUS positions
    are kept as ``ra_jplus``/``dec_jplus``), else J-PLUS, else CatWISE, else the labels. Gaia
    astrophysical parameters and distances join on ``source_id``; J-PLUS extinction on tile and number.
    Tables named in ``optional`` are left-joined: rows without a counterpart stay, with NaN columns.
    """
    steps = steps if steps is not None else _Steps()
    stats = stats if stats is not None else {}
    if "table" in tables:
        df = tables["table"]
        steps.add("input table", len(df))
        return df
    order = [n for n in ("gaia", "jplus", "catwise", "labels") if n in tables]
    anchor = order[0]
    df = tables[anchor]
    steps.add(f"{anchor} rows read", len(df))
    radius = {"jplus": cfg.radius_jplus_gaia_arcsec, "catwise": cfg.radius_catwise_arcsec,
              "labels": cfg.radius_labels_arcsec, "gaia": cfg.radius_jplus_gaia_arcsec}
    for name in order[1:]:
        df = _attach(df, tables[name], name, radius[name], cfg, stats, "left" if name in optional else "inner")
        s = stats[name]
        steps.add(f"x {name} ({radius[name]:g} arcsec)", len(df),
                  f"{s['n_ambiguous']} ambiguous, {s['n_rejected']} not mutual")
        if name == "jplus" and "jplus_extinction" in tables:
            df = _join_id(df, tables["jplus_extinction"], ["jplus_tile_id", "jplus_number"], "jplus_extinction")
    if "jplus_extinction" in tables and "jplus" not in order[1:] and anchor == "jplus":
        df = _join_id(df, tables["jplus_extinction"], ["jplus_tile_id", "jplus_number"], "jplus_extinction")
    for name in ("gaia_ap", "distances"):
        if name in tables:
            df = _join_id(df, tables[name], "source_id", name)
    return df


def adopt_distance(df: pd.DataFrame, source: str = "auto") -> tuple[pd.DataFrame, str]:
    """Set ``distance_pc`` (and ``distance_lo_pc``/``distance_hi_pc``) from the chosen source.

    Returns the table and the source used (``auto`` resolves to the first available of photogeo, geo,
    gspphot, parallax, column).
    """
    df = df.copy()
    options = {
        "photogeo": ("distance_photogeo_pc", "distance_photogeo_lo_pc", "distance_photogeo_hi_pc"),
        "geo": ("distance_geo_pc", "distance_geo_lo_pc", "distance_geo_hi_pc"),
        "gspphot": ("distance_gspphot_pc", None, None),
    }
    if source == "auto":
        avail = [k for k, v in options.items() if v[0] in df] + (["parallax"] if "parallax" in df else [])
        avail += ["column"] if "distance_pc" in df else []
        if not avail:
            log.info("no distance column: distance_pc left empty")
            df["distance_pc"] = np.nan
            return df, "none"
        source = avail[0]
    if source == "column":
        if "distance_pc" not in df:
            raise InputError("distance_source = 'column' but the table has no distance_pc column")
        return df, source
    if source == "parallax":
        if "parallax" not in df:
            raise InputError("distance_source = 'parallax' but the table has no parallax column")
        plx = df["parallax"].to_numpy(float)
        err = df["parallax_error"].to_numpy(float) if "parallax_error" in df else np.full(len(df), np.nan)
        with np.errstate(divide="ignore", invalid="ignore"):
            df["distance_pc"] = np.where(plx > 0, 1000.0 / plx, np.nan)
            df["distance_lo_pc"] = np.where(plx + err > 0, 1000.0 / (plx + err), np.nan)
            df["distance_hi_pc"] = np.where(plx - err > 0, 1000.0 / (plx - err), np.nan)
        return df, source
    med, lo, hi = options[source]
    if med not in df:
        raise InputError(f"distance_source = {source!r} needs the column {med!r} (from the distances/gaia_ap "
                         "source); it is absent")
    df["distance_pc"] = df[med]
    if lo and lo in df:
        df["distance_lo_pc"], df["distance_hi_pc"] = df[lo], df[hi]
    return df, source


def adopt_extinction(df: pd.DataFrame, source: str = "auto") -> tuple[pd.DataFrame, str]:
    """Set ``a0`` (mag at 541.4 nm) from GSP-Phot (the readers' ``a0``), ``3.1 * ebv``, or zero."""
    df = df.copy()
    if source == "auto":
        source = "column" if "a0" in df else ("ebv" if "ebv" in df else "none")
    if source in ("column", "gspphot"):
        if "a0" not in df:
            raise InputError(f"extinction_source = {source!r} needs an a0 column (Gaia astrophysical_parameters "
                             "azero_gspphot); it is absent")
    elif source == "ebv":
        if "ebv" not in df:
            raise InputError("extinction_source = 'ebv' needs an ebv column; it is absent")
        df["a0"] = 3.1 * df["ebv"].to_numpy(float)
    elif source == "zero":
        df["a0"] = 0.0
    else:
        df["a0"] = np.nan
    return df, source


# -------------------------------------------------------------------------------------------------- cuts
def cut_bands(cuts: CutsConfig) -> list[str]:
    """The bands whose magnitudes the band cut requires: sets, bands and 2MASS J/H/Ks, in order, no repeats
    (unset: all 17)."""
    from .bands import BAND_SETS
    from .features import resolve_bands

    bands: list[str] = []
    for item in cuts.bands if cuts.bands is not None else ["all"]:
        bands += [b for b in resolve_bands(item if item in BAND_SETS else [item]) if b not in bands]
    return bands


def apply_cuts(df: pd.DataFrame, cuts: CutsConfig, steps: _Steps | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Apply the quality cuts top to bottom.

    Parameters
    ----------
    df : pandas.DataFrame
        Canonical table.
    cuts : CutsConfig
        The cuts.

    Returns
    -------
    kept : pandas.DataFrame
        The rows kept.
    cleaning : pandas.DataFrame
        One row per step: ``step``, ``n_remaining``, ``n_removed``, ``fraction`` (of the first row's
        count), ``note``. The last ``n_remaining`` equals ``len(kept)``.
    """
    from .bands import JPLUS_BANDS

    steps = steps if steps is not None else _Steps()
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
    kept = df.loc[keep].reset_index(drop=True)
    kept.attrs = dict(df.attrs)
    table = steps.frame()
    frac = len(kept) / max(len(df), 1)
    if frac < 0.05 and len(df) >= 100:
        log.warning("the cuts kept only %d of %d rows (%.1f%%): check [sample.cuts]", len(kept), len(df), 100 * frac)
    return kept, table


def _emptying_step(cleaning: pd.DataFrame, settings: dict[str, str]) -> str:
    """Which cut removed the last stars, and the setting that relaxes it (``_Steps.settings``)."""
    zero = cleaning.index[cleaning["n_remaining"] == 0]
    if not len(zero) or zero[0] == 0:
        return "the input is empty"
    name = str(cleaning.loc[zero[0], "step"])
    key = settings.get(name)
    return f"'{name}' removed the last {cleaning.loc[zero[0] - 1, 'n_remaining']}" + (
        f" (relax it with [sample.cuts] {key})" if key else "")


# ------------------------------------------------------------------------------------------------- split
def _strata(labels: pd.DataFrame, n_bins: int, min_stratum: int) -> np.ndarray:
    """Cell keys in label space: quantile bins of each label; cells smaller than ``min_stratum`` fall back
    to the bins of fewer labels (dropping the last label first), down to one pooled cell."""
    codes = []
    for c in labels.columns:
        v = labels[c].to_numpy(float)
        edges = np.unique(np.nanquantile(v, np.linspace(0, 1, n_bins + 1)[1:-1])) if np.isfinite(v).any() else []
        codes.append(np.searchsorted(edges, v, side="right"))
    n = len(labels)
    key = np.full(n, "", dtype=object)
    assigned = np.zeros(n, bool)
    for depth in range(len(codes), 0, -1):
        k = pd.Series(["|".join(map(str, t)) for t in zip(*codes[:depth])], dtype=object).to_numpy()
        k = np.char.add(f"{depth}:", k.astype(str))
        counts = pd.Series(k[~assigned]).value_counts()
        big = counts.index[counts.to_numpy() >= min_stratum]
        take = ~assigned & np.isin(k, big)
        key[take] = k[take]
        assigned |= take
    key[~assigned] = "0:rest"
    return key


def stratified_split(
    labels: pd.DataFrame,
    fractions: tuple[float, float, float] = (0.7, 0.2, 0.1),
    n_bins: int = 5,
    min_stratum: int = 20,
    seed: int = 0,
) -> np.ndarray:
    """Assign ``train``/``val``/``test`` stratified in label space.

    Each star falls in a cell of quantile bins of the labels (e.g. Teff x [Fe/H] x log g); small cells are
    merged into coarser ones, so every cell has at least ``min_stratum`` stars and rare regions of label
    space appear in all three parts. Within a cell, stars are shuffled and the counts are allocated by
    the largest-remainder rule, with at least one star per non-zero fraction.

    Parameters
    ----------
    labels : pandas.DataFrame
        One column per stratification label, most important first.
    fractions : tuple of 3 float, default=(0.7, 0.2, 0.1)
        train, val, test.
    n_bins : int, default=5
        Quantile bins per label.
    min_stratum : int, default=20
        Smallest cell.
    seed : int, default=0
        Seed of the numpy Generator.

    Returns
    -------
    ndarray of str
        ``"train"``, ``"val"`` or ``"test"`` per row.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> lab = pd.DataFrame({"feh": np.random.default_rng(0).normal(size=1000)})
    >>> s = stratified_split(lab, seed=1)
    >>> [int((s == k).sum()) for k in ("train", "val", "test")]
    [700, 200, 100]
    """
    fr = np.asarray(fractions, float)
    rng = np.random.default_rng(seed)
    keys = _strata(labels, n_bins, min_stratum)
    out = np.empty(len(labels), dtype=object)
    for key in np.unique(keys):
        idx = np.flatnonzero(keys == key)
        idx = idx[rng.permutation(len(idx))]
        n = len(idx)
        raw = fr * n
        counts = np.floor(raw).astype(int)
        if n >= int((fr > 0).sum()):
            counts[(fr > 0) & (counts == 0)] = 1
        while counts.sum() > n:
            counts[np.argmax(counts)] -= 1
        rem = raw - counts
        for j in np.argsort(-rem, kind="stable")[: n - counts.sum()]:
            counts[j] += 1
        out[idx] = np.repeat(np.array(SPLITS, dtype=object), counts)
    return out.astype(str)


# ------------------------------------------------------------------------------------------------- build
class SamplePaths(NamedTuple):
    """The files :func:`build_sample` writes.

    Attributes
    ----------
    sample : Path
        ``sample.parquet``: the canonical table with a ``split`` column; provenance in the Parquet
        key-value metadata under ``ocfeh``.
    cleaning : Path
        ``cleaning.csv``: step, n_remaining, n_removed, fraction, note (the poster's Table 1).
    meta : Path
        ``sample.json``: provenance, the cross-match statistics, the adopted distance/extinction sources.
    zero_points : Path or None
        ``zero_points.csv``: per-tile J-PLUS offsets removed from the magnitudes (None when not measured).
    """

    sample: Path
    cleaning: Path
    meta: Path
    zero_points: Path | None = None


def _write_parquet(df: pd.DataFrame, path: Path, meta: dict) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from .provenance import atomic_path

    table = pa.Table.from_pandas(df, preserve_index=False)
    md = dict(table.schema.metadata or {})
    md[b"ocfeh"] = json.dumps(meta, default=str).encode()
    table = table.replace_schema_metadata(md)
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp)


def sample_section(cfg: Any) -> SampleConfig:
    """``[sample]`` of a run config; the band cut follows ``[features] bands`` unless ``[sample.cuts]``
    sets its own (a J-PLUS-only model needs no Gaia or WISE photometry)."""
    scfg: SampleConfig = cfg.section("sample")
    if scfg.cuts.bands is None:
        fb = cfg.section("features").bands
        cuts = scfg.cuts.model_copy(update={"bands": [fb] if isinstance(fb, str) else list(fb)})
        scfg = scfg.model_copy(update={"cuts": cuts})
    return scfg


def build_sample(config: Any, run_dir: str | Path | None = None, seed: int | None = None) -> SamplePaths:
    """Read, cross-match, cut, split and write the training sample into a run directory.

    Parameters
    ----------
    config : RunConfig, str or Path
        A loaded run config or a TOML path (its ``[sample]`` and ``[run]`` sections are used).
    run_dir : str or Path, optional
        Defaults to ``[run] out``.
    seed : int, optional
        Defaults to ``[sample.split] seed``, else ``[run] seed``.

    Returns
    -------
    SamplePaths
        ``sample.parquet``, ``cleaning.csv`` and ``sample.json`` in the run directory (written atomically).
    """
    from .config import RunConfig, load_config
    from .provenance import atomic_path, provenance, write_json

    cfg = config if isinstance(config, RunConfig) else load_config(config)
    scfg = sample_section(cfg)
    if scfg.sources is None:
        raise InputError(f"{cfg.source}: [sample.sources] is missing: name the input tables "
                         "(e.g. [sample.sources.gaia] path = ..., reader = \"gaia\")")
    run_dir = Path(run_dir or cfg.run.out)
    seed = scfg.split.seed if scfg.split.seed is not None else (seed if seed is not None else cfg.run.seed)
    tables = read_sources(scfg.sources, cfg.base_dir)
    steps, stats = _Steps(), {}
    df = assemble(tables, scfg.crossmatch, steps, stats)
    df, dist_src = adopt_distance(df, scfg.distance_source)
    df, ext_src = adopt_extinction(df, scfg.extinction_source)
    kept, cleaning = apply_cuts(df, scfg.cuts, steps)
    if len(kept) == 0:
        raise InputError(f"no star survives the cuts (started from {cleaning['n_remaining'].iloc[0]}); "
                         f"{_emptying_step(cleaning, steps.settings)}; the cleaning table:\n{cleaning.to_string(index=False)}")
    lab = [c for c in scfg.split.labels if c in kept]
    kept["split"] = stratified_split(kept[lab], scfg.split.fractions, scfg.split.n_bins, scfg.split.min_stratum, seed) \
        if lab else stratified_split(pd.DataFrame({"_": np.zeros(len(kept))}), scfg.split.fractions, 1, 3, seed)
    offsets, zp_summary = _tile_zero_points(kept, scfg.zero_points, seed)
    if offsets is not None:
        kept = apply_tile_offsets(kept, offsets)
    from .synthphot import check_colours

    colours, colour_summary = check_colours(kept)
    meta = provenance({"sample": scfg.model_dump(mode="json")}, seed, stage="sample",
                      distance_source=dist_src, extinction_source=ext_src, crossmatch=stats,
                      n_rows=len(kept), split_counts=kept["split"].value_counts().to_dict(),
                      tile_zero_points=zp_summary, colour_check=colour_summary)
    paths = SamplePaths(run_dir / "sample.parquet", run_dir / "cleaning.csv", run_dir / "sample.json",
                        run_dir / "zero_points.csv" if offsets is not None else None)
    if offsets is not None:
        with atomic_path(paths.zero_points) as tmp:
            offsets.to_csv(tmp, index=False, float_format="%.6g")
    elif (run_dir / "zero_points.csv").exists():
        (run_dir / "zero_points.csv").unlink()  # a stale file would be applied to the catalogue
    if colours is not None:
        with atomic_path(run_dir / "colour_check.csv") as tmp:
            colours.to_csv(tmp, index=False, float_format="%.5g")
    elif (run_dir / "colour_check.csv").exists():
        (run_dir / "colour_check.csv").unlink()
    _write_parquet(kept, paths.sample, meta)
    with atomic_path(paths.cleaning) as tmp:
        cleaning.to_csv(tmp, index=False, float_format="%.6g")
    write_json(paths.meta, {**meta, "cleaning": cleaning.to_dict(orient="records")})
    log.info("wrote %s (%d stars: %s)", paths.sample, len(kept), meta["split_counts"])
    return paths


def _tile_zero_points(kept: pd.DataFrame, cfg: ZeroPointConfig, seed: int) -> tuple[pd.DataFrame | None, dict]:
    """Per-tile offsets measured on the labelled sample, or None with the reason it was skipped."""
    if not cfg.enabled:
        return None, {"skipped": "disabled ([sample.zero_points] enabled = false)"}
    try:  # fit_tile_offsets names any missing column or too few tiles
        offsets = fit_tile_offsets(kept, cfg, seed=seed)
    except InputError as err:  # expected, so not a warning, for tables without J-PLUS tiles
        level = logging.WARNING if TILE_COLUMN in kept else logging.INFO
        log.log(level, "tile zero points skipped: %s", err)
        return None, {"skipped": str(err)}
    return offsets, {"file": "zero_points.csv", "bands": summarize_offsets(offsets)}


def build_catalog(config: Any, path: str | Path, zero_points: str | Path | pd.DataFrame | None = None) -> Path:
    """Cross-match the photometric tables without labels or cuts: every star to predict for.

    The same readers, joins and adopted distance/extinction as :func:`build_sample`, minus the labels
    table, the quality cuts and the split; rows the model cannot use are flagged at prediction.
    ``zero_points`` (the sample's ``zero_points.csv`` or its table) are removed from the J-PLUS
    magnitudes, so the catalogue is calibrated as the training sample was.
    """
    from .config import RunConfig, load_config
    from .provenance import provenance

    cfg = config if isinstance(config, RunConfig) else load_config(config)
    scfg = sample_section(cfg)
    if scfg.sources is None:
        raise InputError(f"{cfg.source}: [sample.sources] is missing: name the input tables")
    tables = read_sources(scfg.sources, cfg.base_dir)
    tables.pop("labels", None)
    steps, stats = _Steps(), {}
    df = assemble(tables, scfg.crossmatch, steps, stats, optional=("catwise",))
    df, dist_src = adopt_distance(df, scfg.distance_source)
    df, ext_src = adopt_extinction(df, scfg.extinction_source)
    zp_note = None
    if zero_points is not None:
        offsets = zero_points if isinstance(zero_points, pd.DataFrame) else read_tile_offsets(zero_points)
        if TILE_COLUMN in df:
            df = apply_tile_offsets(df, offsets)
            zp_note = str(zero_points) if not isinstance(zero_points, pd.DataFrame) else "given table"
        else:
            log.warning("catalogue lacks %s: tile zero points not applied", TILE_COLUMN)
    meta = provenance({"sample": scfg.model_dump(mode="json")}, cfg.run.seed, stage="catalog",
                      distance_source=dist_src, extinction_source=ext_src, crossmatch=stats, n_rows=len(df),
                      tile_zero_points=zp_note)
    _write_parquet(df.reset_index(drop=True), Path(path), meta)
    log.info("wrote %s (%d stars)", path, len(df))
    return Path(path)
