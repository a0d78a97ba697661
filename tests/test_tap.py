"""``ocfeh fetch`` against the loopback TAP server of :mod:`tests.tap_server` (never a real archive):
paging, splitting, de-duplication, the cache, retries, output files and the readers that read them."""

from __future__ import annotations

import json

import numpy as np
import pytest
from astropy.table import Table

from ocfeh.catalogs.tap import FetchConfig, fetch, fetch_product
from ocfeh.catalogs.tap_adql import tile_cone
from ocfeh.catalogs.tap_client import ArchiveError, TapClient

from .tap_server import FakeTap
from .tap_tables import (
    CONE,
    all_datasets,
    fetch_config,
    gaia_table,
    inside,
)


@pytest.fixture
def gaia_server():
    t = gaia_table()
    with FakeTap({"gaiadr3.gaia_source": (t, "ra", "dec")}) as srv:
        yield srv, t


# ------------------------------------------------------------------------------------------------
# Tests
# ------------------------------------------------------------------------------------------------


def test_paging_recovers_every_star_in_the_cone_once(gaia_server, tmp_path):
    srv, truth = gaia_server
    res = fetch_product("gaia", fetch_config(srv, tmp_path))
    expected = set(truth["source_id"][inside(truth, "ra", "dec")])
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
    n_inside = int(inside(truth, "ra", "dec").sum())
    res = fetch_product("gaia", fetch_config(srv, tmp_path, max_rows_per_query=10, use_cache=False))
    assert res.n_split > 0
    assert len(res.table) == n_inside
    assert res.n_queries == len(srv.queries) == len(tile_cone(CONE, 0.5)) + 4 * res.n_split


def test_split_depth_limit_gives_a_clear_error(gaia_server, tmp_path):
    srv, _ = gaia_server
    with pytest.raises(ArchiveError, match="row limit .* after 1 splits"):
        fetch_product("gaia", fetch_config(srv, tmp_path, max_rows_per_query=2, max_split_depth=1, use_cache=False))


def test_cache_second_call_sends_no_request(gaia_server, tmp_path):
    srv, _ = gaia_server
    cfg = fetch_config(srv, tmp_path)
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
    srv.failures = [503, 503]
    waits: list[float] = []
    client = TapClient(srv.url, cache_dir=None, backoff_s=0.5, max_retries=3, sleep=waits.append)
    table = client.run("SELECT * FROM gaiadr3.gaia_source WHERE " + "1 = CONTAINS(POINT('ICRS', ra, dec), "
                       "CIRCLE('ICRS', 10.0, 41.0, 0.5))")
    assert len(table) > 0
    assert waits == [0.5, 1.0]  # exponential backoff
    assert client.n_requests == srv.n_sync == 3


def test_persistent_503_gives_up_after_bounded_retries(gaia_server, tmp_path):
    srv, _ = gaia_server
    srv.failures = [503] * 10
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
    assert "rejected the query" in msg and "no_such_table" in msg and "Column or table names" in msg and "--check" in msg
    assert isinstance(info.value, ConnectionError)  # also a builtin, per the style guide


def test_forbidden_service_says_it_may_need_a_login(gaia_server):
    srv, _ = gaia_server
    srv.failures = [403]
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
    res = fetch_product("gaia", fetch_config(srv, tmp_path, ra_deg=200.0, dec_deg=-30.0, radius_deg=0.2))
    assert len(res.table) == 0 and "phot_g_mean_mag" in res.table.colnames


@pytest.fixture(scope="module")
def all_surveys_server():
    datasets = all_datasets()
    with FakeTap(datasets) as srv:
        yield srv, datasets


ALL_SURVEYS = ["jplus", "gaia", "catwise", "hr23", "lamost"]


@pytest.fixture(scope="module")
def fetched_all(all_surveys_server, tmp_path_factory):
    """All products fetched once from the loopback server: (server, datasets, config, out dir, paths)."""
    srv, datasets = all_surveys_server
    tmp = tmp_path_factory.mktemp("fetch")
    cfg = fetch_config(srv, tmp, surveys=ALL_SURVEYS)
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
        in_cone = truth[inside(truth, ra_col, dec_col)]
        assert len(df) == len(in_cone), name
        assert manifest["products"][name]["n_rows"] == len(df)
        assert manifest["products"][name]["service_url"] == srv.url
    # native names the readers know
    jplus_cols = set(pd.read_parquet(paths["jplus"]).columns)
    assert {"tile_id", "number", "alpha_j2000", "mag_aper_6_0_J0660", "mag_aper_cor_6_0_rSDSS", "mag_err_auto_gSDSS",
            "ax_uJAVA", "ebv", "sglc_prob_star"} <= jplus_cols
    assert not {"total_prob_star", "mag_err_aper_cor_6_0_rSDSS"} & jplus_cols  # names J-PLUS DR3 does not have
    assert {"source_name", "w1mpro", "w2sigmpro"} <= set(pd.read_parquet(paths["catwise"]).columns)
    assert {"obsid", "teff", "feh_err", "snrg"} <= set(pd.read_parquet(paths["lamost"]).columns)
    assert sorted(pd.read_parquet(paths["hr23_clusters"])["Name"]) == ["NGC_0000", "Theia_17"]  # not Far_1
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
    paths = fetch(fetch_config(srv, tmp_path, surveys=["catwise"], format="votable"), tmp_path / "o")
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
