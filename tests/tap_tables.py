"""Tables in each survey's native column names for the loopback TAP server, and a fetch config for it."""

from __future__ import annotations

import numpy as np
from astropy.table import Table

from ocfeh.catalogs.tap import FetchConfig
from ocfeh.catalogs.tap_adql import Cone, tile_cone

from .tap_server import _sep_deg

CONE = Cone(ra_deg=10.0, dec_deg=41.0, radius_deg=0.5)


# ------------------------------------------------------------------------------------------------
# Test tables in each survey's native column names
# ------------------------------------------------------------------------------------------------


def _positions(rng, n, cone=CONE, spread=1.6):
    """Points spread over a box ``spread`` times the cone radius around its centre."""
    dec = cone.dec_deg + rng.uniform(-spread, spread, n) * cone.radius_deg
    ra = cone.ra_deg + rng.uniform(-spread, spread, n) * cone.radius_deg / np.cos(np.radians(cone.dec_deg))
    return ra % 360.0, dec


def _edge_stars():
    """Stars exactly on page edges inside the cone: two pages return each of them."""
    boxes = tile_cone(CONE, page_size_deg=0.5)
    b = boxes[0]
    ra_edge = b.ra_max  # shared by boxes[0] and boxes[1]
    dec_edge = b.dec_max  # shared by the two Dec strips
    return np.array([ra_edge, CONE.ra_deg]), np.array([CONE.dec_deg - 0.2, dec_edge])


def gaia_table(n=300, seed=1) -> Table:
    rng = np.random.default_rng(seed)
    ra, dec = _positions(rng, n)
    era, edec = _edge_stars()
    ra, dec = np.r_[ra, era], np.r_[dec, edec]
    n = len(ra)
    t = Table()
    t["source_id"] = np.arange(1000, 1000 + n, dtype=np.int64)
    t["ra"], t["dec"] = ra, dec
    t["ref_epoch"] = np.full(n, 2016.0)
    for c in ("parallax", "parallax_error", "pmra", "pmdec", "ruwe", "ag_gspphot", "ebpminrp_gspphot",
              "azero_gspphot", "azero_gspphot_lower", "azero_gspphot_upper", "distance_gspphot", "r_med_geo", "r_lo_geo", "r_hi_geo", "r_med_photogeo",
              "r_lo_photogeo", "r_hi_photogeo"):
        t[c] = rng.uniform(0.1, 2.0, n)
    for b in ("g", "bp", "rp"):
        t[f"phot_{b}_mean_mag"] = rng.uniform(12, 19, n)
        t[f"phot_{b}_mean_flux_over_error"] = rng.uniform(50, 500, n)
    return t


def catwise_table(n=120, seed=2) -> Table:
    rng = np.random.default_rng(seed)
    ra, dec = _positions(rng, n)
    t = Table({"source_name": [f"J{r:09.5f}{d:+09.5f}" for r, d in zip(ra, dec)], "ra": ra, "dec": dec})
    for c in ("w1mpro", "w1sigmpro", "w2mpro", "w2sigmpro"):
        t[c] = rng.uniform(0.01, 15, n)
    return t


def jplus_table(n=80, seed=3) -> Table:
    from ocfeh.bands import JPLUS_BANDS

    rng = np.random.default_rng(seed)
    ra, dec = _positions(rng, n)
    t = Table({"tile_id": np.full(n, 95126, dtype=np.int64), "number": np.arange(n, dtype=np.int64),
               "alpha_j2000": ra, "delta_j2000": dec, "class_star": rng.uniform(0, 1, n)})
    # every output name a J-PLUS query has selected (today's and earlier ones): the schema decides
    for col in ("mag_aper_6_0", "mag_err_aper_6_0", "mag_auto", "mag_err_auto", "flags", "mask_flags",
                "mag_aper_cor_6_0", "mag_err_aper_cor_6_0", "ax"):
        for b in JPLUS_BANDS:
            t[f"{col}_{b}"] = rng.uniform(14, 21, n)
    t["ebv"] = rng.uniform(0, 0.1, n)
    t["total_prob_star"] = t["sglc_prob_star"] = rng.uniform(0, 1, n)
    return t


def hr23_tables(seed=4) -> tuple[Table, Table]:
    """Three clusters (two with centres in the cone) and members of the two."""
    rng = np.random.default_rng(seed)
    clusters = Table({"Name": ["NGC_0000", "Theia_17", "Far_1"], "ID": [1, 2, 3], "RA_ICRS": [10.1, 9.9, 30.0],
                      "DE_ICRS": [41.1, 40.9, 10.0]})
    for c in ("pmRA", "pmDE", "Plx", "r50", "logAge50", "AV50", "dist50", "CST"):
        clusters[c] = rng.uniform(0, 1, 3)
    clusters["N"] = [50, 20, 10]
    clusters["Type"] = ["o", "o", "m"]
    m = 30
    ra, dec = _positions(rng, m, spread=0.5)
    members = Table({"Name": ["NGC_0000"] * 20 + ["Theia_17"] * 10, "ID": [1] * 20 + [2] * 10,
                     "GaiaDR3": np.arange(m, dtype=np.int64) + 7, "Prob": rng.uniform(0.5, 1, m),
                     "RA_ICRS": ra, "DE_ICRS": dec})
    for c in ("Plx", "e_Plx", "pmRA", "pmDE", "RUWE"):
        members[c] = rng.uniform(0.05, 2, m)
    for c in ("Gmag", "BPmag", "RPmag"):
        members[c] = rng.uniform(10, 19, m)
    return clusters, members


def lamost_table(n=60, seed=5) -> Table:
    rng = np.random.default_rng(seed)
    ra, dec = _positions(rng, n)
    t = Table({"obsid": np.arange(n, dtype=np.int64) + 500, "ra": ra, "dec": dec,
               "teff": rng.uniform(4000, 7000, n), "teff_err": rng.uniform(20, 200, n),
               "logg": rng.uniform(1, 5, n), "logg_err": rng.uniform(0.02, 0.3, n),
               "feh": rng.uniform(-2, 0.5, n), "feh_err": rng.uniform(0.02, 0.3, n)})
    for c in ("snrg", "snrr", "snri"):
        t[c] = rng.uniform(5, 200, n)
    return t


def inside(table, ra_col, dec_col, cone=CONE):
    return _sep_deg(table[ra_col], table[dec_col], cone.ra_deg, cone.dec_deg) <= cone.radius_deg


def fetch_config(srv, tmp_path, **kw) -> FetchConfig:
    base = {"ra_deg": CONE.ra_deg, "dec_deg": CONE.dec_deg, "radius_deg": CONE.radius_deg, "surveys": ["gaia"],
            "page_size_deg": 0.5, "cache_dir": tmp_path / "cache", "backoff_s": 0.01, "max_retries": 3,
            "timeout_s": 10, "service_urls": {s: srv.url for s in ("jplus", "gaia", "irsa", "vizier")}}
    base.update(kw)
    return FetchConfig(**base)


def all_datasets() -> dict[str, tuple[Table, str, str]]:
    """What the loopback server serves for every product: table name -> (rows, ra column, dec column)."""
    clusters, members = hr23_tables()
    return {
        "jplus.MagABDualObj": (jplus_table(), "alpha_j2000", "delta_j2000"),
        "gaiadr3.gaia_source": (gaia_table(), "ra", "dec"),
        "catwise_2020": (catwise_table(), "ra", "dec"),
        "J/A+A/673/A114/clusters": (clusters, "RA_ICRS", "DE_ICRS"),
        "J/A+A/673/A114/members": (members, "RA_ICRS", "DE_ICRS"),
        "V/164/stellar5": (lamost_table(), "ra", "dec"),
    }
