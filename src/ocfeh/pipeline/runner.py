"""One run = one directory: every stage in order, each skipped when its inputs are unchanged.

A stage is skipped when its stamp (``.stages/<name>.json``) holds the same key: a hash of its config
sections, the content of its input files and the ocfeh version, and its outputs still exist. An
interrupted run therefore resumes at the stage that did not finish; ``from_stage`` redoes a stage
and everything after it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from ..exceptions import InputError, Interrupted, OcfehError, StageError
from ..locks import LOCK_NAME, held
from ..provenance import package_version, provenance, stable_hash, write_json
from .config import RunConfig, load_config, run_config
from .stage import RunResult, Stage
from .stages import default_stages

__all__ = ["run", "run_stage", "stage_key"]

log = logging.getLogger(__name__)


def _reset_peak_rss() -> None:
    """Start a new peak-memory count for this process (Linux; elsewhere the peak since start is reported)."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass


def _peak_rss_mb() -> float | None:
    """This process's peak resident memory [MB] since :func:`_reset_peak_rss` (Dask workers of a local
    cluster are threads of it); None where the system does not say."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    except (OSError, ValueError, IndexError):
        pass
    try:
        import resource
    except ImportError:  # pragma: no cover - Windows
        return None
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _file_digest(path: Path) -> str:
    h = hashlib.sha256()
    paths = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for p in paths:
        h.update(str(p.relative_to(path.parent)).encode())
        with open(p, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
    return h.hexdigest()


def stage_key(stage: Stage, run_dir: Path, cfg: RunConfig) -> str:
    inputs = {}
    for name in stage.inputs:
        p = run_dir / name
        inputs[name] = _file_digest(p) if p.exists() else None
    config = stage.resolve(cfg, stage.sections) if stage.resolve else cfg.to_dict(stage.sections)
    config.get("run", {}).pop("out", None)  # where the run lives is no input: a moved or copied run is reused
    return stable_hash({"config": config, "inputs": inputs, "ocfeh": package_version()}, 32)


def _check_writable(run_dir: Path) -> None:
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        probe = run_dir / ".write-test"
        probe.write_text("")
        probe.unlink()
    except OSError as err:
        raise InputError(f"run directory {run_dir} is not writable: {err.strerror or err}") from None


def run(
    config: str | Path | RunConfig | None = None,
    out: str | Path | None = None,
    from_stage: str | None = None,
    stages: list[Stage] | None = None,
    console: Console | None = None,
    only: str | None = None,
) -> RunResult:
    """Run every stage of the method into one run directory.

    Parameters
    ----------
    config : str, Path or RunConfig, optional
        A TOML file (see ``examples/config.toml``) or a loaded config; defaults if omitted.
    out : str or Path, optional
        The run directory; overrides ``[run] out``.
    from_stage : str, optional
        Redo this stage and all after it even if their inputs are unchanged.
    stages : list of Stage, optional
        The stages to run (default: the full method for the configured dataset).
    only : str, optional
        Run just this stage (always), on the earlier stages' files already in the run directory; what
        ``ocfeh sample`` and ``ocfeh train`` do. ``"sample"`` means the ``dataset`` stage of apogee-xp.

    Returns
    -------
    RunResult
        The run directory and, per stage, whether it ran or was skipped and how long it took.
    """
    cfg = config if isinstance(config, RunConfig) else load_config(config)
    run_dir = Path(out or cfg.run.out)
    if stages is None:
        stages = default_stages(cfg)
    names = [s.name for s in stages]
    if from_stage is not None and from_stage not in names:
        raise InputError(f"unknown stage {from_stage!r} for --from; stages: {', '.join(names)}")
    if only is not None:
        only = "dataset" if only == "sample" and "dataset" in names else only
        if only not in names:
            raise InputError(f"no stage {only!r} for this config; stages: {', '.join(names)}")
        stages, from_stage = [s for s in stages if s.name == only], only
    _check_writable(run_dir)
    console = console or Console(stderr=True)
    result = RunResult(run_dir)
    force = False
    stamp_dir = run_dir / ".stages"
    with held(run_dir / LOCK_NAME, f"run directory {run_dir}"):
        console.print(f"run directory: {run_dir.resolve()}")
        effective = cfg.to_dict()
        effective["run"]["out"] = str(run_dir)
        prov = provenance(None, cfg.run.seed, config_hash=cfg.hash())
        source = str(Path(cfg.source).resolve()) if cfg.source != "<defaults>" else cfg.source
        write_json(run_dir / "config.json", {"config": effective, "source": source, "provenance": prov})
        for i, stage in enumerate(stages, 1):
            force = force or stage.name == from_stage
            stamp = stamp_dir / f"{stage.name}.json"
            key = stage_key(stage, run_dir, cfg)
            done = (
                not force
                and stamp.is_file()
                and _read_key(stamp) == key
                and all((run_dir / o).exists() for o in stage.outputs)
            )
            if done:
                console.print(f"[dim][{i}/{len(stages)}] {stage.name}: inputs unchanged, skipped[/]")
                result.rows.append({"stage": stage.name, "status": "skipped", "seconds": 0.0})
                continue
            missing = [n for n in stage.inputs if not (run_dir / n).exists()]
            if missing:
                external = Path(missing[0]).is_absolute()  # a configured table, not an earlier stage's output
                hint = "run the earlier stages first" + (" (`ocfeh run CONFIG` runs them all)" if only else "")
                raise StageError(stage.name, "table file not found" if external else f"input missing; {hint}",
                                 run_dir / missing[0])
            console.print(f"[bold][{i}/{len(stages)}] {stage.name}[/] ...")
            t0 = time.perf_counter()
            _reset_peak_rss()
            try:
                stage.func(run_dir, cfg)
            except (KeyboardInterrupt, Interrupted):
                raise Interrupted(f"interrupted in the {stage.name} stage of {run_dir}; rerun the same command to "
                                  "resume from it (the finished stages are kept)") from None
            except StageError:
                raise
            except OcfehError as err:
                raise StageError(stage.name, str(err)) from err
            except (OSError, ValueError, KeyError, RuntimeError) as err:
                path = Path(err.filename) if isinstance(err, OSError) and err.filename else None
                raise StageError(stage.name, f"{type(err).__name__}: {err}", path) from err
            absent = [o for o in stage.outputs if not (run_dir / o).exists()]
            if absent:
                raise StageError(stage.name, "the stage did not write its output", run_dir / absent[0])
            seconds, peak = time.perf_counter() - t0, _peak_rss_mb()
            write_json(stamp, {"stage": stage.name, "key": key, "seconds": round(seconds, 2),
                               "peak_rss_mb": round(peak, 1) if peak is not None else None,
                               "outputs": list(stage.outputs)})
            result.rows.append({"stage": stage.name, "status": "ran", "seconds": seconds, "peak_rss_mb": peak})
    _summary(result, console)
    return result


def run_stage(run_dir: str | Path, stage: str) -> RunResult | None:
    """Redo one stage of the run in ``run_dir`` with the config it was made with (``config.json``).

    Returns None when the directory has no config.json or its config has no such stage (the caller then
    works on the files alone). What ``ocfeh evaluate``, ``ocfeh clusters`` and ``ocfeh report`` do, so a
    later ``ocfeh run`` finds the stage done.
    """
    run_dir = Path(run_dir)
    if not (run_dir / "config.json").is_file():
        return None
    try:
        cfg = run_config(run_dir)
        names = [s.name for s in default_stages(cfg)]
    except OcfehError as err:  # e.g. its config file or tables moved: the files alone still serve
        log.warning("%s: the run's config cannot be used (%s); working on the directory's files alone", run_dir, err)
        return None
    return run(cfg, out=run_dir, only=stage) if stage in names else None


def _read_key(stamp: Path) -> str | None:
    try:
        return json.loads(stamp.read_text()).get("key")
    except (OSError, ValueError):
        return None


def _summary(result: RunResult, console: Console) -> None:
    table = Table("stage", "status", "seconds", "peak memory [GB]", title=f"run directory: {result.run_dir}")
    for r in result.rows:
        peak = r.get("peak_rss_mb")
        table.add_row(r["stage"], r["status"], f"{r['seconds']:.1f}", f"{peak / 1024:.2f}" if peak else "")
    console.print(table)
