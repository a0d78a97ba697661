"""CatWISE2020-like observation: W1/W2 (Vega) to about 17.5/16.5 (5 sigma), positions at epoch 2015.4.

Sources are kept when S/N >= 5 in W1 or W2 (and a random completeness); magnitudes with S/N < 2
are null (NaN), as in the catalogue's profile-fit photometry. Names follow the IAU form
``Jhhmmss.ss+ddmmss.s``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["observe_catwise", "iau_names"]


def iau_names(ra_deg, dec_deg, prefix: str = "J") -> np.ndarray:
    """IAU-style names ``Jhhmmss.ss+ddmmss.s`` (truncated, not rounded, as IAU names are)."""
    ra_s = np.floor(np.asarray(ra_deg) / 15.0 * 3600.0 * 100.0).astype(np.int64)  # 0.01 s of time
    hh, rem = np.divmod(ra_s, 360000)
    mm, ss = np.divmod(rem, 6000)
    dec = np.asarray(dec_deg)
    sign = np.where(dec < 0, "-", "+")
    dec_s = np.floor(np.abs(dec) * 3600.0 * 10.0).astype(np.int64)  # 0.1 arcsec
    dd, rem = np.divmod(dec_s, 36000)
    dm, ds = np.divmod(rem, 600)
    return np.array(
        [f"{prefix}{h:02d}{m:02d}{s // 100:02d}.{s % 100:02d}{sg}{d:02d}{mi:02d}{x // 10:02d}.{x % 10:d}"
         for h, m, s, sg, d, mi, x in zip(hh, mm, ss, sign, dd, dm, ds)],
        dtype=str,
    )


def observe_catwise(stars: pd.DataFrame, state, rng: np.random.Generator):
    """Observe a chunk of true stars with CatWISE2020; returns ``(columns, keep)``."""
    cfg = state.cfg
    n = len(stars)
    out = {}
    snr = {}
    for band, m5 in zip(("w1", "w2"), cfg.catwise_depth_5sigma):
        true = stars[f"mag_{band.upper()}_true"].to_numpy()
        f = 10 ** (-0.4 * (true - m5))
        sig = 0.2 * np.sqrt(1.0 + 0.2 * f)
        f_obs = f * (1 + rng.normal(0, 0.015, n)) + rng.normal(0, 1, n) * sig
        snr[band] = f_obs / sig
        ok = snr[band] >= 2.0
        with np.errstate(divide="ignore", invalid="ignore"):
            out[f"{band}mpro"] = np.where(ok, m5 - 2.5 * np.log10(np.where(ok, f_obs, 1.0)), np.nan)
            out[f"{band}sigmpro"] = np.where(ok, np.hypot(1.0857 / snr[band], 0.015), np.nan)
    keep = ((snr["w1"] >= 5) | (snr["w2"] >= 5)) & (rng.random(n) < cfg.catwise_completeness)
    st = stars.loc[keep]
    m = int(keep.sum())
    w1 = np.where(np.isfinite(out["w1mpro"][keep]), out["w1mpro"][keep], 18.0)
    sig_pos = 0.03 + 0.3 * 10 ** (0.4 * (w1 - 17.0))  # arcsec
    dt = cfg.catwise_epoch - 2016.0
    dec0 = st["dec"].to_numpy()
    dec = dec0 + (st["pmdec"].to_numpy() * dt / 1000.0 + rng.normal(0, 1, m) * sig_pos) / 3600.0
    ra = (st["ra"].to_numpy() + (st["pmra"].to_numpy() * dt / 1000.0 + rng.normal(0, 1, m) * sig_pos)
          / 3600.0 / np.cos(np.radians(dec0))) % 360.0
    cols = {
        "source_name": iau_names(ra, dec),
        "ra": ra, "dec": dec,
        "sigra": sig_pos.astype(np.float32), "sigdec": sig_pos.astype(np.float32),
        "w1mpro": out["w1mpro"][keep].astype(np.float32), "w1sigmpro": out["w1sigmpro"][keep].astype(np.float32),
        "w1snr": snr["w1"][keep].astype(np.float32),
        "w2mpro": out["w2mpro"][keep].astype(np.float32), "w2sigmpro": out["w2sigmpro"][keep].astype(np.float32),
        "w2snr": snr["w2"][keep].astype(np.float32),
        "nb": np.ones(m, np.int16),
    }
    return cols, keep
