"""A stage of a run: what it reads, what it writes, which config sections it depends on; and what a run did."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from .config import RunConfig

__all__ = ["RunResult", "Stage"]


@dataclass(frozen=True)
class Stage:
    """A pipeline stage: what it reads, what it writes and the config sections it depends on."""

    name: str
    func: Callable[[Path, RunConfig], None]
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    sections: tuple[str, ...]
    resolve: Callable[[RunConfig, tuple[str, ...]], dict] | None = None
    """The effective settings of ``sections`` where one depends on another (default: ``cfg.to_dict``)."""


@dataclass
class RunResult:
    """What a run did: the directory, one row per stage, and the stage outputs."""

    run_dir: Path
    rows: list[dict] = field(default_factory=list)

    @property
    def ran(self) -> list[str]:
        return [r["stage"] for r in self.rows if r["status"] == "ran"]

    @property
    def skipped(self) -> list[str]:
        return [r["stage"] for r in self.rows if r["status"] == "skipped"]

    def __repr__(self) -> str:
        return f"RunResult({str(self.run_dir)!r}: ran {self.ran}, skipped {self.skipped})"
