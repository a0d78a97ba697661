"""A tiny synthetic sky written in each survey's native columns and formats, with known true pairs.

``write_native_tables`` is shared by the catalogue, cross-match and sample tests. Until the mock-sky
simulator (``ocfeh.simulate``) lands, this is the known-truth input of the cross-match checks.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from astropy.table import Table

from ocfeh.bands import JPLUS_ARRAY_ORDER, JPLUS_BANDS

RA0, DEC0, SIDE_DEG = 150.0, 30.0, 0.5
N_JPLUS_POS_ERR_ARCSEC = 0.15


def _jitter(rng, ra, dec, sigma_arcsec):
    n = len(ra)
    return (ra + rng.normal(0, sigma_arcsec / 3600, n) / np.cos(np.deg2rad(dec)),
            dec + rng.normal(0, sigma_arcsec / 3600, n))


def _move(ra, dec, pmra, pmdec, dt):
    return ra + pmra * dt / 3.6e6 / np.cos(np.deg2rad(dec)), dec + pmdec * dt / 3.6e6


def make_sky(n: int = 2000, seed: int = 0) -> dict[str, pd.DataFrame]:
    """Truth tables: ``stars`` (one row per star, Gaia epoch 2016 positions) and per-survey native frames.

    Each survey sees a subset of stars (J-PLUS 90 %, LAMOST 40 %, CatWISE 85 %) plus a few sources
    unknown to Gaia; ``truth_gaia_row`` columns give the true Gaia row of every detection (-1: none).
    """
    rng = np.random.default_rng(seed)
    ra = RA0 + rng.uniform(0, SIDE_DEG, n) / np.cos(np.deg2rad(DEC0))
    dec = DEC0 + rng.uniform(0, SIDE_DEG, n)
    pmra, pmdec = rng.normal(0, 8, n), rng.normal(-5, 8, n)
    fast = rng.random(n) < 0.05
    pmra[fast], pmdec[fast] = rng.normal(0, 300, fast.sum()), rng.normal(0, 300, fast.sum())
    plx = rng.uniform(0.3, 5.0, n)
    teff = rng.uniform(4000, 7000, n)
    logg = rng.uniform(1.0, 5.0, n)
    feh = rng.normal(-0.3, 0.3, n)
    poor = rng.random(n) < 0.03
    feh[poor] = rng.uniform(-2.4, -2.0, poor.sum())
    g = rng.uniform(12, 18, n)
    gaia = pd.DataFrame({
        "source_id": np.arange(n, dtype=np.int64) * 7919 + 4_000_000_000_000,
        "ra": ra, "dec": dec, "parallax": plx, "parallax_error": plx / rng.uniform(3, 30, n),
        "pmra": pmra, "pmdec": pmdec, "phot_g_mean_mag": g, "phot_bp_mean_mag": g + 0.4,
        "phot_rp_mean_mag": g - 0.5, "phot_g_mean_flux_over_error": 2000.0 / (g - 11),
        "phot_bp_mean_flux_over_error": 500.0 / (g - 11), "phot_rp_mean_flux_over_error": 600.0 / (g - 11),
        "ruwe": rng.lognormal(0, 0.15, n),
    })
    ap = pd.DataFrame({"source_id": gaia["source_id"], "azero_gspphot": rng.uniform(0, 0.5, n),
                       "ag_gspphot": rng.uniform(0, 0.4, n), "ebpminrp_gspphot": rng.uniform(0, 0.2, n),
                       "distance_gspphot": 1000 / plx})
    ap.loc[rng.random(n) < 0.05, "azero_gspphot"] = np.nan
    bj = pd.DataFrame({"source_id": gaia["source_id"], "r_med_geo": 1000 / plx, "r_lo_geo": 900 / plx,
                       "r_hi_geo": 1100 / plx, "r_med_photogeo": 1000 / plx * 1.01,
                       "r_lo_photogeo": 950 / plx, "r_hi_photogeo": 1050 / plx})

    def survey(frac, epoch, pos_err, n_extra):
        idx = np.flatnonzero(rng.random(n) < frac)
        r, d = _move(ra[idx], dec[idx], pmra[idx], pmdec[idx], epoch - 2016.0)
        r, d = _jitter(rng, r, d, pos_err)
        er = RA0 + rng.uniform(0, SIDE_DEG, n_extra) / np.cos(np.deg2rad(DEC0))
        ed = DEC0 + rng.uniform(0, SIDE_DEG, n_extra)
        truth = np.concatenate([idx, np.full(n_extra, -1)])
        perm = rng.permutation(len(truth))
        return np.concatenate([r, er])[perm], np.concatenate([d, ed])[perm], truth[perm]

    jr, jd, jt = survey(0.9, 2018.0, N_JPLUS_POS_ERR_ARCSEC, n // 20)
    nj = len(jt)
    mags = np.where(jt[:, None] >= 0, g[np.maximum(jt, 0)][:, None], rng.uniform(18, 21, nj)[:, None]) \
        + np.linspace(1.0, -0.3, 12)[None, :] + rng.normal(0, 0.02, (nj, 12))
    errs = np.full((nj, 12), 0.03)
    miss = rng.random((nj, 12)) < 0.01
    mags[miss], errs[miss] = 99.0, 99.0
    flags = (rng.random((nj, 12)) < 0.02).astype(np.int64) * 2
    arch = [JPLUS_BANDS.index(b) for b in JPLUS_ARRAY_ORDER]  # the archive's element order
    mags, errs, flags = mags[:, arch], errs[:, arch], flags[:, arch]
    jplus = {"tile_id": np.full(nj, 10001), "number": np.arange(1, nj + 1), "alpha_j2000": jr, "delta_j2000": jd,
             "class_star": rng.uniform(0.5, 1, nj), "mag_aper_6_0": mags, "mag_err_aper_6_0": errs,
             "flags": flags, "mask_flags": np.zeros((nj, 12), np.int64), "truth_gaia_row": jt}
    cr, cd, ct = survey(0.85, 2015.4, 0.3, n // 20)
    safe = np.maximum(ct, 0)
    catwise = pd.DataFrame({"source_name": [f"J{i:07d}" for i in range(len(ct))], "ra": cr, "dec": cd,
                            "w1mpro": g[safe] - 1.5, "w1sigmpro": 0.03, "w2mpro": g[safe] - 1.6, "w2sigmpro": 0.05,
                            "truth_gaia_row": ct})
    lr, ld, lt = survey(0.4, 2000.0, 0.2, n // 50)
    safe = np.maximum(lt, 0)
    lamost = pd.DataFrame({"obsid": np.arange(len(lt)) + 100_000, "ra": lr, "dec": ld,
                           "teff": teff[safe], "teff_err": 50.0, "logg": logg[safe], "logg_err": 0.1,
                           "feh": feh[safe], "feh_err": 0.05, "snrg": rng.uniform(10, 200, len(lt)),
                           "truth_gaia_row": lt})
    lamost.loc[rng.random(len(lt)) < 0.01, "teff"] = -9999.0
    return {"gaia": gaia, "gaia_ap": ap, "bailer_jones": bj, "jplus": jplus, "catwise": catwise, "lamost": lamost}


def write_jplus_parquet(jplus: dict, path: Path) -> Path:
    """J-PLUS with array columns (FixedSizeList of 12, the archive's order), as a TAP download to Parquet."""
    cols = {}
    for k, v in jplus.items():
        v = np.asarray(v)
        if v.ndim == 2:
            cols[k] = pa.FixedSizeListArray.from_arrays(pa.array(v.ravel()), v.shape[1])
        else:
            cols[k] = pa.array(v)
    pq.write_table(pa.table(cols), path)
    return path


def flatten_jplus(jplus: dict) -> pd.DataFrame:
    """J-PLUS with one column per band (``mag_aper_6_0_J0660``), as users' downloads often are."""
    out = {}
    for k, v in jplus.items():
        v = np.asarray(v)
        if v.ndim == 2:
            for i, b in enumerate(JPLUS_ARRAY_ORDER):
                out[f"{k}_{b}"] = v[:, i]
        else:
            out[k] = v
    return pd.DataFrame(out)


def write_native_tables(folder: Path, n: int = 2000, seed: int = 0) -> dict[str, Path]:
    """Write the synthetic sky as native files in mixed formats; returns reader name -> path."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    sky = make_sky(n, seed)
    paths = {"jplus": write_jplus_parquet(sky["jplus"], folder / "jplus_magabdualobj.parquet")}
    t = Table.from_pandas(sky["gaia"])
    for c in ("ra", "dec"):
        t[c].unit = "deg"
    for c in ("parallax", "parallax_error"):
        t[c].unit = "mas"
    for c in ("pmra", "pmdec"):
        t[c].unit = "mas / yr"
    paths["gaia"] = folder / "gaia_source.fits"
    t.write(paths["gaia"])
    paths["gaia_ap"] = folder / "astrophysical_parameters.parquet"
    sky["gaia_ap"].to_parquet(paths["gaia_ap"])
    paths["bailer_jones"] = folder / "bailer_jones.csv"
    sky["bailer_jones"].to_csv(paths["bailer_jones"], index=False)
    paths["catwise"] = folder / "catwise2020.csv"
    sky["catwise"].to_csv(paths["catwise"], index=False)
    paths["lamost"] = folder / "lamost_dr8.xml"
    Table.from_pandas(sky["lamost"]).write(paths["lamost"], format="votable", tabledata_format="binary2")
    return paths


def test_mock_sky_is_self_consistent(tmp_path):
    sky = make_sky(300, seed=3)
    assert set(sky) == {"gaia", "gaia_ap", "bailer_jones", "jplus", "catwise", "lamost"}
    jt = sky["jplus"]["truth_gaia_row"]
    assert (jt >= 0).mean() > 0.85 and (jt < 0).sum() == 15
    paths = write_native_tables(tmp_path, n=200, seed=3)
    assert all(p.is_file() and p.stat().st_size > 0 for p in paths.values())
