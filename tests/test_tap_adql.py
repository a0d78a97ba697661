"""ADQL builders and sky paging (no server needed)."""

from __future__ import annotations

import numpy as np
import pytest

from ocfeh.bands import JPLUS_BANDS
from ocfeh.catalogs.tap_adql import (
    PRODUCTS,
    SURVEYS,
    Box,
    Cone,
    catwise_query,
    gaia_query,
    hr23_clusters_query,
    jplus_query,
    lamost_query,
    region_condition,
    split_box,
    tile_cone,
)
from ocfeh.catalogs.tap_client import query_key
from ocfeh.exceptions import InputError


def _random_in_cone(cone: Cone, n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Uniform points inside a cone (rotate points around the pole to the cone centre)."""
    rng = np.random.default_rng(seed)
    cosr = np.cos(np.radians(cone.radius_deg))
    z = rng.uniform(cosr, 1.0, n)  # uniform in solid angle
    phi = rng.uniform(0, 2 * np.pi, n)
    s = np.sqrt(1 - z**2)
    v = np.stack([s * np.cos(phi), s * np.sin(phi), z])  # around +z
    a, d = np.radians(cone.ra_deg), np.radians(cone.dec_deg)
    # rotate +z to (a, d): first about y by (90 - d), then about z by a
    t = np.pi / 2 - d
    ry = np.array([[np.cos(t), 0, np.sin(t)], [0, 1, 0], [-np.sin(t), 0, np.cos(t)]])
    rz = np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1]])
    x, y, zz = rz @ ry @ v
    return np.degrees(np.arctan2(y, x)) % 360.0, np.degrees(np.arcsin(np.clip(zz, -1, 1)))


@pytest.mark.parametrize(
    "cone",
    [Cone(10.0, 41.0, 2.5), Cone(359.7, 5.0, 1.0), Cone(0.2, -30.0, 1.5), Cone(123.0, 88.8, 2.0),
     Cone(200.0, -89.5, 1.0), Cone(45.0, 60.0, 0.01)],
    ids=["plain", "wraps-360", "wraps-0", "north-pole", "south-pole", "tiny"],
)
def test_pages_cover_every_point_of_the_cone(cone):
    boxes = tile_cone(cone, page_size_deg=1.0)
    ra, dec = _random_in_cone(cone, 4000)
    covered = np.zeros(len(ra), bool)
    for b in boxes:
        assert 0.0 <= b.ra_min < b.ra_max <= 360.0 and -90.0 <= b.dec_min < b.dec_max <= 90.0
        covered |= (ra >= b.ra_min) & (ra <= b.ra_max) & (dec >= b.dec_min) & (dec <= b.dec_max)
    assert covered.all(), f"{(~covered).sum()} points of the cone fall in no page"


def test_pages_are_no_larger_than_asked():
    cone = Cone(10.0, 41.0, 2.5)
    for b in tile_cone(cone, page_size_deg=1.0):
        widest = np.cos(np.radians(min(abs(b.dec_min), abs(b.dec_max))))
        assert b.dec_max - b.dec_min <= 1.0 + 1e-9
        assert (b.ra_max - b.ra_min) * widest <= 1.0 + 1e-9
    assert len(tile_cone(cone, page_size_deg=10.0)) == 1


def test_split_box_quarters_cover_the_box():
    b = Box(10.0, 12.0, -1.0, 0.0)
    q = split_box(b)
    assert len(q) == 4
    assert sum((x.ra_max - x.ra_min) * (x.dec_max - x.dec_min) for x in q) == pytest.approx(2.0)
    assert min(x.ra_min for x in q) == 10.0 and max(x.dec_max for x in q) == 0.0


def test_region_condition_text():
    cond = region_condition("g.ra", "g.dec", Cone(1.5, -2.25, 0.5), Box(1.0, 2.0, -3.0, -2.0))
    assert cond == ("1 = CONTAINS(POINT('ICRS', g.ra, g.dec), CIRCLE('ICRS', 1.5, -2.25, 0.5))"
                    " AND g.ra BETWEEN 1.0 AND 2.0 AND g.dec BETWEEN -3.0 AND -2.0")


def test_jplus_query_indexes_arrays_with_filter_macros():
    q = jplus_query(Cone(10, 41, 0.1))
    for b in JPLUS_BANDS:
        assert f"o.mag_aper_6_0[jplus::{b}] AS mag_aper_6_0_{b}" in q
        assert f"p.mag_aper_cor_6_0[jplus::{b}] AS mag_aper_cor_6_0_{b}" in q
        assert f"e.ax[jplus::{b}] AS ax_{b}" in q
    assert "mag_err_aper_cor_6_0" not in q and "total_prob_star" not in q and "s.sglc_prob_star" in q
    assert "FROM jplus.MagABDualObj AS o" in q
    assert "jplus.MagABDualPointSources AS p ON p.tile_id = o.tile_id AND p.number = o.number" in q
    assert "jplus.MWExtinction AS e" in q and "jplus.StarGalClass AS s" in q
    assert q.count("[jplus::") == 8 * len(JPLUS_BANDS)  # 6 arrays of MagABDualObj, 1 of PointSources, ax
    with pytest.raises(InputError, match="Unknown J-PLUS band.*J0661"):
        jplus_query(Cone(10, 41, 0.1), bands=("J0661",))


def test_other_builders_use_native_tables_and_columns():
    c = Cone(10, 41, 0.1)
    g = gaia_query(c)
    assert "FROM gaiadr3.gaia_source AS g" in g and "external.gaiaedr3_distance" in g
    assert "ap.azero_gspphot" in g and "d.r_med_geo" in g and "g.phot_rp_mean_flux_over_error" in g
    w = catwise_query(c)
    assert w.startswith("SELECT source_name, ra, dec, w1mpro, w1sigmpro, w2mpro, w2sigmpro\nFROM catwise_2020")
    h = hr23_clusters_query(c)
    assert 'FROM "J/A+A/673/A114/clusters"' in h and '"logAge50"' in h
    lam = lamost_query(c, table="V/999/dr8")
    assert 'FROM "V/999/dr8"' in lam and '"e_[Fe/H]" AS "feh_err"' in lam and '"RAJ2000" AS "ra"' in lam
    with pytest.raises(InputError, match="lamost_table"):
        lamost_query(c, table='x" ; DROP')


def test_products_and_surveys_are_consistent():
    assert SURVEYS == ("jplus", "gaia", "catwise", "hr23", "lamost")
    assert {p.survey for p in PRODUCTS.values()} == set(SURVEYS)
    for p in PRODUCTS.values():
        assert p.key_cols and p.citation


@pytest.mark.parametrize(
    ("args", "match"),
    [((360.0, 0.0, 1.0), "ra_deg"), ((0.0, 91.0, 1.0), "dec_deg"), ((0.0, 0.0, 0.0), "radius_deg"),
     ((float("nan"), 0.0, 1.0), "finite")],
)
def test_bad_cones_are_rejected_with_the_value(args, match):
    with pytest.raises(InputError, match=match):
        Cone(*args)


def test_query_key_depends_on_url_query_and_limit():
    k = query_key("http://a/tap", "SELECT 1", 10)
    assert k == query_key("http://a/tap/", "SELECT 1", 10)
    assert len({k, query_key("http://b/tap", "SELECT 1", 10), query_key("http://a/tap", "SELECT 2", 10),
                query_key("http://a/tap", "SELECT 1", 11)}) == 4
