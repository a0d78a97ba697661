"""J-PLUS DR3-like observation: ``jplus.MagABDualObj`` rows and ``jplus.MWExtinction`` rows.

Dual-mode catalogue: objects are detected on rSDSS (S/N >= 3) and measured in all 12 bands in the
same apertures. Per band: 5-sigma depth of the tile, flux errors from sky background plus source
photon noise plus a calibration floor, saturation flag (SExtractor bit 4) and a bias above the
saturation limit, zero-point offsets per band (global) and per tile, a 6-arcsec-aperture loss
(``mag_aper_6_0``) that the aperture-corrected magnitudes (``mag_aper_cor_6_0``) remove, and 99 for
non-positive fluxes (non-detections). Positions at the tile's epoch (about 2018) with scatter.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..bands import JPLUS_ARRAY_ORDER, JPLUS_BANDS

__all__ = ["APCOR_ERROR_MAG", "SENTINEL", "observe_jplus", "photon_error"]

SENTINEL = 99.0
_PHOT_SIGMA_AT_5SIGMA = 0.2  # background sigma in units of the 5-sigma flux
_SOURCE_TERM = 0.3  # source photon variance relative to the background at the 5-sigma flux
APCOR_ERROR_MAG = 0.005
"""Error of the estimated aperture correction, added to ``mag_err_aper_cor_6_0``."""


def _flux_sigma(flux, m5):
    return _PHOT_SIGMA_AT_5SIGMA * np.sqrt(1.0 + _SOURCE_TERM * np.clip(flux, 0, None))


def photon_error(mag_err, floor: float, aperture_corrected: bool = True):
    """The photon-noise part of a mock J-PLUS magnitude error, as the J-PLUS catalogue errors state it.

    Removes the per-star calibration floor ``floor`` (``jplus_error_floor``) and, for
    ``mag_err_aper_cor_6_0`` (``aperture_corrected``), the aperture-correction error.
    """
    extra = floor**2 + (APCOR_ERROR_MAG**2 if aperture_corrected else 0.0)
    return np.sqrt(np.clip(np.asarray(mag_err, float) ** 2 - extra, 0.0, None))


def observe_jplus(stars: pd.DataFrame, state, rng: np.random.Generator) -> tuple[dict, dict, np.ndarray]:
    """Observe a chunk of true stars with J-PLUS.

    Returns
    -------
    obj : dict of str to ndarray
        ``jplus.MagABDualObj`` columns (array columns are (n, 12) in the archive's order, JPLUS_ARRAY_ORDER).
    ext : dict of str to ndarray
        ``jplus.MWExtinction`` columns: ``tile_id``, ``number``, ``ebv``, ``ebv_err``, ``ax``.
    keep : ndarray of bool
        Which input rows were detected.
    """
    cfg = state.cfg
    n = len(stars)
    tile = stars["tile"].to_numpy()
    true = np.column_stack([stars[f"mag_{b}_true"].to_numpy() for b in JPLUS_BANDS])
    depth = state.jplus_depth[tile]  # (n, 12)
    zp = state.jplus_zp[None, :] + state.jplus_zp_tile[tile]
    apcor = state.jplus_apcor[tile]
    # fluxes in units of the 5-sigma flux of each band
    f_true = 10 ** (-0.4 * (true - depth))
    sig = _flux_sigma(f_true, depth)
    floor = cfg.jplus_error_floor
    f_obs = f_true * (1 + rng.normal(0, floor, (n, 12))) + rng.normal(0, 1, (n, 12)) * sig
    # detection on rSDSS (3 sigma)
    j_r = JPLUS_BANDS.index("rSDSS")
    keep = f_obs[:, j_r] / sig[:, j_r] >= 3.0
    if not keep.any():
        return _empty(), _empty_ext(), keep
    f_true, f_obs, sig, true, depth, zp, apcor, tile = (
        a[keep] for a in (f_true, f_obs, sig, true, depth, zp, apcor, tile)
    )
    st = stars.loc[keep]
    m = keep.sum()
    sat = np.array([cfg.jplus_saturation[b] for b in JPLUS_BANDS])[None, :]
    saturated = true < sat
    pos = f_obs > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        mag_tot = depth - 2.5 * np.log10(np.where(pos, f_obs, 1.0)) + zp
        mag_tot = np.where(saturated, mag_tot + 0.15 * (sat - true), mag_tot)
        err = np.sqrt((1.0857 * sig / np.where(pos, f_obs, 1.0)) ** 2 + floor**2)
    aper = mag_tot + apcor
    apcor_est = apcor + rng.normal(0, APCOR_ERROR_MAG, apcor.shape)
    aper_cor = aper - apcor_est
    err_cor = np.sqrt(err**2 + APCOR_ERROR_MAG**2)
    # MAG_AUTO: a larger, noisier aperture with a small flux loss
    f_auto = f_true + rng.normal(0, 1, (m, 12)) * sig * 1.4
    pos_auto = f_auto > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        auto = depth - 2.5 * np.log10(np.where(pos_auto, f_auto, 1.0)) + zp + 0.02
        err_auto = np.sqrt((1.0857 * 1.4 * sig / np.where(pos_auto, f_auto, 1.0)) ** 2 + floor**2)

    def sentinel(a, ok):
        return np.where(ok, a, SENTINEL).astype(np.float32)

    flags = np.zeros((m, 12), np.int16)
    flags[saturated] |= 4
    blended = rng.random(m) < 0.03
    flags[blended] |= 3  # bit 1 neighbours, bit 2 deblended
    mask_flags = np.where(rng.random(m) < 0.015, rng.integers(1, 8, m), 0).astype(np.int16)
    mask_flags = np.repeat(mask_flags[:, None], 12, axis=1)
    r_obs = np.where(pos[:, j_r], mag_tot[:, j_r], 30.0)
    class_star = np.clip(0.975 - 0.45 / (1 + np.exp(-(r_obs - 20.8) / 0.5)) + rng.normal(0, 0.02, m), 0, 1)
    # positions at the tile epoch
    dt = state.jplus_epoch[tile] - 2016.0
    dec0 = st["dec"].to_numpy()
    pos_err = np.hypot(cfg.jplus_astrometric_error_arcsec, 0.3 * 10 ** (0.4 * (r_obs - 21.0))) / 3600.0
    dec = dec0 + st["pmdec"].to_numpy() * dt / 3.6e6 + rng.normal(0, 1, m) * pos_err
    ra = (st["ra"].to_numpy() + (st["pmra"].to_numpy() * dt / 3.6e6 + rng.normal(0, 1, m) * pos_err)
          / np.cos(np.radians(dec0))) % 360.0
    # the archive's arrays hold the bands in filter_id order, not in wavelength order
    arch = [JPLUS_BANDS.index(b) for b in JPLUS_ARRAY_ORDER]
    aper, err, aper_cor, err_cor, auto, err_auto, pos, pos_auto, flags, mask_flags = (
        a[:, arch] for a in (aper, err, aper_cor, err_cor, auto, err_auto, pos, pos_auto, flags, mask_flags))
    obj = {
        "tile_id": state.tiles["tile_id"].to_numpy()[tile].astype(np.int32),
        "number": st["jplus_number"].to_numpy().astype(np.int64),
        "alpha_j2000": ra,
        "delta_j2000": dec,
        "class_star": class_star.astype(np.float32),
        "mag_aper_6_0": sentinel(aper, pos),
        "mag_err_aper_6_0": sentinel(err, pos),
        "mag_aper_cor_6_0": sentinel(aper_cor, pos),
        "mag_err_aper_cor_6_0": sentinel(err_cor, pos),
        "mag_auto": sentinel(auto, pos_auto),
        "mag_err_auto": sentinel(err_auto, pos_auto),
        "flags": flags,
        "mask_flags": mask_flags,
    }
    ebv = state.jplus_ebv[tile] * np.exp(rng.normal(0, 0.03, m))
    ext = {
        "tile_id": obj["tile_id"],
        "number": obj["number"],
        "ebv": ebv.astype(np.float32),
        "ebv_err": (0.1 * ebv + 0.005).astype(np.float32),
        "ax": (ebv[:, None] * state.jplus_ax_per_ebv[None, arch]).astype(np.float32),
    }
    return obj, ext, keep


def _empty() -> dict:
    f2 = np.zeros((0, 12), np.float32)
    return {
        "tile_id": np.zeros(0, np.int32), "number": np.zeros(0, np.int64), "alpha_j2000": np.zeros(0),
        "delta_j2000": np.zeros(0), "class_star": np.zeros(0, np.float32),
        **{k: f2 for k in ("mag_aper_6_0", "mag_err_aper_6_0", "mag_aper_cor_6_0", "mag_err_aper_cor_6_0",
                           "mag_auto", "mag_err_auto")},
        "flags": np.zeros((0, 12), np.int16), "mask_flags": np.zeros((0, 12), np.int16),
    }


def _empty_ext() -> dict:
    return {"tile_id": np.zeros(0, np.int32), "number": np.zeros(0, np.int64), "ebv": np.zeros(0, np.float32),
            "ebv_err": np.zeros(0, np.float32), "ax": np.zeros((0, 12), np.float32)}
