"""The sample stage out of core: sources as HATS catalogues, one Dask task per partition of the anchor catalogue.

The training sample is small (the labelled stars), so its partitions' rows are gathered, put in the
in-memory path's order and finished by the same code (:func:`~ocfeh.sample.build.write_sample`): same
rows, same cleaning counts, same split. The catalogue of every star is written partition by partition as
a HATS catalogue (``catalog/``), which a rerun completes where it stopped.
"""

from __future__ import annotations

import contextlib
import json
import logging
import shutil
from pathlib import Path

import numpy as np
import pandas as pd

from ...exceptions import InputError
from ...parallel import dask_client, progress_bar, run_on_dask
from ...provenance import provenance, write_json
from ..build import SamplePaths, write_sample
from ..cleaning import CleaningSteps
from ..config import SampleConfig, SourcesConfig
from ..zeropoints import read_tile_offsets
from .gather import Layout, check_margins, open_layout, overlapping
from .inputs import PARTITION_ROWS, open_source
from .keys import ROW
from .tasks import SEP_BIN_ARCSEC, catalog_partition, partition_file, sample_partition

__all__ = ["build_catalog_partitioned", "build_sample_partitioned", "sample_client"]

log = logging.getLogger(__name__)

_QUIET = ("ocfeh.sample", "ocfeh.catalogs")


@contextlib.contextmanager
def sample_client(scheduler: str | None = None, n_workers: int = 2):
    """A Dask client for the stage: the scheduler's (an address) or a cluster in this process."""
    if scheduler not in (None, "local"):
        with dask_client(scheduler) as client:
            yield client
        return
    from distributed import Client, LocalCluster

    logging.getLogger("distributed").setLevel(logging.WARNING)  # its INFO lines on every start and stop
    with LocalCluster(n_workers=1, threads_per_worker=max(1, n_workers), processes=False,
                      dashboard_address=None, silence_logs=logging.WARNING) as cluster, Client(cluster) as client:
        yield client


@contextlib.contextmanager
def _quiet_partitions():
    """Per-partition INFO lines (every join and cut, thousands of times) are dropped; the totals are logged."""
    loggers = [logging.getLogger(n) for n in _QUIET]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(max(lg.getEffectiveLevel(), logging.WARNING))
    try:
        yield
    finally:
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)


def _layouts(scfg: SampleConfig, base_dir: Path, work_dir: Path, client, labels: bool,
             partition_rows: int) -> tuple[dict[str, Layout], str]:
    if scfg.sources is None:
        raise InputError("[sample.sources] is missing: name the input tables")
    if scfg.sources.table is not None:
        raise InputError("[sample] engine = \"hats\" matches survey tables; a pre-joined 'table' source is read "
                         "in memory: set engine = \"memory\"")
    layouts = {}
    for name in SourcesConfig.model_fields:
        spec = getattr(scfg.sources, name)
        if spec is None or (name == "labels" and not labels):
            continue
        layouts[name] = open_layout(open_source(name, spec, base_dir, work_dir, client, partition_rows=partition_rows))
    anchor = next(n for n in ("gaia", "jplus", "catwise", "labels") if n in layouts)
    xm = scfg.crossmatch
    radii = {"jplus": xm.radius_jplus_gaia_arcsec, "catwise": xm.radius_catwise_arcsec,
             "labels": xm.radius_labels_arcsec}
    check_margins(layouts, [r for n, r in radii.items() if n in layouts and n != anchor])
    if anchor == "gaia" and "jplus" in layouts and not layouts["gaia"].source.imported:
        layout = layouts["gaia"]  # an all-sky catalogue (a hosted Gaia DR3): only the J-PLUS footprint
        jplus = layouts["jplus"].pixels
        layout.pixels = [p for p in layout.pixels if overlapping(jplus, *p)]
        log.info("gaia: %d partitions overlap the J-PLUS catalogue's; the others are not read", len(layout.pixels))
    return layouts, anchor


def _combine(summaries: list[dict]) -> tuple[pd.DataFrame, dict, dict, list[str]]:
    """The cleaning table, the cross-match statistics and the settings of all partitions together."""
    first = summaries[0]
    counts = np.sum([s["counts"] for s in summaries], axis=0)
    stats = {}
    for name in first["stats"]:
        parts = [s["stats"][name] for s in summaries]
        hist: dict[int, int] = {}
        for p in parts:
            for k, v in p["hist"].items():
                hist[int(k)] = hist.get(int(k), 0) + v
        stats[name] = {k: int(sum(p[k] for p in parts)) for k in ("n_pairs", "n_ambiguous", "n_rejected")}
        stats[name]["radius_arcsec"] = parts[0]["radius_arcsec"]
        stats[name]["median_sep_arcsec"] = _median(hist, stats[name]["n_pairs"])
    steps = CleaningSteps()
    for step, n in zip(first["steps"], counts):
        name = next((k for k in stats if step.startswith(f"x {k} (")), None)
        note = f"{stats[name]['n_ambiguous']} ambiguous, {stats[name]['n_rejected']} not mutual" if name else ""
        steps.add(step, int(n), note)
    steps.settings = dict(first["settings"])
    return steps.frame(), stats, steps.settings, [first["distance_source"], first["extinction_source"]]


def _median(hist: dict[int, int], n: int) -> float | None:
    if n == 0:
        return None
    keys = sorted(hist)
    cum = np.cumsum([hist[k] for k in keys])
    i = int(np.searchsorted(cum, (n + 1) / 2.0))
    return float((keys[min(i, len(keys) - 1)] + 0.5) * SEP_BIN_ARCSEC)


def _run(client, fn, layouts, anchor, extra: tuple, label: str, progress: bool, pixels=None) -> list:
    pixels = pixels if pixels is not None else layouts[anchor].pixels
    results: list = []
    with _quiet_partitions(), progress_bar(progress, label, len(pixels)) as advance:
        calls = [(layouts, anchor, pix, *extra) for pix in pixels]
        keys = [f"{label.replace(' ', '-')}-{o}-{p}" for o, p in pixels]

        def done(res):
            results.append(res)
            advance(1)
        run_on_dask(client, fn, calls, keys, done)
    return results


def build_sample_partitioned(config: SampleConfig, run_dir: str | Path, seed: int = 0, base_dir: str | Path = ".",
                             annotate: pd.DataFrame | None = None, scheduler: str | None = None,
                             work_dir: str | Path | None = None, progress: bool = True,
                             partition_rows: int = PARTITION_ROWS) -> SamplePaths:
    """:func:`~ocfeh.sample.build_sample` out of core, on HATS partitions (``[sample] engine = "hats"``).

    Parameters
    ----------
    config, run_dir, seed, base_dir, annotate
        As in :func:`~ocfeh.sample.build_sample`.
    scheduler : str, optional
        A Dask scheduler address (``tcp://host:8786``); default a cluster in this process. Workers must see
        the source and run directories.
    work_dir : str or Path, optional
        Where source files are imported as HATS catalogues (default ``RUN_DIR/hats_sources``).
    progress : bool, default=True
        A progress bar per partition.
    partition_rows : int
        Largest partition of a source file ocfeh imports (hats-import's ``pixel_threshold``).
    """
    run_dir = Path(run_dir)
    seed = config.split.seed if config.split.seed is not None else seed
    work_dir = Path(work_dir) if work_dir is not None else run_dir / "hats_sources"
    with sample_client(scheduler) as client:
        layouts, anchor = _layouts(config, Path(base_dir), work_dir, client, True, partition_rows)
        if not layouts[anchor].pixels:
            raise InputError(f"the {anchor} catalogue has no partitions: no star to build a sample from")
        results = _run(client, sample_partition, layouts, anchor, (config,), "sample partitions", progress)
    frames = [r[0] for r in results if len(r[0])]
    kept = pd.concat(frames, ignore_index=True) if frames else results[0][0]
    kept = kept.sort_values(ROW, kind="stable").drop(columns=[ROW]).reset_index(drop=True)
    cleaning, stats, settings, (dist_src, ext_src) = _combine([r[1] for r in results])
    log.info("sample: %d partitions of %s; %d stars pass the cuts", len(results), anchor, len(kept))
    record = {"distance_source": dist_src, "extinction_source": ext_src, "crossmatch": stats,
              "engine": {"name": "hats", "anchor": anchor, "n_partitions": len(results)}}
    return write_sample(kept, cleaning, settings, config, run_dir, seed, record, annotate)


def build_catalog_partitioned(config: SampleConfig, path: str | Path, zero_points: str | Path | pd.DataFrame | None = None,
                              seed: int = 0, base_dir: str | Path = ".", annotate: pd.DataFrame | None = None,
                              scheduler: str | None = None, work_dir: str | Path | None = None,
                              progress: bool = True, resume: bool = True,
                              partition_rows: int = PARTITION_ROWS) -> Path:
    """:func:`~ocfeh.sample.build_catalog` out of core: a HATS catalogue at ``path``, one partition per task.

    Magnitudes are stored as float32. A rerun (``resume``) keeps the partitions already written (each is
    renamed into place when whole, its counts written after it) and computes the others.
    """
    path = Path(path)
    work_dir = Path(work_dir) if work_dir is not None else path.parent / "hats_sources"
    offsets = None
    if zero_points is not None:
        offsets = zero_points if isinstance(zero_points, pd.DataFrame) else read_tile_offsets(zero_points)
    meta = provenance({"sample": config.model_dump(mode="json")}, seed, stage="catalog")
    meta.pop("created_utc")
    stamp = {"config_hash": meta["config_hash"], "seed": seed, "zero_points": None if offsets is None else
             offsets.round(8).to_json(), "annotate": annotate is not None}
    if not resume or not _same_stamp(path, stamp):
        shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True, exist_ok=True)
    (path / "ocfeh_stage.json").write_text(json.dumps(stamp))
    with sample_client(scheduler) as client:
        layouts, anchor = _layouts(config, Path(base_dir), work_dir, client, False, partition_rows)
        pixels = layouts[anchor].pixels
        if not pixels:
            raise InputError(f"the {anchor} catalogue has no partitions: nothing to write")
        first = catalog_partition(layouts, anchor, pixels[0], config, offsets, annotate, path, None, meta)
        import pyarrow.parquet as pq

        schema = pq.read_schema(partition_file(path, pixels[0]))
        results = [first] + _run(client, catalog_partition, layouts, anchor,
                                 (config, offsets, annotate, path, schema, meta), "catalogue partitions",
                                 progress, pixels[1:])
    _finish_hats(path, pixels, sum(r["n_rows"] for r in results))
    cleaning, stats, _, (dist_src, ext_src) = _combine(results)
    n_good = sum(r["n_phot_quality"] for r in results)
    write_json(path / "catalog.json", provenance({"sample": config.model_dump(mode="json")}, seed, stage="catalog",
                                                 distance_source=dist_src, extinction_source=ext_src,
                                                 crossmatch=stats, n_rows=int(cleaning["n_remaining"].iloc[-1]),
                                                 n_phot_quality=n_good, n_partitions=len(pixels),
                                                 cleaning=cleaning.to_dict(orient="records")))
    log.info("wrote the HATS catalogue %s (%d stars in %d partitions; %d pass the photometric cuts)", path,
             sum(r["n_rows"] for r in results), len(pixels), n_good)
    return path


def _same_stamp(path: Path, stamp: dict) -> bool:
    try:
        return json.loads((path / "ocfeh_stage.json").read_text()) == stamp
    except (OSError, ValueError):
        return False


def _finish_hats(path: Path, pixels: list[tuple[int, int]], n_rows: int) -> None:
    """HATS metadata for the written leaf files: ``dataset/_metadata``, ``partition_info.csv``, ``properties``."""
    from hats.catalog import PartitionInfo, TableProperties
    from hats.io import write_parquet_metadata
    from hats.pixel_math import HealpixPixel

    write_parquet_metadata(path)
    PartitionInfo.from_healpix([HealpixPixel(o, p) for o, p in pixels]).write_to_file(catalog_path=path)
    TableProperties(catalog_name=path.name, catalog_type="object", total_rows=n_rows, ra_column="ra",
                    dec_column="dec").to_properties_file(path)
