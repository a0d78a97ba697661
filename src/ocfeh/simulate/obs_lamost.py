"""LAMOST DR8 LRS-like stellar parameters: a magnitude-limited, partly covered spectroscopic subsample.

Selection: 9 < r < ``lamost_r_limit`` (true r), observed with probability ``lamost_coverage`` times a
tile factor (no coverage south of dec = -10). SNR in g: ``lamost_snr_at_limit`` at the limit, rising
as the flux (10^(0.4 (limit - g))) with a 25% log-normal scatter; u/r/i/z SNRs scaled from it.
Parameters (LASP covers AFGK stars: 3700 < Teff < 8800 K) are given for SNR_g >= ``lamost_min_snr``.
Label noise has sigma = noise10 * max(floor, sqrt(10 / SNR_g)) (100 K, 0.15 dex and 0.10 dex at SNR
10 by default), and the reported ``*_err`` are those sigmas. [Fe/H] labels are
``scale * feh_true + offset + noise`` (LAMOST's scale offset against APOGEE can be mimicked).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .obs_catwise import iau_names

__all__ = ["observe_lamost", "label_sigma", "LAMOST_OBSID_OFFSET"]

LAMOST_OBSID_OFFSET = 100_000_000


def label_sigma(snr, noise_at_10: float, floor: float) -> np.ndarray:
    """Label noise sigma at g-band ``snr``: ``noise_at_10 * max(floor, sqrt(10 / snr))``."""
    return noise_at_10 * np.maximum(floor, np.sqrt(10.0 / np.asarray(snr, float)))


def observe_lamost(stars: pd.DataFrame, state, rng: np.random.Generator):
    """Observe a chunk of true stars with LAMOST; returns ``(columns, keep)``."""
    cfg = state.cfg
    n = len(stars)
    r = stars["mag_rSDSS_true"].to_numpy()
    g = stars["mag_gSDSS_true"].to_numpy()
    teff = stars["teff_true"].to_numpy()
    cover = state.lamost_cover[stars["tile"].to_numpy()]
    snr_g = cfg.lamost_snr_at_limit * 10 ** (0.4 * (cfg.lamost_r_limit - g)) * np.exp(rng.normal(0, 0.25, n))
    snr_g = np.minimum(snr_g, 1500.0)
    keep = ((r > 9.0) & (r < cfg.lamost_r_limit) & (rng.random(n) < cover) & (snr_g >= cfg.lamost_min_snr)
            & (teff > 3700.0) & (teff < 8800.0))
    st = stars.loc[keep]
    m = int(keep.sum())
    snr = snr_g[keep]
    s_t = label_sigma(snr, cfg.lamost_teff_noise_k, cfg.lamost_noise_floor)
    s_g = label_sigma(snr, cfg.lamost_logg_noise, cfg.lamost_noise_floor)
    s_f = label_sigma(snr, cfg.lamost_feh_noise, cfg.lamost_noise_floor)
    feh = cfg.lamost_feh_scale * st["feh_true"].to_numpy() + cfg.lamost_feh_offset + rng.normal(0, 1, m) * s_f
    color = (st["mag_gSDSS_true"] - st["mag_rSDSS_true"]).to_numpy()
    dt = 2000.0 - 2016.0  # LAMOST input catalogues: J2000 positions at epoch 2000
    dec0 = st["dec"].to_numpy()
    dec = dec0 + (st["pmdec"].to_numpy() * dt / 1000.0 + rng.normal(0, 0.1, m)) / 3600.0
    ra = (st["ra"].to_numpy() + (st["pmra"].to_numpy() * dt / 1000.0 + rng.normal(0, 0.1, m)) / 3600.0
          / np.cos(np.radians(dec0))) % 360.0
    cols = {
        "obsid": LAMOST_OBSID_OFFSET + st["star_id"].to_numpy().astype(np.int64) % 10**12,
        "designation": iau_names(ra, dec),
        "ra": ra, "dec": dec,
        "snru": (snr * 10 ** (-0.4 * (1.0 + color))).astype(np.float32),
        "snrg": snr.astype(np.float32),
        "snrr": (snr * 10 ** (0.4 * color) * 1.3).astype(np.float32),
        "snri": (snr * 10 ** (0.4 * color) * 1.2).astype(np.float32),
        "snrz": (snr * 10 ** (0.4 * color) * 0.7).astype(np.float32),
        "class": np.full(m, "STAR"),
        "teff": (st["teff_true"].to_numpy() + rng.normal(0, 1, m) * s_t).astype(np.float32),
        "teff_err": s_t.astype(np.float32),
        "logg": (st["logg_true"].to_numpy() + rng.normal(0, 1, m) * s_g).astype(np.float32),
        "logg_err": s_g.astype(np.float32),
        "feh": feh.astype(np.float32),
        "feh_err": s_f.astype(np.float32),
        "rv": (st["radial_velocity"].to_numpy() + rng.normal(0, 5, m)).astype(np.float32),
        "rv_err": np.full(m, 5.0, np.float32),
    }
    return cols, keep
