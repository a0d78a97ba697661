"""``ocfeh demo`` as a user runs it: the blind test, the mock clusters, time and peak memory of every stage.

Usage: python benchmarks/bench_demo.py [--profile default|small|full] [--out DIR] [--keep]

Runs the command in a fresh process, then reads the run's ``metrics.json`` (blind-test MAE against the
labels and against the mock sky's truth, 68 % / 95 % interval coverage), ``clusters.csv`` (cluster [Fe/H]
from the MCMC against the clusters' true mean) and each stage's stamp (``.stages/<stage>.json``: seconds
and the process's peak resident memory during that stage). Writes benchmarks/results/demo_<profile>.json.
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

import numpy as np
import pandas as pd

from ocfeh.schema import LABELS

sys.path.insert(0, str(Path(__file__).resolve().parent))
from record import write_record

PROFILE_FLAG = {"small": ["--small"], "default": [], "full": ["--full"]}


def blind_test(metrics: dict) -> dict:
    """Per label: MAE against the labels and the truth, robust scatter, interval coverage, stars."""
    keys = ("mae", "mae_true", "bias", "robust_scatter", "coverage_68", "coverage_95", "n")
    return {t: {k: metrics[t].get(k) for k in keys} for t in LABELS if t in metrics}


def cluster_summary(clusters: pd.DataFrame, min_members: int = 10) -> dict:
    """Cluster [Fe/H] (MCMC) against the true mean: bias, scatter, 68 % coverage, members used."""
    ok = clusters.dropna(subset=["feh_mcmc", "feh_true"])
    resid = ok["feh_mcmc"] - ok["feh_true"]
    covered = (ok["feh_true"] >= ok["feh_mcmc_p16"]) & (ok["feh_true"] <= ok["feh_mcmc_p84"])
    return {
        "n_clusters": len(clusters),
        "n_with_feh": len(ok),
        "n_with_min_members": int((clusters["n_members_used"] >= min_members).sum()),
        "min_members": min_members,
        "median_members_used": float(np.median(clusters["n_members_used"])) if len(clusters) else None,
        "bias_dex": float(resid.mean()) if len(ok) else None,
        "scatter_dex": float(resid.std(ddof=1)) if len(ok) > 1 else None,
        "coverage_68": float(covered.mean()) if len(ok) else None,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profile", choices=list(PROFILE_FLAG), default="default")
    ap.add_argument("--out", type=Path, help="run directory (default benchmarks/.demo_<profile>)")
    ap.add_argument("--keep", action="store_true", help="keep the run directory")
    args = ap.parse_args()
    out = args.out or Path(f"benchmarks/.demo_{args.profile}")
    shutil.rmtree(out, ignore_errors=True)
    command = [sys.executable, "-m", "ocfeh.cli", "demo", *PROFILE_FLAG[args.profile], "--out", str(out)]
    t0 = time.perf_counter()
    res = subprocess.run(command, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - t0
    if res.returncode != 0:
        raise SystemExit(f"ocfeh demo failed:\n{res.stderr[-3000:]}")
    stages = {}
    for stamp in sorted((out / ".stages").glob("*.json")):
        s = json.loads(stamp.read_text())
        stages[s["stage"]] = {"seconds": s["seconds"], "peak_rss_mb": s.get("peak_rss_mb")}
    metrics = json.loads((out / "metrics.json").read_text())
    clusters = pd.read_csv(out / "clusters.csv") if (out / "clusters.csv").is_file() else pd.DataFrame()
    write_record(f"demo_{args.profile}.json", {
        "command": " ".join(["ocfeh demo", *PROFILE_FLAG[args.profile]]),
        "profile": args.profile,
        "wall_s": wall,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024.0,
        "stages": stages,
        "blind_test": blind_test(metrics),
        "clusters": cluster_summary(clusters) if len(clusters) else None,
    }, merge=False)
    print(json.dumps(blind_test(metrics), indent=1))
    if not args.keep:
        shutil.rmtree(out, ignore_errors=True)


if __name__ == "__main__":
    main()
