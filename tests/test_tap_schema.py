"""The schema check and the dry run of ``ocfeh fetch`` against the loopback TAP server, whose
TAP_SCHEMA holds the services' published column lists (``tests/data/tap_schema``)."""

from __future__ import annotations

import re

import pytest
from typer.testing import CliRunner

from ocfeh.catalogs.archive_columns import ARCHIVE
from ocfeh.catalogs.tap import ArchiveError, check, dry_run, fetch, fetch_product
from ocfeh.catalogs.tap_adql import PRODUCTS, tile_cone
from ocfeh.catalogs.tap_client import TapClient
from ocfeh.catalogs.tap_schema import check_names
from ocfeh.cli import app
from ocfeh.exceptions import InputError

from .tap_server import FakeTap, load_schemas
from .tap_tables import all_datasets, fetch_config

ALL = ["jplus", "gaia", "catwise", "hr23", "lamost"]


@pytest.fixture(scope="module")
def server():
    with FakeTap(all_datasets()) as srv:
        yield srv


def _cli(srv, *args):
    urls = [x for s in ("jplus", "gaia", "irsa", "vizier") for x in ("--service", f"{s}={srv.url}")]
    return CliRunner().invoke(app, ["fetch", "--ra", "10", "--dec", "41", "--radius", "0.5", "--no-cache",
                                    "--page-size", "0.5", *urls, *args])


def test_every_name_ocfeh_sends_is_in_the_published_schemas(server, tmp_path):
    found = check(fetch_config(server, tmp_path, surveys=ALL, use_cache=False))
    assert set(found) == set(PRODUCTS)
    assert all(problems == [] for problems in found.values()), {k: [p.message() for p in v] for k, v in found.items()}
    schemas = load_schemas()
    for names in ARCHIVE.values():  # the fixtures hold every table the column table names
        assert all(t.name in schemas for t in names.tables), names.product


# The names ocfeh sent before they were checked against the services' schemas: each is refused the
# way a real TAP service refuses it (HTTP 400 with a VOTable error), and the check names the fix.
OLD_NAMES = [
    ("jplus", "prob_star", "total_prob_star", "sglc_prob_star"),
    ("lamost", "feh_err", "e_FeH", "e_[Fe/H]"),  # a misspelt name of the kind a release change brings
]


@pytest.mark.parametrize(("product", "key", "old", "new"), OLD_NAMES)
def test_old_names_are_refused_and_the_check_names_the_service_name(server, tmp_path, product, key, old, new):
    cfg = fetch_config(server, tmp_path, surveys=ALL, use_cache=False, columns={product: {key: old}})
    names = ARCHIVE[product].with_names({key: old})
    query = PRODUCTS[product].build(cfg.cone, None, names=names)
    with pytest.raises(ArchiveError, match=f"rejected the query.*Column '{re.escape(old)}' does not exist"):
        TapClient(server.url, max_retries=0).run(query)
    problems = check_names(names, TapClient(server.url))
    assert [p.column for p in problems] == [old]
    msg = problems[0].message()
    assert new in problems[0].closest and f"--column {product}.{key}=NAME" in msg and "\n" not in msg


def test_old_jplus_error_column_and_hr23_columns_are_not_in_the_schemas():
    schemas = load_schemas()
    assert "mag_err_aper_cor_6_0" not in schemas["jplus.MagABDualPointSources"]
    assert "mag_aper_cor_6_0" in schemas["jplus.MagABDualPointSources"]
    assert "total_prob_star" not in schemas["jplus.StarGalClass"]



def test_lamost_tables_of_each_release_pass_the_check(server):
    from ocfeh.catalogs.archive_columns import LAMOST_VIZIER

    assert {"V/164/stellar5": "LAMOST DR5 LRS", "V/156/dr7slrs": "LAMOST DR7 LRS"} == {
        k: v.release for k, v in LAMOST_VIZIER.items()}
    for names in LAMOST_VIZIER.values():
        assert check_names(names, TapClient(server.url)) == [], names.release


def test_a_missing_column_stops_the_fetch_before_any_data_query(server, tmp_path):
    n = len(server.queries)
    cfg = fetch_config(server, tmp_path, surveys=["gaia", "jplus"], use_cache=False,
                       columns={"jplus": {"prob_star": "total_prob_star"}})
    with pytest.raises(ArchiveError) as info:
        fetch(cfg, tmp_path / "out")
    sent = server.queries[n:]
    assert sent and all("TAP_SCHEMA" in q for q in sent)  # not one data query
    assert not (tmp_path / "out").exists()
    msg = str(info.value)
    assert "total_prob_star" in msg and "sglc_prob_star" in msg and "jplus.StarGalClass" in msg


def test_a_missing_table_is_named_with_the_tables_near_it(tmp_path):
    schemas = load_schemas()
    del schemas["gaiadr3.astrophysical_parameters"]
    with FakeTap({}, schemas=schemas) as srv:
        problems = check_names(ARCHIVE["gaia"], TapClient(srv.url))
    assert [(p.table, p.column) for p in problems] == [("gaiadr3.astrophysical_parameters", None)]
    assert "gaiadr3.gaia_source" in problems[0].closest
    assert "--service" in problems[0].message()


def test_regular_names_match_in_any_case_delimited_names_exactly(tmp_path):
    schemas = load_schemas()
    schemas["catwise_2020"] = [c.upper() for c in schemas["catwise_2020"]]
    schemas["J/A+A/673/A114/clusters"] = [c.lower() for c in schemas["J/A+A/673/A114/clusters"]]
    with FakeTap({}, schemas=schemas) as srv:
        assert check_names(ARCHIVE["catwise"], TapClient(srv.url)) == []
        problems = check_names(ARCHIVE["hr23_clusters"], TapClient(srv.url))
    ra = next(p for p in problems if p.column == "RA_ICRS")
    changed = [c.name for c in ARCHIVE["hr23_clusters"].columns if c.name != c.name.lower()]
    assert [p.column for p in problems] == changed and ra.closest[0] == "ra_icrs"


def test_check_cli_says_ok_or_names_what_is_missing(server):
    ok = _cli(server, "--check")
    assert ok.exit_code == 0, ok.output
    assert ok.output.count(": ok,") == len(PRODUCTS) and "J-PLUS DR3" in ok.output
    bad = _cli(server, "--check", "--survey", "jplus", "--column", "jplus.prob_star=total_prob_star")
    assert bad.exit_code == 1
    assert "MISSING" in bad.output and "sglc_prob_star" in bad.output


def test_dry_run_lists_the_pages_the_fetch_sends_with_their_counts(server, tmp_path):
    cfg = fetch_config(server, tmp_path, surveys=["gaia"], use_cache=False, max_rows_per_query=8)
    n = len(server.queries)
    pages = dry_run(cfg)
    assert all("COUNT(*)" in q or "TAP_SCHEMA" in q for q in server.queries[n:])  # no rows fetched
    assert len(pages) > len(tile_cone(cfg.cone, cfg.page_size_deg))  # full pages were split, as a fetch splits
    assert all(p.n_rows is not None and p.n_rows < 8 for p in pages)
    res = fetch_product("gaia", cfg)
    assert [q for q in res.queries if q in {p.adql for p in pages}] == [p.adql for p in pages]
    assert len(res.queries) - len(pages) == res.n_split  # the fetch also sent the pages it split
    assert sum(p.n_rows for p in pages) == len(res.table) + res.n_duplicates


def test_dry_run_cli_prints_adql_and_counts_and_writes_nothing(server, tmp_path):
    out = tmp_path / "never"
    result = _cli(server, "--dry-run", "--survey", "catwise", "--survey", "hr23", "-o", str(out))
    assert result.exit_code == 0, result.output
    assert "FROM catwise_2020" in result.output and 'FROM "J/A+A/673/A114/members"' in result.output
    assert "-- catwise: " in result.output and " rows" in result.output
    assert not out.exists()


def test_hr23_fetches_only_the_clusters_asked_for(server, tmp_path):
    import pandas as pd

    cfg = fetch_config(server, tmp_path, surveys=["hr23"], use_cache=False, clusters=["theia 17"])
    paths = fetch(cfg, tmp_path / "o")
    members = pd.read_parquet(paths["hr23_members"])
    assert set(members["Name"]) == {"Theia_17"} and len(members) == 10
    assert list(pd.read_parquet(paths["hr23_clusters"])["Name"]) == ["Theia_17"]
    assert any("\"Name\" IN ('Theia_17')" in q for q in server.queries)
    assert not any(q.lstrip().upper().startswith("SELECT *") for q in server.queries)
    with pytest.raises(InputError, match="no cluster 'NGC 1'.*Closest there: NGC_0000"):
        fetch(cfg.model_copy(update={"clusters": ["NGC 1"]}), tmp_path / "o2")
