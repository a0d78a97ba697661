"""The column maps of each survey table (native names as in DESIGN.md section 6) and of the real
tables in ../shared/data. Importing this module fills :data:`ocfeh.catalogs.readers`.

References
----------
J-PLUS DR3: Cenarro et al. 2019, A&A 622, A176 (CEFCA archive tables ``jplus.MagABDualObj``,
``jplus.MWExtinction``). Gaia DR3: Gaia Collaboration, Vallenari et al. 2023, A&A 674, A1; magnitude
zero-point uncertainties from Riello et al. 2021, A&A 649, A3. Distances: Bailer-Jones et al. 2021,
AJ 161, 147. CatWISE2020: Marocco et al. 2021, ApJS 253, 8. LAMOST DR8 LRS: Luo et al. 2015,
RAA 15, 1095. APOGEE DR17: Abdurro'uf et al. 2022, ApJS 259, 35. HR23: Hunt & Reffert 2023, A&A 673,
A114. Shared real tables: Whitten et al. 2019 (J-PLUS x SEGUE), Green et al. 2021 (LAMOST/APOGEE/GALAH
x Gaia x unWISE), Davenport (ingot, APOGEE x Gaia x AllWISE), the UCC project (HR23 reformatted).
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from ..bands import JPLUS_ARRAY_ORDER, JPLUS_BANDS
from ..exceptions import InputError
from .registry import Column, Reader, readers

log = logging.getLogger(__name__)

__all__ = ["APOGEE_EPOCH", "CATWISE_EPOCH", "GAIA_EPOCH", "GAIA_ZP_ERR", "JPLUS_EPOCH", "LAMOST_EPOCH"]

GAIA_EPOCH = 2016.0
"""Gaia DR3 reference epoch (Julian year)."""
JPLUS_EPOCH = 2018.0
"""Approximate mean epoch of J-PLUS DR3 observations (positions are tied to Gaia at the observing epoch)."""
CATWISE_EPOCH = 2015.4
"""CatWISE2020 reference epoch (MJD 57170)."""
LAMOST_EPOCH = 2000.0
"""LAMOST input-catalogue positions (J2000 epoch for most targets)."""
APOGEE_EPOCH = 2000.0
"""APOGEE positions come from 2MASS (epoch ~2000)."""

GAIA_ZP_ERR = {"G": 0.0027553202, "BP": 0.0027901700, "RP": 0.0037793818}
"""Gaia DR3 photometric zero-point uncertainties (mag, Riello et al. 2021), added in quadrature."""

_MAG_SENTINELS = (99.0, -99.0, 99.99, -99.99, -9999.0, 9999.0, -999.0, 999.0)
_LABEL_SENTINELS = (-9999.0, -999.0, -99.0, -9999.99)
_LAMOST_SNR_SENTINELS = (-9999.0, -999.0)


def _c(canonical, *native, **kw) -> Column:
    return Column(canonical, tuple(native), **kw)


# ---------------------------------------------------------------------------------------------- J-PLUS
def _jplus_columns(kind: str) -> tuple[Column, ...]:
    mag, err = {"aper6": ("mag_aper_6_0", "mag_err_aper_6_0"),
                "aper6_cor": ("mag_aper_cor_6_0", "mag_err_aper_cor_6_0"),
                "auto": ("mag_auto", "mag_err_auto")}[kind]
    cols = [
        _c("jplus_tile_id", "tile_id", kind="int"),
        _c("jplus_number", "number", kind="int"),
        _c("ra", "alpha_j2000", "ra", unit="deg"),
        _c("dec", "delta_j2000", "dec", unit="deg"),
        _c("class_star", "class_star", required=False),
    ]
    for b in JPLUS_BANDS:
        cols += [
            _c(f"mag_{b}", f"{mag}_{b}", sentinels=_MAG_SENTINELS),
            _c(f"mag_err_{b}", f"{err}_{b}", sentinels=_MAG_SENTINELS),
            _c(f"_flags_{b}", f"flags_{b}", required=False),
            _c(f"_mask_flags_{b}", f"mask_flags_{b}", required=False),
        ]
    return tuple(cols)


def _jplus_array_order(raw, arrays: dict[str, tuple[str, ...]]) -> dict[str, tuple[str, ...]]:
    """The element names of the J-PLUS arrays: the archive's order (:data:`JPLUS_ARRAY_ORDER`), checked.

    For stars and galaxies uJAVA - gSDSS and gSDSS - iSDSS are positive, and so are a_uJAVA - a_gSDSS
    and a_gSDSS - a_iSDSS (extinction falls with wavelength). The medians of both over the file decide:
    arrays in wavelength order (:data:`JPLUS_BANDS`, as some hand-made files have them) are read in
    that order with a warning; arrays in neither order are refused.
    """
    by_name = {k.lower(): v for k, v in raw.columns.items() if v.ndim == 2 and v.shape[1] == 12}
    probe = next((n for n in ("mag_aper_6_0", "mag_aper_cor_6_0", "mag_auto", "ax") if n in by_name), None)
    if probe is None:
        return arrays
    v = np.asarray(by_name[probe], dtype=float)
    v = np.where(np.isfinite(v) & (np.abs(v) < 50), v, np.nan)  # 99: not detected

    def colours(order):
        u, g, i = (v[:, order.index(b)] for b in ("uJAVA", "gSDSS", "iSDSS"))
        ok = np.isfinite(u) & np.isfinite(g) & np.isfinite(i)
        if ok.sum() < 10:
            return None
        return float(np.median(u[ok] - g[ok])), float(np.median(g[ok] - i[ok]))

    archive = colours(JPLUS_ARRAY_ORDER)
    if archive is None or archive == (0.0, 0.0) or min(archive) > 0:
        return arrays  # too few stars (or no extinction) to tell, or the archive's order
    wavelength = colours(JPLUS_BANDS)
    if wavelength is not None and min(wavelength) > 0:
        log.warning("%s: the J-PLUS array columns are in wavelength order (%s), not the archive's filter_id "
                    "order (%s); read in wavelength order, as the colours say (median uJAVA - gSDSS %+.2f, "
                    "gSDSS - iSDSS %+.2f in %s)", raw.path, ", ".join(JPLUS_BANDS), ", ".join(JPLUS_ARRAY_ORDER),
                    *wavelength, probe)
        return {k: JPLUS_BANDS if tuple(o) == JPLUS_ARRAY_ORDER else o for k, o in arrays.items()}
    raise InputError(
        f"{raw.path}: the 12 elements of the array column {probe!r} are in neither the J-PLUS archive's "
        f"order ({', '.join(JPLUS_ARRAY_ORDER)}) nor wavelength order: in the archive's order the median "
        f"uJAVA - gSDSS is {archive[0]:+.2f} and gSDSS - iSDSS {archive[1]:+.2f} (both > 0 for stars). "
        "Download one column per band instead (ADQL: mag_aper_6_0[jplus::uJAVA] AS mag_aper_6_0_uJAVA, ...)"
    )


def _jplus_derive(df: pd.DataFrame) -> pd.DataFrame:
    """OR the per-band flags into ``jplus_flags`` / ``jplus_mask_flags``; a magnitude without error is missing."""
    for prefix, out in (("_flags_", "jplus_flags"), ("_mask_flags_", "jplus_mask_flags")):
        cols = [c for c in df.columns if c.startswith(prefix)]
        if cols:
            vals = np.nan_to_num(df[cols].to_numpy(float), nan=0.0).astype(np.int64)
            df[out] = np.bitwise_or.reduce(vals, axis=1)
    for b in JPLUS_BANDS:
        m, e = f"mag_{b}", f"mag_err_{b}"
        if m in df and e in df:
            gone = df[e].isna() | df[m].isna()
            df.loc[gone, [m, e]] = np.nan
    if "jplus_tile_id" in df and "jplus_number" in df:
        t, n = df["jplus_tile_id"].to_numpy(), df["jplus_number"].to_numpy()
        ok = np.isfinite(t) & np.isfinite(n)
        ids = np.full(len(df), None, dtype=object)
        ids[ok] = (pd.Series(t[ok].astype(np.int64)).astype(str) + "-"
                   + pd.Series(n[ok].astype(np.int64)).astype(str)).to_numpy(dtype=object)
        df["jplus_id"] = ids
    return df


for _kind, _name, _what in (
    ("aper6", "jplus", "6-arcsec aperture magnitudes"),
    ("aper6_cor", "jplus_cor", "aperture-corrected 6-arcsec magnitudes (point sources)"),
    ("auto", "jplus_auto", "MAG_AUTO magnitudes"),
):
    readers.register(Reader(
        _name, f"J-PLUS DR3 jplus.MagABDualObj, {_what} (AB); array or flattened per-band columns",
        _jplus_columns(_kind),
        array_columns={n: JPLUS_ARRAY_ORDER for n in (
            "mag_aper_6_0", "mag_err_aper_6_0", "mag_aper_cor_6_0", "mag_err_aper_cor_6_0", "mag_auto",
            "mag_err_auto", "flags", "mask_flags")},
        epoch=JPLUS_EPOCH, derive=_jplus_derive, array_order=_jplus_array_order,
    ))

readers.register(Reader(
    "jplus_extinction", "J-PLUS DR3 jplus.MWExtinction: E(B-V) and per-band extinction a_<band> (mag)",
    (_c("jplus_tile_id", "tile_id", kind="int"), _c("jplus_number", "number", kind="int"),
     _c("ebv", "ebv", sentinels=_MAG_SENTINELS))
    + tuple(_c(f"a_{b}", f"ax_{b}", required=False, sentinels=_MAG_SENTINELS) for b in JPLUS_BANDS),
    array_columns={"ax": JPLUS_ARRAY_ORDER}, array_order=_jplus_array_order,
))


# ------------------------------------------------------------------------------------------------ Gaia
def _gaia_derive(df: pd.DataFrame) -> pd.DataFrame:
    """Magnitude errors from flux-over-error (1.0857 / foe, plus the zero-point term in quadrature)."""
    for band in ("G", "BP", "RP"):
        foe = f"_foe_{band}"
        if foe in df:
            f = df[foe].to_numpy(float)
            with np.errstate(divide="ignore", invalid="ignore"):
                err = np.hypot(2.5 / np.log(10) / f, GAIA_ZP_ERR[band])
            bad = ~(f > 0)
            df[f"mag_err_{band}"] = np.where(bad, np.nan, err)
            df.loc[bad, f"mag_{band}"] = np.nan
    return df


readers.register(Reader(
    "gaia", "Gaia DR3 gaia_source (Vega G/BP/RP, astrometry, ruwe)",
    (
        _c("source_id", "source_id", "Source", "GaiaDR3", kind="id"),
        _c("ra", "ra", "RA_ICRS", unit="deg"),
        _c("dec", "dec", "DE_ICRS", unit="deg"),
        _c("parallax", "parallax", "Plx", unit="mas"),
        _c("parallax_error", "parallax_error", "e_Plx", unit="mas"),
        _c("pmra", "pmra", "pmRA", unit="mas / yr"),
        _c("pmdec", "pmdec", "pmDE", unit="mas / yr"),
        _c("mag_G", "phot_g_mean_mag", "Gmag", sentinels=_MAG_SENTINELS),
        _c("mag_BP", "phot_bp_mean_mag", "BPmag", sentinels=_MAG_SENTINELS),
        _c("mag_RP", "phot_rp_mean_mag", "RPmag", sentinels=_MAG_SENTINELS),
        _c("_foe_G", "phot_g_mean_flux_over_error", "RFG"),
        _c("_foe_BP", "phot_bp_mean_flux_over_error", "RFBP"),
        _c("_foe_RP", "phot_rp_mean_flux_over_error", "RFRP"),
        _c("ruwe", "ruwe", "RUWE", required=False),
    ),
    epoch=GAIA_EPOCH, derive=_gaia_derive,
))


def _ap_derive(df: pd.DataFrame) -> pd.DataFrame:
    if "_a0_lo" in df and "_a0_hi" in df:
        df["a0_err"] = (df["_a0_hi"] - df["_a0_lo"]) / 2.0
    return df


readers.register(Reader(
    "gaia_ap", "Gaia DR3 astrophysical_parameters (GSP-Phot A0, A_G, E(BP-RP), distance)",
    (
        _c("source_id", "source_id", "Source", kind="id"),
        _c("a0", "azero_gspphot", "A0", sentinels=_LABEL_SENTINELS),
        _c("_a0_lo", "azero_gspphot_lower", required=False),
        _c("_a0_hi", "azero_gspphot_upper", required=False),
        _c("ag", "ag_gspphot", "AG", required=False),
        _c("ebpminrp", "ebpminrp_gspphot", "E(BP-RP)", required=False),
        _c("distance_gspphot_pc", "distance_gspphot", "Dist", required=False, unit="pc"),
    ),
    derive=_ap_derive,
))

readers.register(Reader(
    "bailer_jones", "Bailer-Jones et al. 2021 EDR3 distances (archive or VizieR I/352 names), pc",
    (
        _c("source_id", "source_id", "Source", kind="id"),
        _c("distance_geo_pc", "r_med_geo", "rgeo", unit="pc"),
        _c("distance_geo_lo_pc", "r_lo_geo", "b_rgeo", required=False, unit="pc"),
        _c("distance_geo_hi_pc", "r_hi_geo", "B_rgeo", required=False, unit="pc"),
        _c("distance_photogeo_pc", "r_med_photogeo", "rpgeo", required=False, unit="pc"),
        _c("distance_photogeo_lo_pc", "r_lo_photogeo", "b_rpgeo", required=False, unit="pc"),
        _c("distance_photogeo_hi_pc", "r_hi_photogeo", "B_rpgeo", required=False, unit="pc"),
    ),
))

# --------------------------------------------------------------------------------------------- CatWISE
readers.register(Reader(
    "catwise", "CatWISE2020 (W1/W2 profile-fit magnitudes, Vega)",
    (
        _c("catwise_id", "source_name", "Name", kind="str"),
        _c("ra", "ra", "RA_ICRS", unit="deg"),
        _c("dec", "dec", "DE_ICRS", unit="deg"),
        _c("mag_W1", "w1mpro", "W1mproPM", sentinels=_MAG_SENTINELS),
        _c("mag_err_W1", "w1sigmpro", "e_W1mproPM", sentinels=_MAG_SENTINELS),
        _c("mag_W2", "w2mpro", "W2mproPM", sentinels=_MAG_SENTINELS),
        _c("mag_err_W2", "w2sigmpro", "e_W2mproPM", sentinels=_MAG_SENTINELS),
    ),
    epoch=CATWISE_EPOCH,
    derive=lambda df: _drop_upper_limits(df, ("W1", "W2"), "CatWISE"),
))

def _drop_upper_limits(df: pd.DataFrame, bands, survey: str) -> pd.DataFrame:
    """A WISE magnitude without an error (null or sentinel w?sigmpro) is a 95% upper limit, not a
    measurement: set it to NaN and log how many."""
    for b in bands:
        limit = df[f"mag_err_{b}"].isna() & df[f"mag_{b}"].notna()
        if limit.any():
            log.info("%s: %d %s magnitudes without an error are upper limits: set to NaN", survey, int(limit.sum()), b)
            df.loc[limit, f"mag_{b}"] = np.nan
    return df


# ------------------------------------------------------------------------------------------ LAMOST/APOGEE
readers.register(Reader(
    "lamost", "LAMOST DR8 LRS stellar parameters (Teff, log g, [Fe/H], SNR in g)",
    (
        _c("lamost_obsid", "obsid", kind="id"),
        _c("ra", "ra", unit="deg"),
        _c("dec", "dec", unit="deg"),
        _c("teff", "teff", unit="K", sentinels=_LABEL_SENTINELS),
        _c("teff_err", "teff_err", unit="K", sentinels=_LABEL_SENTINELS),
        _c("logg", "logg", sentinels=_LABEL_SENTINELS),
        _c("logg_err", "logg_err", sentinels=_LABEL_SENTINELS),
        _c("feh", "feh", sentinels=_LABEL_SENTINELS),
        _c("feh_err", "feh_err", sentinels=_LABEL_SENTINELS),
        _c("snr", "snrg", sentinels=_LAMOST_SNR_SENTINELS),
    ),
    epoch=LAMOST_EPOCH, constants={"label_source": "lamost"},
))

readers.register(Reader(
    "apogee", "APOGEE DR17 allStar (ASPCAP Teff, log g, [Fe/H])",
    (
        _c("apogee_id", "APOGEE_ID", kind="str"),
        _c("source_id", "GAIAEDR3_SOURCE_ID", required=False, kind="id"),
        _c("ra", "RA", unit="deg"),
        _c("dec", "DEC", unit="deg"),
        _c("teff", "TEFF", unit="K", sentinels=_LABEL_SENTINELS),
        _c("teff_err", "TEFF_ERR", unit="K", sentinels=_LABEL_SENTINELS),
        _c("logg", "LOGG", sentinels=_LABEL_SENTINELS),
        _c("logg_err", "LOGG_ERR", sentinels=_LABEL_SENTINELS),
        _c("feh", "FE_H", sentinels=_LABEL_SENTINELS),
        _c("feh_err", "FE_H_ERR", sentinels=_LABEL_SENTINELS),
        _c("snr", "SNR", sentinels=_LABEL_SENTINELS),
        _c("aspcapflag", "ASPCAPFLAG", required=False),
    ),
    epoch=APOGEE_EPOCH, constants={"label_source": "apogee"},
))

# ------------------------------------------------------------------------------------------------ HR23
readers.register(Reader(
    "hr23_clusters", "Hunt & Reffert 2023 clusters (VizieR J/A+A/673/A114; also the UCC HUNT2023 table)",
    (
        _c("cluster", "Name", kind="str"),
        _c("cluster_id", "ID", kind="id"),
        _c("ra", "RA_ICRS", unit="deg"),
        _c("dec", "DE_ICRS", unit="deg"),
        _c("pmra", "pmRA", unit="mas / yr"),
        _c("pmdec", "pmDE", unit="mas / yr"),
        _c("parallax", "Plx", unit="mas"),
        _c("r50_deg", "r50", unit="deg"),
        _c("n_members", "N"),
        _c("log_age", "logAge50", required=False),
        _c("av", "AV50", required=False),
        _c("distance_pc", "dist50", required=False, unit="pc"),
        _c("cluster_type", "Type", required=False, kind="str"),
        _c("cst", "CST", required=False),
    ),
    epoch=GAIA_EPOCH,
))

readers.register(Reader(
    "hr23_members", "Hunt & Reffert 2023 members (Name, Gaia DR3 source, membership probability)",
    (
        _c("cluster", "Name", kind="str"),
        _c("source_id", "GaiaDR3", "Source", "source_id", kind="id"),
        _c("member_prob", "Prob"),
        _c("ra", "RA_ICRS", "ra", required=False, unit="deg"),
        _c("dec", "DE_ICRS", "dec", required=False, unit="deg"),
        _c("parallax", "Plx", "parallax", required=False, unit="mas"),
        _c("mag_G", "Gmag", "phot_g_mean_mag", required=False, sentinels=_MAG_SENTINELS),
        _c("mag_BP", "BPmag", "phot_bp_mean_mag", required=False, sentinels=_MAG_SENTINELS),
        _c("mag_RP", "RPmag", "phot_rp_mean_mag", required=False, sentinels=_MAG_SENTINELS),
    ),
    epoch=GAIA_EPOCH,
))


# ---------------------------------------------------------------------------- real tables in shared/data
_SEGUE_BANDS = tuple(b for b in JPLUS_BANDS if b != "zSDSS")


def _segue_derive(df: pd.DataFrame) -> pd.DataFrame:
    """The SEGUE tables give dereddened magnitudes: record that (a0 = 0) and drop unmatched errors."""
    df["a0"] = 0.0
    for b in _SEGUE_BANDS:
        gone = df[f"mag_err_{b}"].isna() | df[f"mag_{b}"].isna()
        df.loc[gone, [f"mag_{b}", f"mag_err_{b}"]] = np.nan
    return df


readers.register(Reader(
    "jplus_segue",
    "J-PLUS x SEGUE SSPP (Whitten et al. 2019; shared/data/jplus_segue): dereddened 6-arcsec AB mags, "
    "11 bands (no zSDSS)",
    (
        _c("ra", "RA", unit="deg"),
        _c("dec", "DEC", unit="deg"),
        _c("jplus_tile_id", "TILE_ID", kind="int"),
        _c("jplus_number", "NUMBER", kind="int"),
        _c("teff", "TEFF_ADOP", sentinels=_LABEL_SENTINELS),
        _c("teff_err", "TEFF_ADOP_ERR", sentinels=_LABEL_SENTINELS),
        _c("logg", "LOGG_ADOP", sentinels=_LABEL_SENTINELS),
        _c("logg_err", "LOGG_ADOP_ERR", sentinels=_LABEL_SENTINELS),
        _c("feh", "FEH_ADOP", sentinels=_LABEL_SENTINELS),
        _c("feh_err", "FEH_BIW_ERR", required=False, sentinels=_LABEL_SENTINELS),
        _c("snr", "SNR"),
        _c("ebv_sfd", "EBV_SFD", required=False),
    )
    + tuple(_c(f"mag_{b}", f"{b}_0", sentinels=_MAG_SENTINELS, max_abs=90.0) for b in _SEGUE_BANDS)
    + tuple(_c(f"mag_err_{b}", f"ERR_MAG_6_{b}", sentinels=_MAG_SENTINELS) for b in _SEGUE_BANDS),
    derive=_segue_derive, constants={"label_source": "segue"},
))

_UNWISE_AB_TO_VEGA = {"W1": -2.699, "W2": -3.339}
BAYESTAR19_TO_EBV = 0.884
"""E(B-V) (SFD scale) per unit of Bayestar19 reddening (Green et al. 2019, ApJ 887, 93; argonaut.skymaps.info)."""


def _green_derive(df: pd.DataFrame) -> pd.DataFrame:
    """``ebv`` from the Bayestar19 reddening ``E``; 2MASS J/H/Ks stay Vega (features take them). PS1 grizy
    are not read: the project has no PS1 filter curves."""
    if "_bayestar19" in df:
        df["ebv"] = BAYESTAR19_TO_EBV * df.pop("_bayestar19").to_numpy(float)
    return df


readers.register(Reader(
    "green2020",
    "LAMOST/APOGEE/GALAH labels x Gaia DR2 x unWISE (Green et al. 2021; shared/data/lamost_gaia_wise); "
    "no positions; unWISE AB converted to Vega",
    (
        _c("teff", "teff", sentinels=_LABEL_SENTINELS),
        _c("teff_err", "teff_err"),
        _c("logg", "logg", sentinels=_LABEL_SENTINELS),
        _c("logg_err", "logg_err"),
        _c("feh", "feh", sentinels=_LABEL_SENTINELS),
        _c("feh_err", "feh_err"),
        _c("parallax", "parallax", unit="mas"),
        _c("parallax_error", "parallax_err", unit="mas"),
        _c("label_source", "atm_source", kind="str"),
        _c("mag_G", "G", sentinels=_MAG_SENTINELS),
        _c("mag_err_G", "G_err"),
        _c("mag_BP", "BP", sentinels=_MAG_SENTINELS),
        _c("mag_err_BP", "BP_err"),
        _c("mag_RP", "RP", sentinels=_MAG_SENTINELS),
        _c("mag_err_RP", "RP_err"),
        _c("mag_W1", "W1_unwise_AB", sentinels=_MAG_SENTINELS, offset=_UNWISE_AB_TO_VEGA["W1"]),
        _c("mag_err_W1", "W1_unwise_AB_err"),
        _c("mag_W2", "W2_unwise_AB", sentinels=_MAG_SENTINELS, offset=_UNWISE_AB_TO_VEGA["W2"]),
        _c("mag_err_W2", "W2_unwise_AB_err"),
    )
    + tuple(c for b in ("J", "H", "Ks") for c in (_c(f"mag_{b}", b, required=False, sentinels=_MAG_SENTINELS),
                                                  _c(f"mag_err_{b}", f"{b}_err", required=False)))
    + (_c("_bayestar19", "E_reddening", required=False),),
    derive=_green_derive,
))

readers.register(Reader(
    "ingot",
    "APOGEE DR14 [Fe/H] x Gaia DR2 G x AllWISE (Davenport's ingot; shared/data/apogee_gaia_wise)",
    (
        _c("feh", "FE_H", sentinels=_LABEL_SENTINELS),
        _c("mag_G", "phot_g_mean_mag", sentinels=_MAG_SENTINELS),
        _c("abs_mag_G", "M_G"),
        _c("mag_W1", "w1", sentinels=_MAG_SENTINELS),
        _c("mag_W2", "w2", sentinels=_MAG_SENTINELS),
        _c("mag_2mass_J", "Jmag", required=False, sentinels=_MAG_SENTINELS),
    ),
    constants={"label_source": "apogee"},
))
