"""The demo: the whole method on the embedded default, the mock sky (or the real APOGEE x Gaia XP set)."""

from __future__ import annotations

from pathlib import Path

from ..datasets import MODEL_SETTINGS
from ..exceptions import InputError
from .config import Dataset, RunConfig, load_config
from .runner import run
from .stage import RunResult

__all__ = ["demo", "demo_config"]


def demo_config(profile: str = "default", dataset: str = "mock", seed: int = 42,
                out: str | Path = "runs/demo") -> RunConfig:
    """The config ``ocfeh demo`` runs: beyond the small profile, the J-PLUS-only and Gaia + WISE-only
    variants beside all surveys on the mock sky (the poster's next step), and on ``apogee-xp`` the model
    settings that ``benchmarks/bench_models.py`` measured on that set."""
    try:
        dataset = Dataset(dataset)
    except ValueError:
        raise InputError(f"unknown dataset {dataset!r}; choose one of {', '.join(d.value for d in Dataset)}") from None
    overrides = {"run": {"profile": profile, "dataset": dataset.value, "seed": seed, "out": str(out)}}
    if profile != "small" and dataset == Dataset.MOCK:
        overrides["features"] = {"variants": ["jplus", "gaia+wise"]}
    if profile != "small" and dataset == Dataset.APOGEE_XP:
        overrides.update({k: dict(v) for k, v in MODEL_SETTINGS.items()})
    return load_config(**overrides)


def demo(profile: str = "default", dataset: str = "mock", seed: int = 42, out: str | Path = "runs/demo",
         from_stage: str | None = None) -> RunResult:
    """Run :func:`demo_config` into ``out`` (``report.html`` there is the page to open)."""
    return run(demo_config(profile, dataset, seed, out), from_stage=from_stage)
