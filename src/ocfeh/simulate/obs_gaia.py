"""Gaia DR3-like observation: ``gaia_source``, ``astrophysical_parameters`` (GSP-Phot) and
Bailer-Jones (2021) EDR3 distances.

- Sources with observed G < ``gaia_g_limit`` and a random completeness ``gaia_completeness``.
- Photometric errors as functions of G (about 0.3 mmag bright, 1 mmag at G = 17, 4 mmag at G = 20 in
  G; ten times more in BP/RP), BP/RP missing for some faint sources.
- Parallax error sqrt(40 + 800 z + 30 z^2) uas with z = 10^(0.4 (max(G, 13) - 15)) (the Gaia
  performance formula; 0.03 mas at G = 15, 0.6 mas at G = 20), proper-motion errors 0.9 times that
  in mas/yr, a parallax zero point of -0.017 mas (Lindegren et al. 2021), ``ruwe`` about 1 with a
  tail for binaries.
- GSP-Phot (G < 19): distances overestimated by 20% per kpc beyond 1.5 kpc (capped at a factor 2)
  on top of a 10-25% scatter, A_0 biased high by 0.1 mag, [M/H] biased low by 0.2 dex (Andrae et al.
  2023 describe these trends).
- Bailer-Jones-like distances: the posterior median and 16/84th percentiles of an exponentially
  decreasing space-density prior (length 1.35 kpc) times the parallax likelihood (``r_*_geo``),
  times a log-normal photometric-distance likelihood of 20% width for sources with BP/RP
  (``r_*_photogeo``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["observe_gaia", "gaia_source_ids"]

_R_GRID = np.exp(np.linspace(np.log(10.0), np.log(1.2e5), 400))  # pc


def gaia_source_ids(ra_deg, dec_deg, star_id) -> np.ndarray:
    """Gaia-like source_id: HEALPix level-12 nested index x 2^35 + a running number."""
    import astropy.units as u
    from cdshealpix import nested

    hp = nested.lonlat_to_healpix(np.asarray(ra_deg) * u.deg, np.asarray(dec_deg) * u.deg, 12, num_threads=1)
    return hp.astype(np.int64) * (2**35) + (np.asarray(star_id, np.int64) % (2**35))


def _posterior_summary(plx_mas, plx_err_mas, log_photo=None, photo_sigma=0.2, length_pc=1350.0):
    """(median, 16th, 84th percentile) distances (pc) on a grid, in batches."""
    out = np.full((plx_mas.size, 3), np.nan)
    lnr = np.log(_R_GRID)
    prior = 2 * lnr - _R_GRID / length_pc + lnr  # r^2 exp(-r/L) times dr = r dlnr
    for s in range(0, plx_mas.size, 5000):
        p = plx_mas[s:s + 5000, None]
        e = plx_err_mas[s:s + 5000, None]
        logp = prior[None, :] - 0.5 * ((p - 1000.0 / _R_GRID[None, :]) / e) ** 2
        if log_photo is not None:
            lp = log_photo[s:s + 5000, None]
            logp = logp + np.where(np.isfinite(lp), -0.5 * ((lnr[None, :] - lp) / photo_sigma) ** 2, 0.0)
        logp -= logp.max(axis=1, keepdims=True)
        w = np.exp(logp)
        cdf = np.cumsum(w, axis=1)
        cdf /= cdf[:, -1:]
        for j, q in enumerate((0.5, 0.16, 0.84)):
            k = np.clip((cdf < q).sum(axis=1), 0, _R_GRID.size - 1)
            out[s:s + 5000, j] = _R_GRID[k]
    return out


def observe_gaia(stars: pd.DataFrame, state, rng: np.random.Generator):
    """Observe a chunk of true stars with Gaia DR3.

    Returns ``(gaia_source, astrophysical_parameters, distances, keep)``: three dicts of columns
    and the boolean mask of detected input rows.
    """
    cfg = state.cfg
    n = len(stars)
    G = stars["mag_G_true"].to_numpy()
    sig_g = 1e-3 * np.sqrt(0.3**2 + (1.0 * 10 ** (0.2 * (G - 17))) ** 2 + (0.5 * 10 ** (0.4 * (G - 19.5))) ** 2)
    g_obs = G + rng.normal(0, 1, n) * sig_g
    keep = (g_obs < cfg.gaia_g_limit) & (rng.random(n) < cfg.gaia_completeness)
    st = stars.loc[keep]
    m = int(keep.sum())
    G, g_obs, sig_g = G[keep], g_obs[keep], sig_g[keep]
    bp, rp = st["mag_BP_true"].to_numpy(), st["mag_RP_true"].to_numpy()
    sig_bp = 1e-3 * np.sqrt(1.0 + (10.0 * 10 ** (0.4 * (G - 17.5))) ** 2)
    sig_rp = 1e-3 * np.sqrt(1.0 + (7.0 * 10 ** (0.4 * (G - 17.5))) ** 2)
    has_xp = ~((G > 20.3) & (rng.random(m) < 0.5))
    bp_obs = np.where(has_xp, bp + rng.normal(0, 1, m) * sig_bp, np.nan)
    rp_obs = np.where(has_xp, rp + rng.normal(0, 1, m) * sig_rp, np.nan)
    z = 10 ** (0.4 * (np.maximum(G, 13.0) - 15.0))
    sig_plx = np.sqrt(40 + 800 * z + 30 * z**2) / 1000.0
    d = st["distance_true_pc"].to_numpy()
    plx = 1000.0 / d + cfg.gaia_parallax_zero_point_mas + rng.normal(0, 1, m) * sig_plx
    sig_pm = 0.9 * sig_plx
    q = st["mass_ratio"].to_numpy()
    ruwe = np.exp(rng.normal(0.0, 0.07, m)) * (1 + np.where((q > 0.3) & (rng.random(m) < 0.3),
                                                            rng.exponential(0.8, m), 0.0))
    sig_pos = 0.8 * sig_plx  # mas
    dec = st["dec"].to_numpy() + rng.normal(0, 1, m) * sig_pos / 3.6e6
    ra = (st["ra"].to_numpy() + rng.normal(0, 1, m) * sig_pos / 3.6e6 / np.cos(np.radians(dec))) % 360.0
    sid = gaia_source_ids(ra, dec, st["star_id"].to_numpy())
    l_deg, b_deg = state.galactic(ra, dec)
    source = {
        "source_id": sid,
        "ref_epoch": np.full(m, 2016.0),
        "ra": ra, "ra_error": sig_pos.astype(np.float32),
        "dec": dec, "dec_error": sig_pos.astype(np.float32),
        "parallax": plx, "parallax_error": sig_plx.astype(np.float32),
        "parallax_over_error": (plx / sig_plx).astype(np.float32),
        "pmra": st["pmra"].to_numpy() + rng.normal(0, 1, m) * sig_pm, "pmra_error": sig_pm.astype(np.float32),
        "pmdec": st["pmdec"].to_numpy() + rng.normal(0, 1, m) * sig_pm, "pmdec_error": sig_pm.astype(np.float32),
        "ruwe": ruwe.astype(np.float32),
        "phot_g_mean_flux_over_error": (1.0857 / sig_g).astype(np.float32),
        "phot_g_mean_mag": g_obs.astype(np.float32),
        "phot_bp_mean_flux_over_error": np.where(has_xp, 1.0857 / sig_bp, np.nan).astype(np.float32),
        "phot_bp_mean_mag": bp_obs.astype(np.float32),
        "phot_rp_mean_flux_over_error": np.where(has_xp, 1.0857 / sig_rp, np.nan).astype(np.float32),
        "phot_rp_mean_mag": rp_obs.astype(np.float32),
        "bp_rp": (bp_obs - rp_obs).astype(np.float32),
        "l": l_deg, "b": b_deg,
    }
    # --- GSP-Phot
    gsp = g_obs < cfg.gaia_gspphot_g_limit
    k = int(gsp.sum())
    sg = st.loc[gsp]
    dg = d[gsp]
    frac = 0.10 + 0.15 * np.clip((G[gsp] - 12.0) / 7.0, 0, 1)
    bias = np.minimum(1.0 + 0.2 * np.clip((dg - 1500.0) / 1000.0, 0, None), 2.0)
    dist_g = dg * bias * np.exp(rng.normal(0, 1, k) * frac)
    a0_g = np.clip(sg["a0_true"].to_numpy() + 0.1 + rng.normal(0, 0.1, k), 0.0, None)
    coef = state.gaia_extinction_coefficients(sg)
    ap = {
        "source_id": sid[gsp],
        "teff_gspphot": (sg["teff_true"].to_numpy() * np.exp(rng.normal(0.01, 0.03, k))).astype(np.float32),
        "logg_gspphot": (sg["logg_true"].to_numpy() + rng.normal(0, 0.2, k)).astype(np.float32),
        "mh_gspphot": (sg["feh_true"].to_numpy() - 0.2 + rng.normal(0, 0.3, k)).astype(np.float32),
        "distance_gspphot": dist_g.astype(np.float32),
        "distance_gspphot_lower": (dist_g * np.exp(-frac)).astype(np.float32),
        "distance_gspphot_upper": (dist_g * np.exp(frac)).astype(np.float32),
        "azero_gspphot": a0_g.astype(np.float32),
        "ag_gspphot": (a0_g * coef[:, 0]).astype(np.float32),
        "ebpminrp_gspphot": (a0_g * (coef[:, 1] - coef[:, 2])).astype(np.float32),
    }
    # --- Bailer-Jones-like distances (zero-point-corrected parallaxes)
    plx_c = plx - cfg.gaia_parallax_zero_point_mas
    geo = _posterior_summary(plx_c, sig_plx)
    log_photo = np.where(has_xp, np.log(d) + rng.normal(0, 0.2, m), np.nan)
    photo = _posterior_summary(plx_c, sig_plx, log_photo)
    photo[~has_xp] = np.nan
    dist = {
        "source_id": sid,
        "r_med_geo": geo[:, 0].astype(np.float32), "r_lo_geo": geo[:, 1].astype(np.float32),
        "r_hi_geo": geo[:, 2].astype(np.float32),
        "r_med_photogeo": photo[:, 0].astype(np.float32), "r_lo_photogeo": photo[:, 1].astype(np.float32),
        "r_hi_photogeo": photo[:, 2].astype(np.float32),
        "flag": np.where(has_xp, "10033", "10000"),
    }
    return source, ap, dist, keep
