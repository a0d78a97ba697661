"""``ocfeh demo --full`` as a user runs it: time and peak memory of every stage at the poster's scale.

Usage: python benchmarks/bench_demo_full.py [--out DIR] [--keep]

Runs the command in a fresh process, then reads each stage's stamp (``.stages/<stage>.json``: seconds and
the process's peak resident memory during that stage) and the child's overall peak (``ru_maxrss`` of the
finished child). Writes benchmarks/results/demo_full.json.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from record import write_record


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("benchmarks/.demo_full"), help="run directory (large)")
    ap.add_argument("--keep", action="store_true", help="keep the run directory")
    args = ap.parse_args()
    shutil.rmtree(args.out, ignore_errors=True)
    command = [sys.executable, "-m", "ocfeh.cli", "demo", "--full", "--out", str(args.out)]
    t0 = time.perf_counter()
    res = subprocess.run(command, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - t0
    if res.returncode != 0:
        raise SystemExit(f"ocfeh demo --full failed:\n{res.stderr[-3000:]}")
    stages = {}
    for stamp in sorted((args.out / ".stages").glob("*.json")):
        s = json.loads(stamp.read_text())
        stages[s["stage"]] = {"seconds": s["seconds"], "peak_rss_mb": s.get("peak_rss_mb")}
    metrics = json.loads((args.out / "metrics.json").read_text())
    n_catalog = json.loads((args.out / "catalog" / "catalog.json").read_text())["n_rows"] \
        if (args.out / "catalog" / "catalog.json").is_file() else None
    write_record("demo_full.json", {
        "command": "ocfeh demo --full",
        "wall_s": wall,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024.0,
        "stages": stages,
        "n_catalog": n_catalog,
        "mae": {t: metrics[t].get("mae") for t in ("teff", "logg", "feh") if t in metrics},
    }, merge=False)
    if not args.keep:
        shutil.rmtree(args.out, ignore_errors=True)


if __name__ == "__main__":
    main()
