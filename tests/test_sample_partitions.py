"""The out-of-core sample stage (``[sample] engine = "hats"``) against the in-memory one on a mock sky, cut into
many small partitions so that most matches meet a partition edge; a two-worker Dask cluster; a corrupt
partition, a partition with a column of the wrong type, and a catalogue stage killed half-way and resumed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("hats_import")
pytest.importorskip("distributed")

from ocfeh.exceptions import InputError
from ocfeh.sample import SampleConfig, build_catalog, build_sample
from ocfeh.sample.partitions import build_catalog_partitioned, build_sample_partitioned
from ocfeh.simulate import simulate_sky
from ocfeh.simulate.sources import mock_sources

pytestmark = pytest.mark.slow

ROWS = 3000  # rows per imported partition: dozens of partitions on this sky


def _config(sky: Path, labels: bool = True) -> SampleConfig:
    sources = mock_sources(sky)
    if not labels:
        sources.pop("labels")
    return SampleConfig.model_validate({"sources": sources})


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """The small mock sky, its sample and catalogue in memory, and through HATS partitions."""
    root = tmp_path_factory.mktemp("partitions")
    sky = root / "sky"
    simulate_sky(sky, n_stars=150_000, seed=5)
    mem, hats = root / "mem", root / "hats"
    mem.mkdir()
    hats.mkdir()
    paths = build_sample(_config(sky), mem, seed=3)
    build_catalog(_config(sky, False), mem / "catalog.parquet", zero_points=paths.zero_points, seed=3)
    hpaths = build_sample_partitioned(_config(sky), hats, seed=3, work_dir=root / "work", progress=False,
                                      partition_rows=ROWS)
    build_catalog_partitioned(_config(sky, False), hats / "catalog", zero_points=hpaths.zero_points, seed=3,
                              work_dir=root / "work", progress=False, partition_rows=ROWS)
    return {"root": root, "sky": sky, "mem": mem, "hats": hats, "work": root / "work"}


def _catalog(path: Path) -> pd.DataFrame:
    if path.is_dir():
        parts = sorted((path / "dataset").rglob("Npix=*.parquet"))
        df = pd.concat([pd.read_parquet(p) for p in parts], ignore_index=True)
    else:
        df = pd.read_parquet(path)
    return df.sort_values("source_id").reset_index(drop=True)


def test_the_imported_sky_is_cut_into_many_partitions(runs):
    n = len(list((runs["work"] / "gaia" / "catalog" / "dataset").rglob("Npix=*.parquet")))
    assert n >= 8
    assert json.loads((runs["hats"] / "sample.json").read_text())["engine"]["n_partitions"] == n


def test_the_sample_is_the_in_memory_sample_row_for_row(runs):
    a = pd.read_parquet(runs["mem"] / "sample.parquet")
    b = pd.read_parquet(runs["hats"] / "sample.parquet")
    assert len(a) > 150
    assert list(a.columns) == list(b.columns)
    pd.testing.assert_frame_equal(a, b, check_dtype=False, check_exact=False, rtol=1e-12)
    assert (a["split"] == b["split"]).all()


def test_the_cleaning_table_and_match_counts_add_up_to_the_whole_sky(runs):
    a = pd.read_csv(runs["mem"] / "cleaning.csv", keep_default_na=False)
    b = pd.read_csv(runs["hats"] / "cleaning.csv", keep_default_na=False)
    pd.testing.assert_frame_equal(a, b)
    xa = json.loads((runs["mem"] / "sample.json").read_text())["crossmatch"]
    xb = json.loads((runs["hats"] / "sample.json").read_text())["crossmatch"]
    for name, s in xa.items():
        for key in ("n_pairs", "n_ambiguous", "n_rejected"):
            assert xb[name][key] == s[key], (name, key)
        assert xb[name]["median_sep_arcsec"] == pytest.approx(s["median_sep_arcsec"], abs=2e-4)
    assert sum(s["n_ambiguous"] + s["n_rejected"] for s in xa.values()) > 0  # the edges were tested


def test_the_catalogue_holds_the_same_stars_with_float32_magnitudes(runs):
    a, b = _catalog(runs["mem"] / "catalog.parquet"), _catalog(runs["hats"] / "catalog")
    assert len(a) == len(b) and (a["source_id"].to_numpy() == b["source_id"].to_numpy()).all()
    assert b["source_id"].is_unique
    assert b["mag_G"].dtype == np.float32 and a["mag_G"].dtype == np.float64
    for col in a.columns:
        x, y = a[col], b[col]
        if x.dtype.kind == "f":
            np.testing.assert_allclose(y.astype(float), x, rtol=1e-6, atol=1e-5, err_msg=col)
        else:
            assert (x.isna() == y.isna()).all() and (x[x.notna()].astype(str) == y[y.notna()].astype(str)).all(), col
    assert (a["phot_quality"] == b["phot_quality"]).all()


def test_lsdb_opens_the_catalogue(runs):
    import lsdb

    cat = lsdb.open_catalog(runs["hats"] / "catalog")
    assert len(cat.compute()) == len(_catalog(runs["mem"] / "catalog.parquet"))


def test_a_two_worker_dask_cluster_gives_the_same_sample(runs, tmp_path):
    from distributed import LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        build_sample_partitioned(_config(runs["sky"]), tmp_path, seed=3, work_dir=runs["work"], progress=False,
                                 partition_rows=ROWS, scheduler=cluster.scheduler_address)
    pd.testing.assert_frame_equal(pd.read_parquet(runs["mem"] / "sample.parquet"),
                                  pd.read_parquet(tmp_path / "sample.parquet"), check_dtype=False)


def _copy_import(runs, tmp_path) -> Path:
    import shutil

    work = tmp_path / "work"
    shutil.copytree(runs["work"], work)
    return work


def test_an_unreadable_partition_is_named(runs, tmp_path):
    work = _copy_import(runs, tmp_path)
    leaf = sorted((work / "gaia" / "catalog" / "dataset").rglob("Npix=*.parquet"))[3]
    leaf.write_bytes(b"not a parquet file")
    with pytest.raises(InputError, match=rf"partition .*{leaf.name}.* cannot be read"):
        build_sample_partitioned(_config(runs["sky"]), tmp_path, seed=3, work_dir=work, progress=False,
                                 partition_rows=ROWS)
    assert not (tmp_path / "sample.parquet").exists()


def test_a_column_of_the_wrong_type_in_one_partition_is_named(runs, tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    work = _copy_import(runs, tmp_path)
    leaf = sorted((work / "gaia" / "catalog" / "dataset").rglob("Npix=*.parquet"))[2]
    table = pq.read_table(leaf)
    i = table.column_names.index("parallax")
    table = table.set_column(i, "parallax", pa.array(["n/a"] * table.num_rows))
    pq.write_table(table, leaf)
    with pytest.raises(InputError, match=rf"partition .*{leaf.name}.*parallax"):
        build_sample_partitioned(_config(runs["sky"]), tmp_path, seed=3, work_dir=work, progress=False,
                                 partition_rows=ROWS)


_KILLED_RUN = """
import sys, time
from pathlib import Path
import ocfeh.sample.partitions.tasks as tasks
from ocfeh.sample import SampleConfig
from ocfeh.sample.partitions import build_catalog_partitioned
from ocfeh.simulate.sources import mock_sources
slow = tasks.catalog_partition
def catalog_partition(*args, **kw):
    out = slow(*args, **kw)
    time.sleep(0.5)  # time to be killed half-way
    return out
tasks.catalog_partition = catalog_partition
import ocfeh.sample.partitions.stage as stage
stage.catalog_partition = catalog_partition
src = mock_sources(Path(sys.argv[1])); src.pop("labels")
build_catalog_partitioned(SampleConfig.model_validate({"sources": src}), Path(sys.argv[2]), seed=3,
                          work_dir=Path(sys.argv[3]), progress=False, partition_rows=int(sys.argv[4]))
"""


def test_a_killed_catalogue_stage_resumes_without_lost_or_repeated_rows(runs, tmp_path):
    out = tmp_path / "catalog"
    script = tmp_path / "run.py"
    script.write_text(_KILLED_RUN)
    proc = subprocess.Popen([sys.executable, str(script), str(runs["sky"]), str(out), str(runs["work"]), str(ROWS)],
                            start_new_session=True)
    counts = out / "partition_counts"
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None and len(list(counts.glob("*.json"))) < 3:
        time.sleep(0.1)
    assert proc.poll() is None, "the stage ended before it could be killed"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    n_done = len(list(counts.glob("*.json")))
    n_all = len(list((runs["hats"] / "catalog" / "dataset").rglob("Npix=*.parquet")))
    assert 3 <= n_done < n_all
    assert not (out / "properties").exists()  # not finished: no HATS metadata yet
    done = {p: p.stat().st_mtime_ns for p in counts.glob("*.json")}
    build_catalog_partitioned(_config(runs["sky"], False), out, seed=3, work_dir=runs["work"], progress=False,
                              partition_rows=ROWS)
    a = _catalog(runs["hats"] / "catalog")
    b = _catalog(out)
    assert b["source_id"].is_unique
    assert (a["source_id"].to_numpy() == b["source_id"].to_numpy()).all()
    assert not list(out.rglob(".*.part"))
    assert all(p.stat().st_mtime_ns == t for p, t in done.items())  # the finished partitions were kept


def test_an_existing_hats_catalogue_is_read_as_it_is(runs, tmp_path):
    """A Gaia HATS catalogue made elsewhere (hats-import without ocfeh, so without ocfeh's row numbers) and its
    margin, named in [sample.sources.gaia]: not imported again, same stars and counts; the split follows
    the source_id order instead of the file's."""
    from distributed import Client, LocalCluster
    from hats_import.catalog.arguments import ImportArguments
    from hats_import.margin_cache.margin_cache_arguments import MarginCacheArguments
    from hats_import.pipeline import pipeline_with_client

    from ocfeh.simulate.sources import FILES

    with LocalCluster(n_workers=1, threads_per_worker=2, processes=False, dashboard_address=None) as cluster, \
            Client(cluster) as client:
        pipeline_with_client(ImportArguments(
            output_path=tmp_path, output_artifact_name="gaia_dr3", input_file_list=[str(runs["sky"] / FILES["gaia"])],
            file_reader="parquet", pixel_threshold=ROWS, tmp_dir=tmp_path / "tmp", progress_bar=False), client)
        pipeline_with_client(MarginCacheArguments(
            input_catalog_path=tmp_path / "gaia_dr3", output_path=tmp_path, output_artifact_name="gaia_dr3_10arcs",
            margin_threshold=10.0, tmp_dir=tmp_path / "tmp", progress_bar=False), client)
    cfg = _config(runs["sky"])
    gaia = cfg.sources.gaia.model_copy(update={"path": str(tmp_path / "gaia_dr3"),
                                               "margin": str(tmp_path / "gaia_dr3_10arcs")})
    cfg = cfg.model_copy(update={"sources": cfg.sources.model_copy(update={"gaia": gaia})})
    out = tmp_path / "run"
    out.mkdir()
    build_sample_partitioned(cfg, out, seed=3, work_dir=runs["work"], progress=False, partition_rows=ROWS)
    assert not (runs["work"] / "gaia" / "ocfeh_import.json").read_text().count("gaia_dr3")
    a = pd.read_parquet(runs["mem"] / "sample.parquet")
    b = pd.read_parquet(out / "sample.parquet")
    assert sorted(a["source_id"]) == sorted(b["source_id"])
    assert b["source_id"].is_monotonic_increasing
    ca = pd.read_csv(runs["mem"] / "cleaning.csv", keep_default_na=False)
    cb = pd.read_csv(out / "cleaning.csv", keep_default_na=False)
    assert (ca["n_remaining"].iloc[1:].to_numpy() == cb["n_remaining"].iloc[1:].to_numpy()).all()


def test_an_extinction_table_of_more_than_a_thousand_tiles_imports(runs, tmp_path):
    """J-PLUS DR3 has about 1,600 tiles: more than pyarrow's default partition limit of one write."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from ocfeh.sample.partitions import open_source
    from ocfeh.sample.partitions.gather import open_layout
    from ocfeh.simulate.sources import FILES

    table = pq.read_table(runs["sky"] / FILES["jplus_ext"])
    tiles = np.arange(table.num_rows) % 1600
    table = table.set_column(table.column_names.index("tile_id"), "tile_id", pa.array(tiles.astype(np.int64)))
    pq.write_table(table, tmp_path / "ext.parquet")
    spec = _config(runs["sky"]).sources.jplus_extinction.model_copy(update={"path": str(tmp_path / "ext.parquet")})
    layout = open_layout(open_source("jplus_extinction", spec, tmp_path, tmp_path / "work", client=None))
    from ocfeh.sample.partitions.inputs import TILE_BUCKETS

    buckets = sorted((tmp_path / "work" / "jplus_extinction" / "tiles").iterdir())
    assert len(buckets) == TILE_BUCKETS and all(len(list(b.iterdir())) == 1 for b in buckets)  # not one per tile
    stored = pq.read_table(buckets[0].parent / "tile_bucket=5" / "part-0.parquet").column("tile_id").to_numpy()
    assert (np.diff(stored) >= 0).all() and set(stored % TILE_BUCKETS) == {5}  # sorted by tile, in its bucket
    from ocfeh.sample.partitions.gather import tile_rows

    got = tile_rows(layout, np.array([3, 1599, 700]))
    assert sorted(set(got["jplus_tile_id"])) == [3, 700, 1599] and len(got) == int(np.isin(tiles, [3, 700, 1599]).sum())
    assert "jplus_tile_id" in layout.empty and "ebv" in layout.empty


def test_predict_and_clusters_read_the_partitioned_catalogue(runs, tmp_path):
    """The predict stage streams the HATS catalogue and the cluster stage reads it as a run's ``catalog``:
    the same stars and clusters as from the in-memory ``catalog.parquet`` (magnitudes float32 there)."""
    from ocfeh.catalogs import read_hr23
    from ocfeh.clusters import ClusterConfig, ClusterInputs, run_clusters
    from ocfeh.predict import predict_table
    from ocfeh.simulate.sources import cluster_truth
    from ocfeh.testing import toy_predictor

    sample = pd.read_parquet(runs["mem"] / "sample.parquet")
    toy_predictor(sample, n_estimators=60, bands=("gSDSS", "rSDSS", "iSDSS", "G", "BP", "RP")).save(tmp_path / "model")
    preds = {}
    for name, catalog in (("mem", runs["mem"] / "catalog.parquet"), ("hats", runs["hats"] / "catalog")):
        run = tmp_path / name
        run.mkdir()
        predict_table(tmp_path / "model", catalog, run / "predictions.parquet", chunk_size=20_000, progress=False)
        preds[name] = pd.read_parquet(run / "predictions.parquet").sort_values("source_id").reset_index(drop=True)
        # a sample this small has too few stars to calibrate intervals: the clusters get a common error
        preds[name].assign(feh_err=0.1).to_parquet(run / "predictions.parquet")
    a, b = preds["mem"], preds["hats"]
    assert len(a) == len(b) > 20_000 and (a["source_id"].to_numpy() == b["source_id"].to_numpy()).all()
    for col, tol in (("teff", 1.0), ("logg", 1e-3), ("feh", 1e-3)):
        close = np.isclose(a[col], b[col], atol=tol, equal_nan=True)
        assert close.mean() > 0.995, col  # float32 magnitudes move a star across a tree split only rarely

    src = runs["sky"]
    clusters = read_hr23(src / "hr23_clusters.parquet", "clusters").merge(cluster_truth(src), on="cluster")
    members = read_hr23(src / "hr23_members.parquet", "members")
    cfg = ClusterConfig(isochrones=False, n_steps=300, n_burn=100, n_walkers=12, figures="none", calibrate=False,
                        train_coverage=False, age_offset=False)
    tables = {}
    for name, catalog in (("mem", runs["mem"] / "catalog.parquet"), ("hats", runs["hats"] / "catalog")):
        inputs = ClusterInputs.of_run(tmp_path / name, members=members, clusters=clusters, stars=catalog)
        assert Path(inputs.stars) == catalog
        tables[name] = pd.read_csv(run_clusters(tmp_path / name, inputs, cfg, seed=2))
    x, y = tables["mem"], tables["hats"]
    assert (x["n_members_used"] == y["n_members_used"]).all() and x["n_members_used"].sum() > 0
    np.testing.assert_allclose(x["feh_median"], y["feh_median"], atol=0.01)
