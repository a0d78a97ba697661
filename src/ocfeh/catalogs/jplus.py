"""J-PLUS DR3 readers: ``jplus.MagABDualObj`` (three magnitude kinds) and ``jplus.MWExtinction``.

References
----------
J-PLUS DR3: Cenarro et al. 2019, A&A 622, A176 (CEFCA archive tables ``jplus.MagABDualObj``,
``jplus.MWExtinction``).
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from ..bands import JPLUS_ARRAY_ORDER, JPLUS_BANDS
from ..exceptions import InputError
from ._common import _MAG_SENTINELS, JPLUS_EPOCH, _c
from .archive_columns import ARCHIVE
from .registry import Column, Reader, readers

log = logging.getLogger(__name__)

__all__: list[str] = []  # importing the module registers its readers in ocfeh.catalogs.readers


_J = ARCHIVE["jplus"]
# magnitude and error arrays of each magnitude kind (DR3 pairs the point-source aperture-corrected
# magnitudes with the errors of mag_aper_6_0; J-PAS-style files and the mock sky carry
# mag_err_aper_cor_6_0, read first where present)
_KINDS = {
    "aper6": (("mag_aper_6_0",), ("mag_err_aper_6_0",)),
    "aper6_cor": (("mag_aper_cor_6_0",), ("mag_err_aper_cor_6_0", _J.column("mag_err_aper_6_0").file)),
    "auto": (("mag_auto",), ("mag_err_auto",)),
}


def _file(key: str) -> str:
    return _J.column(key).file


def _jplus_columns(kind: str) -> tuple[Column, ...]:
    (mag,), errs = _KINDS[kind]
    cols = [
        _c("jplus_tile_id", _file("tile_id"), kind="int"),
        _c("jplus_number", _file("number"), kind="int"),
        _c("ra", _file("alpha_j2000"), "ra", unit="deg"),
        _c("dec", _file("delta_j2000"), "dec", unit="deg"),
        _c("class_star", _file("class_star"), required=False),
    ]
    for b in JPLUS_BANDS:
        cols += [
            _c(f"mag_{b}", f"{_file(mag)}_{b}", sentinels=_MAG_SENTINELS),
            _c(f"mag_err_{b}", *(f"{e}_{b}" for e in errs), sentinels=_MAG_SENTINELS),
            _c(f"_flags_{b}", f"{_file('flags')}_{b}", required=False),
            _c(f"_mask_flags_{b}", f"{_file('mask_flags')}_{b}", required=False),
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
        _name, f"{_J.release} jplus.MagABDualObj, {_what} (AB); array or flattened per-band columns",
        _jplus_columns(_kind),
        array_columns={n: JPLUS_ARRAY_ORDER for n in (
            "mag_aper_6_0", "mag_err_aper_6_0", "mag_aper_cor_6_0", "mag_err_aper_cor_6_0", "mag_auto",
            "mag_err_auto", "flags", "mask_flags")},
        epoch=JPLUS_EPOCH, derive=_jplus_derive, array_order=_jplus_array_order,
    ))

readers.register(Reader(
    "jplus_extinction", f"{_J.release} jplus.MWExtinction: E(B-V) and per-band extinction a_<band> (mag)",
    (_c("jplus_tile_id", _file("tile_id"), kind="int"), _c("jplus_number", _file("number"), kind="int"),
     _c("ebv", _file("ebv"), sentinels=_MAG_SENTINELS))
    + tuple(_c(f"a_{b}", f"{_file('ax')}_{b}", required=False, sentinels=_MAG_SENTINELS) for b in JPLUS_BANDS),
    array_columns={"ax": JPLUS_ARRAY_ORDER}, array_order=_jplus_array_order,
))
