"""Features: de-reddened absolute magnitudes and all pairwise colours of any band subset.

For bands ``b_1 .. b_n`` (in registry order) a star gets

- ``M_<b>`` = m_b - A_b - 5 log10(d / 10 pc), when the table has ``distance_pc``;
- ``<b_i>-<b_j>`` = (m_i - A_i) - (m_j - A_j) for every pair i < j;
- optionally (``curvatures``), three-band curvatures ``<a>~<b>~<c>`` = m_b - [(1 - w) m_a + w m_c]
  with w = (lambda_b - lambda_a) / (lambda_c - lambda_a): how far band b lies below (> 0) or above the
  continuum interpolated between a and c, for each band and its neighbours at a given gap in
  wavelength order. A line or band head in a narrow filter (Ca H+K in J0395, Mg b in J0515, the Ca
  triplet in J0861) shows up here directly; a tree would need many splits on two colours to form
  the same difference, and extinction, nearly linear in wavelength across three neighbours, cancels.

17 bands give 17 + 136 = 153 features (the poster's set); a colours-only dataset (no distance) gets
the 136 colours. Per-band extinction is A_b = R_b * a0 with R_b = A_b / A_0 either given by the user
(``extinction="coefficients"``), looked up as a function of the star's intrinsic BP-RP from the
synthetic photometry (``"synthphot"``), taken from the G23 law at each band's pivot wavelength
(``"pivot"``), or zero (``"none"``). Missing magnitudes stay NaN (LightGBM handles them) and are
counted in ``features.attrs["n_missing"]``.

>>> import numpy as np, pandas as pd
>>> t = pd.DataFrame({"mag_G": [10.0], "mag_BP": [10.5], "mag_RP": [9.4], "distance_pc": [100.0], "a0": [0.0]})
>>> f = make_features(t, FeatureConfig(bands="gaia"))
>>> list(f.columns)
['M_G', 'M_BP', 'M_RP', 'G-BP', 'G-RP', 'BP-RP']
>>> float(f["M_G"].iloc[0]), round(float(f["BP-RP"].iloc[0]), 3)
(5.0, 1.1)
"""

from __future__ import annotations

import logging
from functools import lru_cache
from itertools import combinations
from typing import Annotated, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from ..bands import BAND_SETS, EXTRA_BAND_WAVELENGTH_AA, get_band, resolve_bands, wavelength_aa
from ..exceptions import InputError, OcfehError
from ..schema import mag_col
from ..synthphot import extinction_coefficients, magnitudes

__all__ = [
    "A0_FEATURE",
    "A0_WAVELENGTH_AA",
    "FeatureConfig",
    "bands_of_features",
    "curvature_triples",
    "extinction_ratios",
    "feature_names",
    "make_features",
    "pivot_ratios",
]

log = logging.getLogger(__name__)

A0_WAVELENGTH_AA = 5414.0
"""Wavelength of the monochromatic extinction A_0 (Gaia GSP-Phot convention), Angstrom."""


class FeatureConfig(BaseModel):
    """The ``[features]`` section: which bands and how to de-redden."""

    model_config = ConfigDict(extra="forbid")

    bands: str | list[str] = Field(
        "all", description="Band set (jplus, gaia, wise, gaia+wise, all) or a list of band names: the variant switch."
    )
    absolute_magnitudes: bool = Field(
        True, description="Add M_<band> features when the table has distance_pc (colours-only datasets skip them)."
    )
    extinction: Literal["auto", "synthphot", "pivot", "coefficients", "none"] = Field(
        "auto",
        description="Per-band A_band/A_0: synthphot (lookup vs intrinsic BP-RP), pivot (G23 law at the pivot "
        "wavelength), coefficients (user-given), none; auto = synthphot.",
    )
    coefficients: dict[str, float] | None = Field(
        None, description="User-given A_band/A_0 per band (extinction='coefficients')."
    )
    variants: list[str | list[str]] = Field(
        [], description="Extra band sets trained beside the main one and compared in one table, e.g. "
        "['jplus', 'gaia+wise']; each goes to model/variants/<set>/."
    )
    r_v: float = Field(3.1, gt=2.0, lt=6.0, description="R_V of the extinction law (pivot and synthphot modes).")
    curvatures: list[Annotated[int, Field(ge=1)]] = Field(
        [], description="Add three-band curvature features a~b~c (band b against the continuum interpolated "
        "between its neighbours a and c in wavelength, Gaia G/BP/RP left out) for these neighbour gaps, e.g. "
        "[1, 2]; [] = none (the poster's 153 features)."
    )
    a0_feature: bool = Field(
        False, description="Add the adopted extinction A_0 (mag, the table's a0) as one more feature, named A_0, "
        "which selection never drops (method shap-rfe): the models can then learn what de-reddening leaves behind."
    )

    @field_validator("bands")
    @classmethod
    def _known_bands(cls, v):
        _resolve_or_value_error(v)
        return v

    @field_validator("variants")
    @classmethod
    def _known_variants(cls, v):
        for item in v:
            _resolve_or_value_error(item)
        return v

    @model_validator(mode="after")
    def _enough_bands(self):
        # a colour needs two bands; one band gives only M_<band> (what a model's own subsets may use)
        for key, bands, least in [("bands", self.bands, 1 if self.absolute_magnitudes else 2)] + [
                ("variants", b, 2) for b in self.variants]:
            names = resolve_bands(bands)
            if len(set(names)) < len(names) or len(names) < least:
                raise ValueError(
                    f"{key} needs at least two different bands (a colour is a pair; one band gives only M_<band>): "
                    f"a band set ({', '.join(BAND_SETS)}) or a list such as ['G', 'BP', 'RP'] (got {bands!r})")
        return self

    def resolved_bands(self) -> tuple[str, ...]:
        """The band names of this config, in the order given (named sets in registry order)."""
        return resolve_bands(self.bands)


def _resolve_or_value_error(bands) -> tuple[str, ...]:
    try:
        return resolve_bands(bands)
    except OcfehError as err:  # an unknown band or band set: a ValueError for pydantic
        raise ValueError(str(err)) from None


SPANNING_BANDS = ("G", "BP", "RP")
"""Broad bands that overlap all the others: left out of the curvature sequence."""


def curvature_triples(bands, gaps=(1,)) -> list[tuple[str, str, str]]:
    """(a, b, c) of every curvature feature: bands sorted by wavelength (without :data:`SPANNING_BANDS`),
    b and its neighbours ``gap`` places below and above, for each gap.

    >>> for t in curvature_triples(["gSDSS", "J0378", "G", "J0410", "J0395", "J0430"], gaps=[1, 2]):
    ...     print("~".join(t))
    J0378~J0395~J0410
    J0395~J0410~J0430
    J0410~J0430~gSDSS
    J0378~J0410~gSDSS
    """
    seq = sorted((b for b in resolve_bands(bands) if b not in SPANNING_BANDS), key=wavelength_aa)
    return [(seq[i - g], seq[i], seq[i + g]) for g in gaps for i in range(g, len(seq) - g)]


A0_FEATURE = "A_0"
"""Name of the extinction feature (``FeatureConfig.a0_feature``); it needs no band."""


def feature_names(bands, absolute_magnitudes: bool = True, curvatures=(), a0_feature: bool = False) -> list[str]:
    """Names of the features of ``bands``: ``M_<b>`` (if asked), the colours ``<bi>-<bj>``, i < j, the
    curvatures ``<a>~<b>~<c>`` of the gaps ``curvatures``, then ``A_0`` (if asked)."""
    bands = resolve_bands(bands)
    names = [f"M_{b}" for b in bands] if absolute_magnitudes else []
    names += [f"{a}-{b}" for a, b in combinations(bands, 2)]
    names += ["~".join(t) for t in curvature_triples(bands, curvatures)]
    return [*names, A0_FEATURE] if a0_feature else names


def _parts(name: str) -> list[str]:
    if name == A0_FEATURE:
        return []
    if name.startswith("M_"):
        return [name[2:]]
    return name.split("~") if "~" in name else name.split("-")


def bands_of_features(names) -> list[str]:
    """The bands a list of feature names needs, in registry order of first appearance."""
    out: list[str] = []
    for n in names:
        parts = _parts(n)
        for p in parts:
            if p not in EXTRA_BAND_WAVELENGTH_AA:
                get_band(p)
            if p not in out:
                out.append(p)
    return out


# ----------------------------------------------------------------------------------- extinction
@lru_cache(maxsize=8)
def pivot_ratios(bands: tuple[str, ...], r_v: float) -> np.ndarray:
    """A_band / A_0 from the Gordon et al. (2023) law at each band's pivot wavelength."""
    import astropy.units as u
    from dust_extinction.parameter_averages import G23

    law = G23(Rv=r_v)
    wav = np.array([wavelength_aa(b) for b in bands] + [A0_WAVELENGTH_AA])
    k = law(wav * u.AA)
    return np.asarray(k[:-1] / k[-1], dtype=float)


_LOOKUP_TEFF = np.geomspace(3300.0, 12000.0, 24)


@lru_cache(maxsize=8)
def _synthphot_lookup(bands: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Intrinsic BP-RP (ascending) and (n, n_bands) A_band/A_0 at logg 4.5, [Fe/H] 0, A_0 = 1.

    Both from :mod:`ocfeh.synthphot` along a Teff grid of 3300-12000 K.
    """
    mags = magnitudes(_LOOKUP_TEFF, 4.5, 0.0, bands=["BP", "RP"])
    x = (mags["BP"] - mags["RP"]).to_numpy(float)
    r = extinction_coefficients(_LOOKUP_TEFF, 4.5, 0.0, 1.0, list(bands))[list(bands)].to_numpy(float)
    order = np.argsort(x)
    return x[order], r[order]


def _interp_rows(x: np.ndarray, lut: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    xs, table = lut
    return np.stack([np.interp(x, xs, table[:, j]) for j in range(table.shape[1])], axis=1)


def extinction_ratios(
    table: pd.DataFrame, bands, mode: str = "auto", coefficients: dict | None = None, r_v: float = 3.1
) -> tuple[np.ndarray, str]:
    """Per-star, per-band A_band / A_0.

    Parameters
    ----------
    table : DataFrame
        Canonical star table (``mag_BP``, ``mag_RP`` and ``a0`` are used by ``synthphot`` mode).
    bands : sequence of str
        Band names.
    mode : {"auto", "synthphot", "pivot", "coefficients", "none"}
        See :class:`FeatureConfig`.
    coefficients : dict, optional
        Band -> A_band/A_0 (``coefficients`` mode; every band must be present).

    Returns
    -------
    ratios : (n_stars, n_bands) array
    mode : str
        The mode actually used (``auto`` resolved).
    """
    bands = tuple(bands)
    n = len(table)
    if mode == "auto":
        mode = "synthphot"
    if mode == "none":
        return np.zeros((n, len(bands))), mode
    if mode == "coefficients":
        if not coefficients:
            raise InputError("extinction='coefficients' needs [features] coefficients = {band = A_band/A_0, ...}")
        missing = [b for b in bands if b not in coefficients]
        if missing:
            raise InputError(f"[features] coefficients lack bands {missing}; given: {sorted(coefficients)}")
        return np.tile([float(coefficients[b]) for b in bands], (n, 1)), mode
    if mode == "pivot":
        return np.tile(pivot_ratios(bands, float(r_v)), (n, 1)), mode
    if mode != "synthphot":
        raise InputError(f"unknown extinction mode {mode!r}; choose auto, synthphot, pivot, coefficients, none")
    extra = [b for b in bands if b in EXTRA_BAND_WAVELENGTH_AA]
    if extra:  # bands synthphot does not know: the law at their wavelength, colour-independent
        reg = tuple(b for b in bands if b not in extra)
        out = np.empty((n, len(bands)))
        out[:, [bands.index(b) for b in extra]] = pivot_ratios(tuple(extra), float(r_v))
        if reg:
            out[:, [bands.index(b) for b in reg]] = extinction_ratios(table, reg, "synthphot", r_v=r_v)[0]
        return out, mode
    lut = _synthphot_lookup(bands)
    if mag_col("BP") not in table or mag_col("RP") not in table:
        log.info("no BP/RP columns: synthphot extinction at intrinsic BP-RP = 1.0 for all %d stars", n)
        return np.tile(_interp_rows(np.array([1.0]), lut)[0], (n, 1)), mode
    # the star's intrinsic colour: de-redden with the ratios of a BP-RP = 1 star, then iterate once
    lut_br = _synthphot_lookup(("BP", "RP"))
    a0 = _a0(table)
    obs = table[mag_col("BP")].to_numpy(float) - table[mag_col("RP")].to_numpy(float)
    r1 = _interp_rows(np.array([1.0]), lut_br)[0]
    c0 = obs - (r1[0] - r1[1]) * a0
    rbr = _interp_rows(np.nan_to_num(c0, nan=1.0), lut_br)
    c1 = obs - (rbr[:, 0] - rbr[:, 1]) * a0
    n_nan = int(np.isnan(c1).sum())
    if n_nan:
        log.info("%d of %d stars lack BP-RP: synthphot extinction at intrinsic BP-RP = 1.0", n_nan, n)
    return _interp_rows(np.nan_to_num(c1, nan=1.0), lut), mode


def _distance_modulus(table: pd.DataFrame) -> np.ndarray:
    if "distance_pc" not in table:
        raise InputError(f"absolute magnitudes M_<band> need a distance_pc column (table of {len(table)} rows)")
    d = table["distance_pc"].to_numpy(float)
    bad = ~(d > 0)
    if bad.any():
        log.info("%d of %d stars have no positive distance_pc: M_<band> are NaN", int(bad.sum()), len(d))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(bad, np.nan, 5.0 * np.log10(np.where(bad, 10.0, d) / 10.0))


def _a0(table: pd.DataFrame) -> np.ndarray:
    if "a0" not in table:
        return np.zeros(len(table))
    a0 = table["a0"].to_numpy(float)
    n_nan = int(np.isnan(a0).sum())
    if n_nan:
        log.info("%d of %d stars have no a0: not de-reddened", n_nan, len(a0))
    return np.nan_to_num(a0, nan=0.0)


# -------------------------------------------------------------------------------------- features
def make_features(table: pd.DataFrame, config: FeatureConfig | None = None, names=None, **kwargs) -> pd.DataFrame:
    """Absolute magnitudes, colours and (optionally) curvatures of a canonical star table.

    Parameters
    ----------
    table : DataFrame
        Canonical star table: ``mag_<band>`` (mag), optional ``distance_pc`` (pc) and ``a0`` (mag).
    config : FeatureConfig, optional
        Bands and extinction mode; keyword arguments build one instead (``bands="jplus"``).
    names : list of str, optional
        Build exactly these features (``M_<b>``, ``<a>-<b>``, ``<a>~<b>~<c>`` of the config's bands), in
        this order, instead of the config's set: what a trained model needs.

    Returns
    -------
    DataFrame
        One float column per feature (index of ``table``). ``attrs`` holds ``n_missing`` (band ->
        number of NaN magnitudes), ``extinction`` (the mode used) and ``bands``.

    Raises
    ------
    InputError
        When the table lacks the magnitude column of a configured band.
    """
    cfg = config if config is not None else FeatureConfig(**kwargs)
    bands = cfg.resolved_bands()
    absent = [b for b in bands if mag_col(b) not in table]
    if absent:
        raise InputError(
            f"the table ({len(table)} rows) lacks the bands {absent} (columns {[mag_col(b) for b in absent]}); "
            f"choose a band set without them in [features] bands"
        )
    mags = np.column_stack([table[mag_col(b)].to_numpy(float) for b in bands])
    n_missing = {b: int(c) for b, c in zip(bands, np.isnan(mags).sum(axis=0)) if c}
    if n_missing:
        log.info("missing magnitudes (kept as NaN) per band: %s", n_missing)
    if "a0" not in table and cfg.extinction != "none":
        log.info("no a0 column: features are not de-reddened")
    ratios, mode = extinction_ratios(table, bands, cfg.extinction, cfg.coefficients, cfg.r_v)
    mags0 = mags - ratios * _a0(table)[:, None]
    if names is None:
        # a distance column without one finite value (a colours-only table) gives no M_<band> features
        has_d = "distance_pc" in table and bool(np.isfinite(table["distance_pc"].to_numpy(float)).any())
        names = feature_names(bands, cfg.absolute_magnitudes and has_d, cfg.curvatures, cfg.a0_feature)
    col = {b: j for j, b in enumerate(bands)}
    dm = None
    cols: dict[str, np.ndarray] = {}
    for name in names:
        if name == A0_FEATURE:
            if "a0" not in table:
                raise InputError(f"feature {A0_FEATURE} needs an a0 column (extinction, mag) in the table "
                                 f"({len(table)} rows)")
            cols[name] = table["a0"].to_numpy(float)  # NaN stays NaN (LightGBM handles it)
            continue
        parts = _parts(name)
        unknown = [p for p in parts if p not in col]
        if unknown or len(parts) != (1 if name.startswith("M_") else 2 if "~" not in name else 3):
            raise InputError(f"cannot build feature {name!r} from the bands {list(bands)}"
                             + (f": {unknown} not among them" if unknown else ""))
        m = [mags0[:, col[p]] for p in parts]
        if name.startswith("M_"):
            if dm is None:
                dm = _distance_modulus(table)
            cols[name] = m[0] - dm
        elif len(m) == 2:
            cols[name] = m[0] - m[1]
        else:
            la, lb, lc = (wavelength_aa(p) for p in parts)
            w = (lb - la) / (lc - la)
            cols[name] = m[1] - ((1.0 - w) * m[0] + w * m[2])
    out = pd.DataFrame(cols, index=table.index, columns=list(names))
    out.attrs.update({"n_missing": n_missing, "extinction": mode, "bands": list(bands)})
    return out
