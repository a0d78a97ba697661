"""The services' real failure modes, played by the loopback TAP server: each gives a one-line error
or a retry, and a fetch resumed after a failure neither loses nor duplicates rows."""

from __future__ import annotations

import pytest

from ocfeh.catalogs.tap import ArchiveError, fetch_product
from ocfeh.catalogs.tap_adql import tile_cone
from ocfeh.catalogs.tap_client import TapClient

from .tap_server import FakeTap
from .tap_tables import CONE, fetch_config, gaia_table, inside

QUERY = ("SELECT source_id, ra, dec FROM gaiadr3.gaia_source "
         "WHERE 1 = CONTAINS(POINT('ICRS', ra, dec), CIRCLE('ICRS', 10.0, 41.0, 0.5))")


@pytest.fixture
def gaia():
    t = gaia_table()
    with FakeTap({"gaiadr3.gaia_source": (t, "ra", "dec")}) as srv:
        yield srv, t


def test_a_multi_line_rejection_is_one_line(gaia):
    srv, _ = gaia
    with pytest.raises(ArchiveError) as info:
        TapClient(srv.url, max_retries=0).run("SELECT nope FROM gaiadr3.gaia_source\nWHERE 1 = 1")
    assert "Column 'nope' does not exist" in str(info.value) and "\n" not in str(info.value)


def test_query_status_error_in_a_200_answer_is_one_line_and_not_retried(gaia):
    srv, _ = gaia
    srv.failures = ["error"]
    with pytest.raises(ArchiveError) as info:
        TapClient(srv.url, max_retries=3, sleep=lambda s: None).run(QUERY)
    msg = str(info.value)
    assert "out of memory" in msg and "\n" not in msg and not info.value.transient
    assert srv.n_sync == 1


@pytest.mark.parametrize("failure", ["html", "truncate", "stall", 502])
def test_transient_failures_are_retried_then_succeed(gaia, failure):
    srv, truth = gaia
    srv.failures, srv.stall_s = [failure], 2.5
    waits: list[float] = []
    client = TapClient(srv.url, max_retries=2, backoff_s=0.01, timeout_s=1.0, sleep=waits.append)
    table = client.run(QUERY)
    assert len(table) == int(inside(truth, "ra", "dec").sum())
    assert client.n_requests == 2 and len(waits) == 1


@pytest.mark.parametrize(("failure", "words"), [("html", "HTML page instead of a VOTable"),
                                                 ("stall", "timed out"), ("truncate", "")])
def test_persistent_failures_end_in_one_line(gaia, failure, words):
    srv, _ = gaia
    srv.failures, srv.stall_s = [failure] * 5, 2.5
    with pytest.raises(ArchiveError) as info:
        TapClient(srv.url, max_retries=1, backoff_s=0.01, timeout_s=1.0, sleep=lambda s: None).run(QUERY)
    msg = str(info.value)
    assert info.value.transient and "after 2 attempts" in msg and words in msg and "\n" not in msg


def test_a_service_row_limit_below_maxrec_is_split_not_lost(tmp_path):
    truth = gaia_table()
    with FakeTap({"gaiadr3.gaia_source": (truth, "ra", "dec")}, row_limit=7) as srv:
        cfg = fetch_config(srv, tmp_path, max_rows_per_query=1000)
        res = fetch_product("gaia", cfg)
        assert res.n_split > 0  # OVERFLOW pages were split although they held fewer rows than MAXREC
        expected = set(truth["source_id"][inside(truth, "ra", "dec")])
        assert set(res.table["source_id"]) == expected and len(res.table) == len(expected)
        cached = len(list((tmp_path / "cache" / "gaia").iterdir()))
        assert cached == res.n_queries - res.n_split  # a cut page is never cached


def test_a_resumed_fetch_neither_loses_nor_duplicates_rows(gaia, tmp_path):
    srv, truth = gaia
    cfg = fetch_config(srv, tmp_path, max_retries=0, max_rows_per_query=20)
    n_pages = len(tile_cone(CONE, cfg.page_size_deg))
    srv.failures = [None, None, None, 503]  # three queries answered, then the service goes down
    with pytest.raises(ArchiveError, match="HTTP 503"):
        fetch_product("gaia", cfg)
    n_before = srv.n_sync
    res = fetch_product("gaia", cfg)
    expected = set(truth["source_id"][inside(truth, "ra", "dec")])
    assert set(res.table["source_id"]) == expected and len(res.table) == len(expected)
    assert srv.n_sync - n_before == res.n_queries - 3  # the three answered queries came from the cache
    assert res.n_queries >= n_pages
