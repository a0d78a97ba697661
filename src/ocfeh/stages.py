"""The stages of one run, as :class:`ocfeh.run.Stage` objects wired to the library functions.

Files in the run directory (each stage reads the previous stages' files):

=============  ==========================================================================
stage          writes
=============  ==========================================================================
simulate       ``sources/`` (mock-sky tables in native columns, truth)  [dataset = mock]
dataset        ``sample.parquet`` from a real labelled set            [dataset = apogee-xp]
sample         ``sample.parquet``, ``cleaning.csv``, ``sample.json``, ``zero_points.csv``, ``colour_check.csv``, ``catalog.parquet``
train          ``model/`` (models, cards, selection; calibrated intervals and OOD score)
evaluate       ``metrics.json``, ``figures/``
predict        ``predictions.parquet`` (every catalogue star, with intervals and flags)
clusters       ``clusters.csv``, ``clusters/``
report         ``report.html``
=============  ==========================================================================
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd

from .config import RunConfig
from .exceptions import InputError, OcfehError
from .pipeline import Stage

log = logging.getLogger(__name__)

__all__ = ["default_stages", "mock_sources"]

TRUTH_COLUMNS = ("teff_true", "logg_true", "feh_true", "distance_true_pc", "a0_true", "cluster", "component")


def mock_sources(sources_dir: Path) -> dict:
    """``[sample.sources]`` for the mock-sky tables written by the simulate stage."""
    from .simulate import FILES

    spec = {
        "jplus": ("jplus", "jplus"), "jplus_extinction": ("jplus_ext", "jplus_extinction"),
        "gaia": ("gaia", "gaia"), "gaia_ap": ("gaia_ap", "gaia_ap"), "distances": ("gaia_dist", "bailer_jones"),
        "catwise": ("catwise", "catwise"), "labels": ("lamost", "lamost"),
    }
    return {name: {"path": str(sources_dir / FILES[key]), "reader": reader} for name, (key, reader) in spec.items()}


def _sample_config(cfg: RunConfig, run_dir: Path, with_labels: bool = True):
    from .sample import sample_section

    scfg = sample_section(cfg)
    if scfg.sources is None and cfg.run.dataset == "mock":
        sources = mock_sources((run_dir / "sources").resolve())
        if not with_labels:
            sources.pop("labels")
        scfg = scfg.model_validate({**scfg.model_dump(), "sources": sources})
    elif not with_labels:
        sources = {k: v for k, v in scfg.sources.model_dump().items() if v is not None}
        labels = sources.pop("labels", None)
        if not sources:  # a labelled table with its own photometry is the only table: it is the catalogue
            sources = {"table": labels}
        scfg = scfg.model_validate({**scfg.model_dump(), "sources": sources})
    return scfg


def _with_sample(cfg: RunConfig, scfg) -> RunConfig:
    # None values stay: a cut set to "off" is None, and dropping it would bring its default back
    raw = {**cfg.raw, "sample": scfg.model_dump(mode="json")}
    return RunConfig(raw, cfg.source)


def _add_truth(path: Path, sources_dir: Path) -> None:
    from .sample import _write_parquet

    truth_path = sources_dir / "truth.parquet"
    if not truth_path.is_file():
        return
    import pyarrow.parquet as pq

    meta = json.loads((pq.read_schema(path).metadata or {}).get(b"ocfeh", b"{}"))
    df = pd.read_parquet(path)
    truth = pd.read_parquet(truth_path, columns=["source_id", *TRUTH_COLUMNS])
    truth = truth[truth["source_id"] >= 0].drop_duplicates("source_id")
    df = df.drop(columns=[c for c in TRUTH_COLUMNS if c in df]).merge(truth, on="source_id", how="left")
    _write_parquet(df, path, meta)


# --------------------------------------------------------------------------------------------- stages
# mock-sky sizes of each run profile, where [simulate] leaves them unset: enough LAMOST-like labels
# after the cuts to train and calibrate (small ~1k, default ~4k; full is the simulator's poster scale)
RUN_SKY_SIZES = {"small": {"n_stars": 600_000, "n_clusters": 6},
                 "default": {"n_stars": 2_500_000, "n_clusters": 12}, "full": {}}


def _simulate(run_dir: Path, cfg: RunConfig) -> None:
    from .simulate import simulate_sky

    sim = cfg.section("simulate")
    unset = {k: v for k, v in RUN_SKY_SIZES[cfg.run.profile].items() if getattr(sim, k) is None}
    simulate_sky(run_dir / "sources", profile=cfg.run.profile, seed=cfg.run.seed,
                 config=sim.model_copy(update=unset), overwrite=True)


def _dataset(run_dir: Path, cfg: RunConfig) -> None:
    from .datasets import load_dataset
    from .provenance import provenance
    from .sample import _write_parquet

    df = load_dataset(cfg.run.dataset, seed=cfg.run.seed)
    df.attrs = {}
    _write_parquet(df, run_dir / "sample.parquet",
                   provenance({"run": cfg.run.model_dump()}, cfg.run.seed, stage="dataset"))


def _sample(run_dir: Path, cfg: RunConfig) -> None:
    from .sample import build_catalog, build_sample

    paths = build_sample(_with_sample(cfg, _sample_config(cfg, run_dir)), run_dir=run_dir, seed=cfg.run.seed)
    build_catalog(_with_sample(cfg, _sample_config(cfg, run_dir, with_labels=False)), run_dir / "catalog.parquet",
                  zero_points=paths.zero_points)
    if cfg.run.dataset == "mock":
        for name in ("sample.parquet", "catalog.parquet"):
            _add_truth(run_dir / name, run_dir / "sources")


def _bands_in(sample: pd.DataFrame) -> list[str]:
    """Bands measured for most stars of a sample (registry bands, then extra ones such as 2MASS)."""
    from .bands import BANDS
    from .datasets import EXTRA_BANDS

    return [b for b in (*BANDS, *EXTRA_BANDS)
            if f"mag_{b}" in sample and sample[f"mag_{b}"].notna().mean() > 0.5]


def _train(run_dir: Path, cfg: RunConfig) -> None:
    from .predict import calibrate_model_dir
    from .selection import train_run

    if cfg.run.dataset != "mock" and "bands" not in cfg.raw.get("features", {}):
        # a real labelled set: the bands it has (apogee-xp: J-PLUS without uJAVA, Gaia, 2MASS)
        bands = _bands_in(pd.read_parquet(run_dir / "sample.parquet"))
        cfg = RunConfig({**cfg.raw, "features": {**cfg.raw.get("features", {}), "bands": bands}}, cfg.source)
    try:
        train_run(run_dir, cfg)
        sample = pd.read_parquet(run_dir / "sample.parquet")
        calibrate_model_dir(run_dir / "model", sample, cfg.section("uncertainty"), seed=cfg.run.seed)
    except BaseException:  # no half-trained model (e.g. without its calibration) for predict to pick up
        import shutil

        shutil.rmtree(run_dir / "model", ignore_errors=True)
        raise


def _evaluate(run_dir: Path, cfg: RunConfig) -> None:
    from .evaluate import evaluate_run

    evaluate_run(run_dir, cfg)


def _predict(run_dir: Path, cfg: RunConfig) -> None:
    from .predict import predict_table

    pcfg = cfg.section("predict")
    predict_table(run_dir / "model", run_dir / "catalog.parquet", run_dir / "predictions.parquet",
                  chunk_size=pcfg.chunk_size, n_draws=pcfg.n_draws, seed=cfg.run.seed,
                  scheduler=pcfg.scheduler, n_threads=pcfg.n_threads, float32=pcfg.float32,
                  resume=False, overwrite=True)


def cluster_tables(cfg: RunConfig, run_dir: Path | None = None) -> tuple[Path, Path] | None:
    """The cluster and member tables: ``[clusters] catalogue`` / ``members`` (relative to the TOML), else
    the mock sky's in ``RUN_DIR/sources``; None when there are none (the cluster stage is left out)."""
    ccfg = cfg.section("clusters")
    if (ccfg.catalogue is None) != (ccfg.members is None):
        raise InputError(f"{cfg.source}: [clusters] needs both catalogue and members (HR23 cluster and member "
                         "tables), or neither")
    if ccfg.catalogue is not None:
        paths = tuple(cfg.base_dir / p for p in (ccfg.catalogue, ccfg.members))
        for p in paths:
            if not p.is_file():
                raise InputError(f"{cfg.source}: [clusters] table {p} does not exist")
        return paths
    if cfg.run.dataset == "mock":
        src = Path(run_dir or cfg.run.out) / "sources"
        return src / "hr23_clusters.parquet", src / "hr23_members.parquet"
    return None


def _hr23_table(path: Path, reader: str) -> pd.DataFrame:
    """A cluster (``hr23_clusters``) or member (``hr23_members``) table through its reader: column names
    in any case (HR23's or the canonical ones), stated units converted, sentinels removed; only the
    cluster name (and a member's source_id) required."""
    from dataclasses import replace

    from .catalogs import readers

    need = {"cluster"} if reader == "hr23_clusters" else {"cluster", "source_id"}
    rd = readers.get(reader)
    rd = replace(rd, columns=tuple(replace(c, native=(*c.native, c.canonical), required=c.canonical in need)
                                   for c in rd.columns))
    return rd.read(path)


def _clusters(run_dir: Path, cfg: RunConfig) -> None:
    from .clusters import run_clusters
    from .clusters.members import normalise_members
    from .provenance import provenance
    from .sample import _write_parquet, apply_cuts, sample_section

    src = run_dir / "sources"
    catalogue_path, members_path = cluster_tables(cfg, run_dir)
    catalogue, members = _hr23_table(catalogue_path, "hr23_clusters"), _hr23_table(members_path, "hr23_members")
    if (src / "truth_clusters.parquet").is_file():  # the mock sky: carry the truth into clusters.csv
        truth = pd.read_parquet(src / "truth_clusters.parquet", columns=["Name", "feh_true", "age_true_myr"])
        truth["log_age_true"] = np.log10(truth.pop("age_true_myr") * 1e6)
        catalogue = catalogue.merge(truth.rename(columns={"Name": "cluster"}), on="cluster", how="left")
    meta = provenance({"sample": sample_section(cfg).model_dump(mode="json"),
                       "clusters": cfg.section("clusters").model_dump(mode="json")}, cfg.run.seed,
                      stage="clusters-input", catalogue=str(catalogue_path), members=str(members_path))
    _write_parquet(catalogue, run_dir / "clusters_catalog.parquet", meta)
    # members flagged by the photometric quality of the training sample (its cuts without the label cuts):
    # saturated, flagged or noisy photometry biases the predicted [Fe/H] of a star, so only those give the
    # cluster [Fe/H]; the isochrone fit takes every member with Gaia photometry (turn-off, giants)
    cuts = sample_section(cfg).cuts.model_copy(update={
        "labels": [], "teff_range": None, "logg_range": None, "feh_range": None, "min_snr": None,
        "max_teff_err": None, "max_logg_err": None, "max_feh_err": None})
    stars = pd.read_parquet(run_dir / "catalog.parquet")
    good, _ = apply_cuts(stars, cuts)
    log.info("members: %d of %d catalogue stars pass the training sample's photometric cuts", len(good), len(stars))
    members = normalise_members(members, str(members_path))
    members["phot_quality"] = members["source_id"].isin(good["source_id"])
    _write_parquet(members, run_dir / "cluster_members_input.parquet", meta)
    run_clusters(run_dir, cfg.section("clusters"), seed=cfg.run.seed,
                 members=run_dir / "cluster_members_input.parquet", clusters=run_dir / "clusters_catalog.parquet",
                 stars=run_dir / "catalog.parquet", predictions=run_dir / "predictions.parquet")


def _report(run_dir: Path, cfg: RunConfig) -> None:
    from .report import write_report

    write_report(run_dir)


def _source_files(cfg: RunConfig) -> tuple[str, ...]:
    """The configured survey tables, absolute: inputs of the sample stage (a changed file re-runs it)."""
    sources = cfg.section("sample").sources
    if sources is None:
        return ()
    specs = [getattr(sources, n) for n in type(sources).model_fields]
    return tuple(dict.fromkeys(str((cfg.base_dir / s.path).resolve()) for s in specs if s is not None))


def check_run_config(cfg: RunConfig) -> list[str]:
    """What ``ocfeh run`` would reject before its first stage: readers, bands, table files, the dataset.

    Returns the stage names; raises :class:`~ocfeh.exceptions.InputError` naming the first problem.
    """
    from .catalogs import readers
    from .features import resolve_bands
    from .sample import cut_bands, sample_section

    cfg.to_dict()
    if cfg.run.dataset == "files" and cfg.section("sample").sources is None:
        raise InputError(f"{cfg.source}: [run] dataset = \"files\" needs [sample.sources] (the survey tables)")
    sources = cfg.section("sample").sources
    for name in type(sources).model_fields if sources is not None else ():
        spec = getattr(sources, name)
        if spec is not None:
            readers.get(spec.reader)
    for path in _source_files(cfg):
        if not Path(path).is_file():
            raise InputError(f"{cfg.source}: [sample.sources] table {path} does not exist")
    try:
        resolve_bands(cfg.section("features").bands)
        cut_bands(sample_section(cfg).cuts)
    except OcfehError as err:  # an unknown band or band set
        raise InputError(f"{cfg.source}: [features] or [sample.cuts] bands: {err}") from None
    return [s.name for s in default_stages(cfg)]


def _resolved(cfg: RunConfig, sections: tuple[str, ...]) -> dict:
    """``cfg.to_dict(sections)`` with the band cut of ``[sample]`` as used (it follows ``[features] bands``)."""
    from .sample import sample_section

    config = cfg.to_dict(sections)
    if "sample" in config:
        config["sample"] = sample_section(cfg).model_dump(mode="json")
    return config


def default_stages(cfg: RunConfig) -> list[Stage]:
    """The stages of the method for the configured dataset."""
    if cfg.run.dataset == "mock" and cfg.section("sample").sources is not None:
        raise InputError(f"{cfg.source}: [sample.sources] names your tables, but [run] dataset is \"mock\" (the "
                         "default): set dataset = \"files\" to run on them, or drop [sample.sources] for the mock sky")
    model_sections = ("run", "features", "selection", "model", "uncertainty")
    if cfg.run.dataset == "apogee-xp":
        head = [Stage("dataset", _dataset, (), ("sample.parquet",), ("run",))]
    else:
        head = [Stage("simulate", _simulate, (), ("sources",), ("run", "simulate"))] if cfg.run.dataset == "mock" else []
        head.append(Stage("sample", _sample, ("sources",) if head else _source_files(cfg),
                          ("sample.parquet", "cleaning.csv", "catalog.parquet"), ("run", "sample"), _resolved))
    stages = head + [
        Stage("train", _train, ("sample.parquet",), ("model",), model_sections),
        Stage("evaluate", _evaluate, ("sample.parquet", "model"), ("metrics.json",), model_sections),
    ]
    if cfg.run.dataset != "apogee-xp":
        stages.append(
            Stage("predict", _predict, ("catalog.parquet", "model"), ("predictions.parquet",), ("run", "predict")))
        tables = cluster_tables(cfg)
        if tables is not None:
            # the user's tables (not the mock sky's, which the simulate stage writes) are inputs too
            own = tuple(str(p.resolve()) for p in tables) if cfg.section("clusters").catalogue else ()
            stages.append(Stage("clusters", _clusters, ("predictions.parquet", *own), ("clusters.csv",),
                                ("run", "sample", "clusters"), _resolved))
        else:
            log.info("no cluster tables ([clusters] catalogue and members): the cluster stage is left out")
    stages.append(Stage("report", _report, ("metrics.json",), ("report.html",), ()))
    return stages
