"""The stages of one run, as :class:`~ocfeh.pipeline.stage.Stage` objects wired to the library functions.

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
clusters       ``clusters.csv``, ``cluster_members.parquet``, ``cluster_member_steps.csv``, ``clusters/``
report         ``report.html``
=============  ==========================================================================
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import pandas as pd

from ..bands import BANDS, EXTRA_BAND_WAVELENGTH_AA, resolve_bands
from ..catalogs import read_hr23, readers
from ..clusters import ClusterInputs, run_clusters
from ..datasets import load_dataset
from ..evaluate import evaluate_run
from ..exceptions import InputError, OcfehError
from ..predict import calibrate_model_dir, predict_table
from ..provenance import provenance, write_parquet
from ..report import write_report
from ..sample import SampleConfig, SamplePaths, build_catalog, build_sample, cut_bands
from ..simulate import cluster_truth, mock_sources, simulate_sky, star_truth
from ..train import FeatureConfig, train_run
from ..train.gaps import common_patterns
from .config import Dataset, RunConfig, load_config
from .stage import Stage

log = logging.getLogger(__name__)

__all__ = [
    "RUN_SKY_SIZES",
    "check_run_config",
    "cluster_tables",
    "default_stages",
    "sample_config",
    "bands_in",
    "build_run_sample",
]

RUN_SKY_SIZES = {"small": {"n_stars": 600_000, "n_clusters": 6},
                 "default": {"n_stars": 2_500_000, "n_clusters": 12}, "full": {}}
"""Mock-sky sizes of each run profile, where ``[simulate]`` leaves them unset: enough LAMOST-like labels
after the cuts to train and calibrate (small ~1k, default ~4k; full is the simulator's poster scale)."""


def sample_config(cfg: RunConfig, run_dir: Path, with_labels: bool = True) -> SampleConfig:
    """``[sample]`` as the run uses it: the band cut follows ``[features] bands`` unless set; on the mock
    sky, its tables as the sources; without ``with_labels``, the photometric tables only (the catalogue)."""
    scfg: SampleConfig = cfg.section("sample").with_feature_bands(cfg.section("features").bands)
    if scfg.sources is None and cfg.run.dataset == Dataset.MOCK:
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


def build_run_sample(config: RunConfig | str | Path, run_dir: str | Path | None = None,
                     seed: int | None = None) -> SamplePaths:
    """The sample stage of a run on its own (``ocfeh.build_sample``): the training sample of a config.

    Parameters
    ----------
    config : RunConfig, str or Path
        A loaded run config or a TOML path (its ``[sample]``, ``[features] bands`` and ``[run]`` are used).
    run_dir : str or Path, optional
        Defaults to ``[run] out``; on the mock sky its ``sources/`` are read unless ``[sample.sources]`` is set.
    seed : int, optional
        Defaults to ``[sample.split] seed``, else ``[run] seed``.

    Returns
    -------
    SamplePaths
        ``sample.parquet``, ``cleaning.csv`` and ``sample.json`` in the run directory (written atomically).
    """
    cfg = config if isinstance(config, RunConfig) else load_config(config)
    run_dir = Path(run_dir or cfg.run.out)
    if cfg.section("sample").sources is None and not (cfg.run.dataset == Dataset.MOCK and (run_dir / "sources").is_dir()):
        raise InputError(f"{cfg.source}: [sample.sources] is missing: name the input tables (e.g. [sample.sources.gaia] "
                         f"path = ..., reader = \"gaia\"), or simulate the mock sky first (ocfeh simulate --config "
                         f"CONFIG -o {run_dir})")
    return build_sample(sample_config(cfg, run_dir), run_dir, seed=cfg.run.seed if seed is None else seed,
                        base_dir=cfg.base_dir, source=cfg.source)


# --------------------------------------------------------------------------------------------- stages
def _simulate(run_dir: Path, cfg: RunConfig) -> None:
    sim = cfg.section("simulate")
    unset = {k: v for k, v in RUN_SKY_SIZES[cfg.run.profile].items() if getattr(sim, k) is None}
    simulate_sky(run_dir / "sources", profile=cfg.run.profile, seed=cfg.run.seed,
                 config=sim.model_copy(update=unset), overwrite=True)


def _dataset(run_dir: Path, cfg: RunConfig) -> None:
    df = load_dataset(cfg.run.dataset.value, seed=cfg.run.seed)
    df.attrs = {}
    write_parquet(df, run_dir / "sample.parquet",
                  provenance({"run": cfg.run.model_dump()}, cfg.run.seed, stage="dataset"))


def catalog_name(cfg: RunConfig) -> str:
    """The catalogue a run's sample stage writes: ``catalog.parquet``, or the HATS catalogue ``catalog`` of
    ``[sample] engine = "hats"``."""
    return "catalog" if cfg.section("sample").engine == "hats" else "catalog.parquet"


def _sample(run_dir: Path, cfg: RunConfig) -> None:
    truth = star_truth(run_dir / "sources") if cfg.run.dataset == Dataset.MOCK else None
    if cfg.section("sample").engine == "hats":
        from ..sample.partitions import build_catalog_partitioned, build_sample_partitioned

        where = {"base_dir": cfg.base_dir, "annotate": truth, "scheduler": cfg.run.scheduler,
                 "work_dir": run_dir / "hats_sources"}
        paths = build_sample_partitioned(sample_config(cfg, run_dir), run_dir, seed=cfg.run.seed, **where)
        build_catalog_partitioned(sample_config(cfg, run_dir, with_labels=False), run_dir / "catalog",
                                  zero_points=paths.zero_points, seed=cfg.run.seed, **where)
        return
    where = {"base_dir": cfg.base_dir, "source": cfg.source, "annotate": truth}
    paths = build_sample(sample_config(cfg, run_dir), run_dir, seed=cfg.run.seed, **where)
    build_catalog(sample_config(cfg, run_dir, with_labels=False), run_dir / "catalog.parquet",
                  zero_points=paths.zero_points, seed=cfg.run.seed, **where)


def bands_in(sample: pd.DataFrame) -> list[str]:
    """Bands measured for most stars of a sample (registry bands, then 2MASS)."""
    return [b for b in (*BANDS, *EXTRA_BAND_WAVELENGTH_AA)
            if f"mag_{b}" in sample and sample[f"mag_{b}"].notna().mean() > 0.5]


def _train(run_dir: Path, cfg: RunConfig) -> None:
    if cfg.run.dataset != Dataset.MOCK and "bands" not in cfg.raw.get("features", {}):
        # a real labelled set: the bands it has (apogee-xp: J-PLUS without uJAVA, Gaia, 2MASS)
        bands = bands_in(pd.read_parquet(run_dir / "sample.parquet"))
        cfg = RunConfig({**cfg.raw, "features": {**cfg.raw.get("features", {}), "bands": bands}}, cfg.source)
    try:
        train_run(run_dir, cfg.section("features"), cfg.section("selection"), cfg.section("model"), cfg.run.seed,
                  record=cfg.to_dict(("run", "features", "selection", "model")),
                  patterns=_catalogue_patterns(run_dir, cfg))
        sample = pd.read_parquet(run_dir / "sample.parquet")
        calibrate_model_dir(run_dir / "model", sample, cfg.section("uncertainty"), seed=cfg.run.seed)
    except BaseException:  # no half-trained model (e.g. without its calibration) for predict to pick up
        shutil.rmtree(run_dir / "model", ignore_errors=True)
        raise


def _catalogue_patterns(run_dir: Path, cfg: RunConfig) -> list[str]:
    """The catalogue's most common missing patterns (``[model] gap_patterns``), read column by column; none
    when the run has no catalogue yet (``ocfeh train`` on a sample alone: the gap model serves them all)."""
    import pyarrow.dataset as ds

    mcfg, path = cfg.section("model"), run_dir / catalog_name(cfg)
    if not (mcfg.gap_model and mcfg.gap_patterns) or not path.exists():
        return []
    bands = FeatureConfig(bands=cfg.section("features").bands).resolved_bands()
    data = ds.dataset(path, format="parquet", partitioning="hive" if path.is_dir() else None)
    wanted = [*(f"mag_{b}" for b in bands), "distance_pc", "a0", "ebv", "ra", "dec"]
    cols = [c for c in wanted if c in data.schema.names]
    table = data.to_table(columns=cols).to_pandas()
    patterns = common_patterns(table, bands, mcfg.gap_patterns, cfg.section("predict").min_bands)
    log.info("catalogue's most common missing patterns (own models): %s", patterns)
    return patterns


def _evaluate(run_dir: Path, cfg: RunConfig) -> None:
    evaluate_run(run_dir, seed=cfg.run.seed, config_hash=cfg.hash())


def _predict(run_dir: Path, cfg: RunConfig) -> None:
    pcfg = cfg.section("predict")
    predict_table(run_dir / "model", run_dir / catalog_name(cfg), run_dir / "predictions.parquet",
                  chunk_size=pcfg.chunk_size, n_draws=pcfg.n_draws, seed=cfg.run.seed,
                  scheduler=pcfg.scheduler or cfg.run.scheduler, n_threads=pcfg.n_threads, float32=pcfg.float32,
                  min_bands=pcfg.min_bands, shift=pcfg.shift, resume=False, overwrite=True)


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
    if cfg.run.dataset == Dataset.MOCK:
        src = Path(run_dir or cfg.run.out) / "sources"
        return src / "hr23_clusters.parquet", src / "hr23_members.parquet"
    return None


def _clusters(run_dir: Path, cfg: RunConfig) -> None:
    catalogue_path, members_path = cluster_tables(cfg, run_dir)
    catalogue = read_hr23(catalogue_path, "clusters")
    truth = cluster_truth(run_dir / "sources")
    if truth is not None:  # the mock sky: carry the truth into clusters.csv
        catalogue = catalogue.merge(truth, on="cluster", how="left")
    inputs = ClusterInputs.of_run(run_dir, members=read_hr23(members_path, "members"), clusters=catalogue)
    run_clusters(run_dir, inputs, cfg.section("clusters"), seed=cfg.run.seed)


def _report(run_dir: Path, cfg: RunConfig) -> None:
    write_report(run_dir)


# ------------------------------------------------------------------------------------- the stage list
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
    cfg.to_dict()
    if cfg.run.dataset == Dataset.FILES and cfg.section("sample").sources is None:
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
        cut_bands(cfg.section("sample").with_feature_bands(cfg.section("features").bands).cuts)
    except OcfehError as err:  # an unknown band or band set
        raise InputError(f"{cfg.source}: [features] or [sample.cuts] bands: {err}") from None
    return [s.name for s in default_stages(cfg)]


def _resolved(cfg: RunConfig, sections: tuple[str, ...]) -> dict:
    """``cfg.to_dict(sections)`` with the band cut of ``[sample]`` as used (it follows ``[features] bands``)."""
    config = cfg.to_dict(sections)
    if "sample" in config:
        config["sample"] = cfg.section("sample").with_feature_bands(cfg.section("features").bands).model_dump(
            mode="json")
    return config


def default_stages(cfg: RunConfig) -> list[Stage]:
    """The stages of the method for the configured dataset."""
    dataset = cfg.run.dataset
    if dataset == Dataset.MOCK and cfg.section("sample").sources is not None:
        raise InputError(f"{cfg.source}: [sample.sources] names your tables, but [run] dataset is \"mock\" (the "
                         "default): set dataset = \"files\" to run on them, or drop [sample.sources] for the mock sky")
    model_sections = ("run", "features", "selection", "model", "uncertainty")
    if dataset == Dataset.APOGEE_XP:
        head = [Stage("dataset", _dataset, (), ("sample.parquet",), ("run",))]
    else:
        head = [Stage("simulate", _simulate, (), ("sources",), ("run", "simulate"))] if dataset == Dataset.MOCK else []
        head.append(Stage("sample", _sample, ("sources",) if head else _source_files(cfg),
                          ("sample.parquet", "cleaning.csv", catalog_name(cfg)), ("run", "sample"), _resolved))
    stages = head + [
        Stage("train", _train, ("sample.parquet",), ("model",), model_sections),
        Stage("evaluate", _evaluate, ("sample.parquet", "model"), ("metrics.json",), model_sections),
    ]
    if dataset != Dataset.APOGEE_XP:
        stages.append(
            Stage("predict", _predict, (catalog_name(cfg), "model"), ("predictions.parquet",), ("run", "predict")))
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
