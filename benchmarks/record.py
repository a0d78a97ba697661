"""The one result schema of every benchmark: what was measured, plus where, when, by what code and command.

Each script calls :func:`write_record`, which writes ``{"benchmark", "recorded": {commit, dirty, date,
machine, versions, command}, **results}``. A result whose commit is older than the last change to the code
it measures is stale: ``git log -1 --format=%H -- src/`` against ``recorded.commit`` tells.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).resolve().parent / "results"


def _git(*args: str) -> str:
    try:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return ""


def recorded(command: list[str] | None = None) -> dict:
    """Commit (and whether the tree had uncommitted changes to ``src/``), UTC date, machine, versions, command."""
    from ocfeh.provenance import versions

    return {
        "commit": _git("rev-parse", "HEAD") or "unknown",
        "dirty": bool(_git("status", "--porcelain", "--", "src")),
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": {"platform": platform.platform(), "cpu_count": os.cpu_count(), "python": platform.python_version()},
        "versions": versions(),
        "command": " ".join(command if command is not None else [Path(sys.argv[0]).name, *sys.argv[1:]]),
    }


def write_record(path: str | Path, results: dict, benchmark: str | None = None, merge: bool = True) -> Path:
    """Write ``results`` with the :func:`recorded` stamp into ``path`` (relative: under benchmarks/results).

    With ``merge`` the top-level keys of an existing file that ``results`` does not name are kept (a script
    that measures several parts may rerun one); the stamp is always this run's.
    """
    path = Path(path)
    path = path if path.is_absolute() else RESULTS / path
    old = json.loads(path.read_text()) if merge and path.is_file() else {}
    rec = {**old, "benchmark": benchmark or path.stem, **results, "recorded": recorded()}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".part")
    tmp.write_text(json.dumps(rec, indent=1, default=str) + "\n")
    tmp.replace(path)
    return path
