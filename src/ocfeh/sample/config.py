"""The ``[sample]`` section: the source tables, the cross-match, the cuts, the split and the zero points.

The section of the run TOML::

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
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from .zeropoints import ZeroPointConfig

__all__ = ["CrossmatchConfig", "CutsConfig", "SampleConfig", "SourceSpec", "SourcesConfig", "SplitConfig"]


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
    margin: str | None = Field(None, description="engine = \"hats\": the margin catalogue of a HATS catalogue "
                               "given as path (e.g. LSDB's gaia_dr3_10arcs); files ocfeh imports get their own.")


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
    PROFILES: ClassVar[dict[str, dict[str, Any]]] = {"full": {"engine": "hats"}}  # the poster's scale out of core

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
    engine: Literal["memory", "hats"] = Field(
        "memory", description="memory: every table read whole (fast for small inputs); hats: sources as HATS "
        "catalogues, matched partition by partition on Dask in bounded memory (same rows).")
    zero_points: ZeroPointConfig = Field(default_factory=ZeroPointConfig,
                                         description="Per-tile J-PLUS zero points measured on the labelled stars.")

    def with_feature_bands(self, bands: str | list[str]) -> SampleConfig:
        """This config with the band cut following the ``[features] bands`` unless ``[sample.cuts] bands``
        sets its own (a J-PLUS-only model needs no Gaia or WISE photometry)."""
        if self.cuts.bands is not None:
            return self
        cuts = self.cuts.model_copy(update={"bands": [bands] if isinstance(bands, str) else list(bands)})
        return self.model_copy(update={"cuts": cuts})
