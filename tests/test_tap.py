"""Archive queries against a small TAP server that the tests run on 127.0.0.1 (never a real archive).

The server speaks enough of TAP for pyvo: ``/capabilities``, ``/tables`` and ``/sync`` with
REQUEST=doQuery, LANG=ADQL, QUERY, MAXREC. It answers each query from a table the test wrote,
applying the CIRCLE and BETWEEN conditions of the ADQL (so paging is really exercised), truncating
at MAXREC with an OVERFLOW status, and it can be told to fail (HTTP 503, a rejected query).
"""

from __future__ import annotations

import io
import json
import re
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest
from astropy.io.votable import from_table
from astropy.io.votable.tree import Info
from astropy.table import Table

from ocfeh.catalogs.tap import FetchConfig, fetch, fetch_product
from ocfeh.catalogs.tap_adql import Cone, tile_cone
from ocfeh.catalogs.tap_client import ArchiveError, TapClient

CONE = Cone(ra_deg=10.0, dec_deg=41.0, radius_deg=0.5)
_NUM = r"([-+0-9.eE]+)"


def _sep_deg(ra1, dec1, ra2, dec2):
    ra1, dec1, ra2, dec2 = map(np.radians, (ra1, dec1, ra2, dec2))
    c = np.sin(dec1) * np.sin(dec2) + np.cos(dec1) * np.cos(dec2) * np.cos(ra1 - ra2)
    return np.degrees(np.arccos(np.clip(c, -1, 1)))


def _votable_bytes(table: Table | None, status: str = "OK", message: str = "", overflow: bool = False) -> bytes:
    vot = from_table(table if table is not None else Table({"x": [0.0]})[:0])
    res = vot.resources[0]
    res.type = "results"
    info = Info(name="QUERY_STATUS", value=status)
    if message:
        info.content = message
    res.infos.append(info)
    if overflow:
        res.infos.append(Info(name="QUERY_STATUS", value="OVERFLOW"))
    buf = io.BytesIO()
    vot.to_xml(buf, tabledata_format="binary2")  # astropy's C TABLEDATA writer corrupts memory (#20419)
    return buf.getvalue()


_CAPABILITIES = """<?xml version="1.0" encoding="UTF-8"?>
<vosi:capabilities xmlns:vosi="http://www.ivoa.net/xml/VOSICapabilities/v1.0"
  xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:vs="http://www.ivoa.net/xml/VODataService/v1.1"
  xmlns:tr="http://www.ivoa.net/xml/TAPRegExt/v1.0">
 <capability standardID="ivo://ivoa.net/std/TAP" xsi:type="tr:TableAccess">
  <interface xsi:type="vs:ParamHTTP" role="std"><accessURL use="base">{base}</accessURL></interface>
  <language><name>ADQL</name><version ivo-id="ivo://ivoa.net/std/ADQL#v2.0">2.0</version></language>
 </capability>
</vosi:capabilities>"""

_TABLES = """<?xml version="1.0" encoding="UTF-8"?>
<vosi:tableset xmlns:vosi="http://www.ivoa.net/xml/VOSITables/v1.0"
  xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:vs="http://www.ivoa.net/xml/VODataService/v1.1">
 <schema><name>test</name>{tables}</schema>
</vosi:tableset>"""


class FakeTap:
    """A TAP server on 127.0.0.1 answering from in-memory tables.

    ``datasets`` maps a table name as written after FROM to (table, ra column, dec column) of the
    served rows. ``fail_next`` is a list of HTTP codes returned (plain text) to the next requests.
    """

    def __init__(self, datasets: dict[str, tuple[Table, str, str]]):
        self.datasets = datasets
        self.queries: list[str] = []
        self.params: list[dict[str, str]] = []
        self.fail_next: list[int] = []
        self.n_sync = 0
        self.n_other = 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output clean
                pass

            def _send(self, code: int, body: bytes, ctype: str) -> None:
                self.send_response(code)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _params(self) -> dict[str, str]:
                url = urllib.parse.urlsplit(self.path)
                params = dict(urllib.parse.parse_qsl(url.query))
                if self.command == "POST":
                    n = int(self.headers.get("Content-Length") or 0)
                    params.update(urllib.parse.parse_qsl(self.rfile.read(n).decode()))
                return {k.upper(): v for k, v in params.items()}

            def do_GET(self):
                self._route()

            def do_POST(self):
                self._route()

            def _route(self):
                path = urllib.parse.urlsplit(self.path).path.rstrip("/")
                params = self._params()
                if path.endswith("/capabilities"):
                    server.n_other += 1
                    return self._send(200, _CAPABILITIES.format(base=server.url).encode(), "text/xml")
                if path.endswith("/tables"):
                    server.n_other += 1
                    tables = "".join(f"<table><name>{n}</name></table>" for n in server.datasets)
                    return self._send(200, _TABLES.format(tables=tables).encode(), "text/xml")
                if not path.endswith("/sync"):
                    return self._send(404, b"not found", "text/plain")
                server.n_sync += 1
                server.params.append(params)
                if server.fail_next:
                    code = server.fail_next.pop(0)
                    return self._send(code, f"temporarily unavailable ({code})".encode(), "text/plain")
                code, body = server.answer(params)
                self._send(code, body, "application/x-votable+xml")

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/tap"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def answer(self, params: dict[str, str]) -> tuple[int, bytes]:
        if params.get("REQUEST") != "doQuery" or params.get("LANG") != "ADQL" or "QUERY" not in params:
            return 400, _votable_bytes(None, "ERROR", f"bad TAP parameters {sorted(params)}")
        query = params["QUERY"]
        self.queries.append(query)
        m = re.search(r"\bFROM\s+(\"[^\"]+\"|[\w.]+)", query)
        name = m.group(1).strip('"') if m else ""
        if name not in self.datasets:
            return 400, _votable_bytes(None, "ERROR", f"Table {name!r} does not exist")
        table, ra_col, dec_col = self.datasets[name]
        keep = np.ones(len(table), bool)
        circle = re.search(rf"CIRCLE\('ICRS', {_NUM}, {_NUM}, {_NUM}\)", query)
        if circle:
            ra0, dec0, r = map(float, circle.groups())
            keep &= _sep_deg(table[ra_col], table[dec_col], ra0, dec0) <= r
        between = re.findall(rf"BETWEEN {_NUM} AND {_NUM}", query)
        if between:
            (a, b), (c, d) = [(float(x), float(y)) for x, y in between]
            ra, dec = np.asarray(table[ra_col]), np.asarray(table[dec_col])
            keep &= (ra >= a) & (ra <= b) & (dec >= c) & (dec <= d)
        rows = table[keep]
        maxrec = int(params.get("MAXREC", 10**9))
        overflow = len(rows) > maxrec
        return 200, _votable_bytes(rows[:maxrec], overflow=overflow)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)


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
              "azero_gspphot", "distance_gspphot", "r_med_geo", "r_lo_geo", "r_hi_geo", "r_med_photogeo",
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
    for col in ("mag_aper_6_0", "mag_err_aper_6_0", "mag_auto", "flags", "mask_flags",
                "mag_aper_cor_6_0", "mag_err_aper_cor_6_0", "ax"):
        for b in JPLUS_BANDS:
            t[f"{col}_{b}"] = rng.uniform(14, 21, n)
    t["ebv"] = rng.uniform(0, 0.1, n)
    t["total_prob_star"] = rng.uniform(0, 1, n)
    return t


def hr23_tables(seed=4) -> tuple[Table, Table]:
    rng = np.random.default_rng(seed)
    clusters = Table({"Name": ["NGC_0000", "Far_1"], "ID": [1, 2], "RA_ICRS": [10.1, 30.0], "DE_ICRS": [41.1, 10.0]})
    for c in ("pmRA", "pmDE", "Plx", "r50", "logAge50", "AV50", "dist50", "CST"):
        clusters[c] = rng.uniform(0, 1, 2)
    clusters["N"] = [50, 20]
    clusters["Type"] = ["o", "o"]
    m = 30
    ra, dec = _positions(rng, m, spread=0.5)
    members = Table({"Name": ["NGC_0000"] * m, "ID": np.ones(m, int), "GaiaDR3": np.arange(m, dtype=np.int64) + 7,
                     "Prob": rng.uniform(0.5, 1, m), "RA_ICRS": ra, "DE_ICRS": dec})
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


def _inside(table, ra_col, dec_col, cone=CONE):
    return _sep_deg(table[ra_col], table[dec_col], cone.ra_deg, cone.dec_deg) <= cone.radius_deg


@pytest.fixture
def gaia_server():
    t = gaia_table()
    with FakeTap({"gaiadr3.gaia_source": (t, "ra", "dec")}) as srv:
        yield srv, t


def _config(srv, tmp_path, **kw) -> FetchConfig:
    base = {"ra_deg": CONE.ra_deg, "dec_deg": CONE.dec_deg, "radius_deg": CONE.radius_deg, "surveys": ["gaia"],
            "page_size_deg": 0.5, "cache_dir": tmp_path / "cache", "backoff_s": 0.01, "max_retries": 3,
            "timeout_s": 10, "service_urls": {s: srv.url for s in ("jplus", "gaia", "irsa", "vizier")}}
    base.update(kw)
    return FetchConfig(**base)


# ------------------------------------------------------------------------------------------------
# Tests
# ------------------------------------------------------------------------------------------------


def test_paging_recovers_every_star_in_the_cone_once(gaia_server, tmp_path):
    srv, truth = gaia_server
    res = fetch_product("gaia", _config(srv, tmp_path))
    expected = set(truth["source_id"][_inside(truth, "ra", "dec")])
    got = list(res.table["source_id"])
    assert set(got) == expected and len(got) == len(expected)
    assert res.n_duplicates == 2  # the two stars placed on page edges came back twice
    pages = tile_cone(CONE, 0.5)
    assert res.n_queries == len(pages) == len(srv.queries) > 1
    for q, box in zip(srv.queries, pages):
        assert "FROM gaiadr3.gaia_source AS g" in q
        assert "LEFT OUTER JOIN gaiadr3.astrophysical_parameters AS ap ON ap.source_id = g.source_id" in q
        assert "LEFT OUTER JOIN external.gaiaedr3_distance AS d ON d.source_id = g.source_id" in q
        assert "CIRCLE('ICRS', 10.0, 41.0, 0.5)" in q
        assert f"g.ra BETWEEN {box.ra_min!r} AND {box.ra_max!r}" in q
        for col in ("g.parallax", "g.ruwe", "ap.azero_gspphot", "d.r_med_photogeo", "g.phot_bp_mean_mag"):
            assert col in q
    assert all(p["MAXREC"] == "100000" for p in srv.params)


def test_full_pages_are_split_until_complete(gaia_server, tmp_path):
    srv, truth = gaia_server
    n_inside = int(_inside(truth, "ra", "dec").sum())
    res = fetch_product("gaia", _config(srv, tmp_path, max_rows_per_query=10, use_cache=False))
    assert res.n_split > 0
    assert len(res.table) == n_inside
    assert res.n_queries == len(srv.queries) == len(tile_cone(CONE, 0.5)) + 4 * res.n_split


def test_split_depth_limit_gives_a_clear_error(gaia_server, tmp_path):
    srv, _ = gaia_server
    with pytest.raises(ArchiveError, match="row limit .* after 1 splits"):
        fetch_product("gaia", _config(srv, tmp_path, max_rows_per_query=2, max_split_depth=1, use_cache=False))


def test_cache_second_call_sends_no_request(gaia_server, tmp_path):
    srv, _ = gaia_server
    cfg = _config(srv, tmp_path)
    first = fetch_product("gaia", cfg)
    n = srv.n_sync
    second = fetch_product("gaia", cfg)
    assert srv.n_sync == n  # everything came from the cache
    assert list(second.table["source_id"]) == list(first.table["source_id"])
    assert np.allclose(second.table["phot_g_mean_mag"], first.table["phot_g_mean_mag"])
    files = sorted((tmp_path / "cache" / "gaia").iterdir())
    assert len(files) == first.n_queries and all(f.suffix == ".vot" for f in files)  # no .part left
    # another cone is another query: it goes to the server
    fetch_product("gaia", cfg.model_copy(update={"radius_deg": 0.3}))
    assert srv.n_sync > n


def test_retries_a_503_then_succeeds(gaia_server, tmp_path):
    srv, _ = gaia_server
    srv.fail_next = [503, 503]
    waits: list[float] = []
    client = TapClient(srv.url, cache_dir=None, backoff_s=0.5, max_retries=3, sleep=waits.append)
    table = client.run("SELECT * FROM gaiadr3.gaia_source WHERE " + "1 = CONTAINS(POINT('ICRS', ra, dec), "
                       "CIRCLE('ICRS', 10.0, 41.0, 0.5))")
    assert len(table) > 0
    assert waits == [0.5, 1.0]  # exponential backoff
    assert client.n_requests == srv.n_sync == 3


def test_persistent_503_gives_up_after_bounded_retries(gaia_server, tmp_path):
    srv, _ = gaia_server
    srv.fail_next = [503] * 10
    waits: list[float] = []
    client = TapClient(srv.url, cache_dir=tmp_path, backoff_s=1.0, backoff_max_s=1.5, max_retries=2,
                       sleep=waits.append)
    with pytest.raises(ArchiveError) as info:
        client.run("SELECT * FROM gaiadr3.gaia_source")
    assert srv.n_sync == 3 and waits == [1.0, 1.5]
    msg = str(info.value)
    assert info.value.transient and "after 3 attempts" in msg and "HTTP 503" in msg
    assert "re-run the same command later" in msg and "already fetched are cached" in msg
    assert not list(tmp_path.iterdir())  # nothing cached from a failed query


def test_rejected_query_is_not_retried_and_says_what_to_do(gaia_server):
    srv, _ = gaia_server
    waits: list[float] = []
    client = TapClient(srv.url, max_retries=3, sleep=waits.append)
    with pytest.raises(ArchiveError) as info:
        client.run("SELECT * FROM gaiadr3.no_such_table")
    assert srv.n_sync == 1 and waits == []
    msg = str(info.value)
    assert not info.value.transient
    assert "rejected the query" in msg and "no_such_table" in msg and "column or table names" in msg
    assert isinstance(info.value, ConnectionError)  # also a builtin, per the style guide


def test_forbidden_service_says_it_may_need_a_login(gaia_server):
    srv, _ = gaia_server
    srv.fail_next = [403]
    with pytest.raises(ArchiveError, match="refused access .*login"):
        TapClient(srv.url, sleep=lambda s: None).run("SELECT * FROM gaiadr3.gaia_source")
    assert srv.n_sync == 1


def test_unreachable_service_is_retried_then_explained():
    import socket

    with socket.socket() as s:  # a loopback port with nobody listening
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    waits: list[float] = []
    client = TapClient(f"http://127.0.0.1:{port}/tap", max_retries=2, backoff_s=0.01, timeout_s=2,
                       sleep=waits.append)
    with pytest.raises(ArchiveError, match="could not connect.*network connection"):
        client.run("SELECT 1 FROM x")
    assert client.n_requests == 3 and len(waits) == 2


def test_damaged_cache_file_is_fetched_again(gaia_server, tmp_path):
    srv, _ = gaia_server
    client = TapClient(srv.url, cache_dir=tmp_path)
    q = "SELECT * FROM gaiadr3.gaia_source WHERE 1 = CONTAINS(POINT('ICRS', ra, dec), CIRCLE('ICRS', 10.0, 41.0, 0.2))"
    n = len(client.run(q))
    client.cache_path(q, None).write_text("<VOTABLE broken")
    assert len(client.run(q)) == n and srv.n_sync == 2


def test_empty_region_gives_an_empty_table_with_columns(gaia_server, tmp_path):
    srv, _ = gaia_server
    res = fetch_product("gaia", _config(srv, tmp_path, ra_deg=200.0, dec_deg=-30.0, radius_deg=0.2))
    assert len(res.table) == 0 and "phot_g_mean_mag" in res.table.colnames


@pytest.fixture(scope="module")
def all_surveys_server():
    clusters, members = hr23_tables()
    datasets = {
        "jplus.MagABDualObj": (jplus_table(), "alpha_j2000", "delta_j2000"),
        "gaiadr3.gaia_source": (gaia_table(), "ra", "dec"),
        "catwise_2020": (catwise_table(), "ra", "dec"),
        "J/A+A/673/A114/clusters": (clusters, "RA_ICRS", "DE_ICRS"),
        "J/A+A/673/A114/members": (members, "RA_ICRS", "DE_ICRS"),
        "V/164/stellar5": (lamost_table(), "ra", "dec"),
    }
    with FakeTap(datasets) as srv:
        yield srv, datasets


ALL_SURVEYS = ["jplus", "gaia", "catwise", "hr23", "lamost"]


@pytest.fixture(scope="module")
def fetched_all(all_surveys_server, tmp_path_factory):
    """All products fetched once from the loopback server: (server, datasets, config, out dir, paths)."""
    srv, datasets = all_surveys_server
    tmp = tmp_path_factory.mktemp("fetch")
    cfg = _config(srv, tmp, surveys=ALL_SURVEYS)
    paths = fetch(cfg, tmp / "out")
    return srv, datasets, cfg, tmp / "out", paths


def test_fetch_writes_native_tables_with_provenance(fetched_all):
    import pandas as pd

    srv, datasets, cfg, out, paths = fetched_all
    assert set(paths) == {"jplus", "gaia", "catwise", "hr23_clusters", "hr23_members", "lamost"}
    expect = {"jplus": "jplus.MagABDualObj", "gaia": "gaiadr3.gaia_source", "catwise": "catwise_2020",
              "hr23_clusters": "J/A+A/673/A114/clusters", "hr23_members": "J/A+A/673/A114/members",
              "lamost": "V/164/stellar5"}
    manifest = json.loads((out / "fetch.json").read_text())
    assert manifest["config_hash"] and manifest["versions"]["pyvo" if "pyvo" in manifest["versions"] else "astropy"]
    for name, path in paths.items():
        df = pd.read_parquet(path)
        truth, ra_col, dec_col = datasets[expect[name]]
        inside = truth[_inside(truth, ra_col, dec_col)]
        assert len(df) == len(inside), name
        assert manifest["products"][name]["n_rows"] == len(df)
        assert manifest["products"][name]["service_url"] == srv.url
    # native names the readers know
    assert {"tile_id", "number", "alpha_j2000", "mag_aper_6_0_J0660", "mag_err_aper_cor_6_0_rSDSS",
            "ax_uJAVA", "ebv", "total_prob_star"} <= set(pd.read_parquet(paths["jplus"]).columns)
    assert {"source_name", "w1mpro", "w2sigmpro"} <= set(pd.read_parquet(paths["catwise"]).columns)
    assert {"obsid", "teff", "feh_err", "snrg"} <= set(pd.read_parquet(paths["lamost"]).columns)
    assert list(pd.read_parquet(paths["hr23_clusters"])["Name"]) == ["NGC_0000"]
    prov = json.loads(Table.read(paths["gaia"]).meta["ocfeh_provenance"])
    assert prov["config_hash"] == manifest["config_hash"] and "Gaia DR3" in prov["citation"]
    # the queries name the right tables and columns
    q = {name: next(x for x in srv.queries if f"FROM {t}" in x or f'FROM "{t}"' in x) for name, t in expect.items()}
    assert "o.mag_aper_6_0[jplus::J0660] AS mag_aper_6_0_J0660" in q["jplus"]
    assert "p.mag_aper_cor_6_0[jplus::zSDSS] AS mag_aper_cor_6_0_zSDSS" in q["jplus"]
    for t in ("jplus.MagABDualPointSources", "jplus.MWExtinction", "jplus.StarGalClass"):
        assert t in q["jplus"]
    assert "POINT('ICRS', o.alpha_j2000, o.delta_j2000)" in q["jplus"]
    assert "w1mpro" in q["catwise"] and "POINT('ICRS', ra, dec)" in q["catwise"]
    assert '"[Fe/H]" AS "feh"' in q["lamost"]
    assert 'POINT(\'ICRS\', "RA_ICRS", "DE_ICRS")' in q["hr23_members"]
    # a second run refuses to overwrite; with overwrite it reuses the cache (no new request)
    from ocfeh.exceptions import InputError

    with pytest.raises(InputError, match="already exist.*--overwrite"):
        fetch(cfg, out)
    n = srv.n_sync
    fetch(cfg.model_copy(update={"overwrite": True}), out)
    assert srv.n_sync == n


def test_votable_output_reads_back(all_surveys_server, tmp_path):
    srv, _ = all_surveys_server
    paths = fetch(_config(srv, tmp_path, surveys=["catwise"], format="votable"), tmp_path / "o")
    t = Table.read(paths["catwise"], format="votable")
    assert paths["catwise"].suffix == ".vot" and "w1sigmpro" in t.colnames and len(t) > 0


@pytest.mark.parametrize(
    ("product", "reader", "columns"),
    [
        ("jplus", "jplus", ["mag_J0660", "mag_err_rSDSS"]),
        ("jplus", "jplus_cor", ["mag_zSDSS"]),
        ("gaia", "gaia", ["source_id", "parallax", "mag_G"]),
        ("catwise", "catwise", ["mag_W1", "mag_err_W2"]),
        ("lamost", "lamost", ["teff", "feh_err"]),
        ("hr23_clusters", "hr23_clusters", []),
        ("hr23_members", "hr23_members", []),
    ],
)
def test_readers_read_fetched_files(fetched_all, product, reader, columns):
    catalogs = pytest.importorskip("ocfeh.catalogs")
    if reader not in catalogs.readers:
        pytest.skip(f"no {reader!r} reader registered yet")
    paths = fetched_all[-1]
    df = catalogs.read_catalog(paths[product], reader)
    assert len(df) == len(Table.read(paths[product])) > 0
    for col in columns:
        assert col in df.columns, (reader, sorted(df.columns))
        assert df[col].notna().all()


def test_cli_fetch(all_surveys_server, tmp_path):
    from typer.testing import CliRunner

    from ocfeh.cli import app

    srv, _ = all_surveys_server
    out = tmp_path / "cli"
    result = CliRunner().invoke(app, [
        "fetch", "--survey", "catwise", "--survey", "lamost", "--ra", "10", "--dec", "41", "--radius", "0.5",
        "-o", str(out), "--service", f"irsa={srv.url}", "--service", f"vizier={srv.url}",
        "--cache-dir", str(tmp_path / "c"), "--page-size", "2",
    ])
    assert result.exit_code == 0, result.output
    assert (out / "catwise.parquet").is_file() and (out / "lamost.parquet").is_file()
    assert not (out / "gaia.parquet").exists()
    bad = CliRunner().invoke(app, ["fetch", "--ra", "400", "--dec", "0", "--radius", "1", "-o", str(out)])
    assert bad.exit_code != 0 and "ra_deg" in str(bad.exception)


def test_config_rejects_unknown_keys_and_services():
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="extra"):
        FetchConfig(ra_deg=1, dec_deg=1, radius_deg=1, radius_arcsec=3)
    with pytest.raises(ValidationError, match="unknown service"):
        FetchConfig(ra_deg=1, dec_deg=1, radius_deg=1, service_urls={"simbad": "http://127.0.0.1/tap"})
    with pytest.raises(ValidationError):
        FetchConfig(ra_deg=1, dec_deg=1, radius_deg=1, surveys=["sdss"])


def test_failed_fetch_leaves_no_empty_output_folder(tmp_path):
    import socket

    with socket.socket() as s:  # a loopback port with nobody listening: like no network
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}/tap"
    cfg = FetchConfig(ra_deg=10.0, dec_deg=41.0, radius_deg=0.2, surveys=["gaia"], use_cache=False, max_retries=0,
                      timeout_s=2, service_urls={"gaia": url})
    with pytest.raises(ArchiveError):
        fetch(cfg, tmp_path / "new" / "out", sleep=lambda s: None)
    assert not (tmp_path / "new").exists()
    (tmp_path / "mine").mkdir()  # a folder that existed before stays
    with pytest.raises(ArchiveError):
        fetch(cfg, tmp_path / "mine", sleep=lambda s: None)
    assert (tmp_path / "mine").is_dir()
