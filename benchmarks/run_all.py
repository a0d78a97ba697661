"""Run every benchmark in turn (``make bench``); each prints its table and writes benchmarks/results/*.json.

Usage: python benchmarks/run_all.py [--quick] [--only NAME ...]
Timings are compared as ratios within one run of one script, never asserted in tests.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
# name -> (script, full arguments, quick arguments)
BENCHMARKS = {
    "synthphot": ("bench_synthphot.py", [], ["--n", "100000"]),
    "simulate": ("bench_simulate.py", [], []),
    "crossmatch": ("bench_crossmatch.py", [], ["--sizes", "100000", "--lsdb-size", "100000"]),
    "datasets": ("bench_datasets.py", [], []),
    "models": ("bench_models.py", [], ["--quick", "--rows", "8000"]),
    # reads models.json part (a); the two recorded variants, about 15 min; skipped with --quick
    "network": ("bench_network.py", ["--variants", "defaults,A_0 as an input"], None),
    "coverage": ("bench_coverage.py", [], ["--ab-seeds", "3", "--resplits", "5"]),
    "predict": ("bench_predict.py", [], ["--n-stars", "200000"]),
    "clusters": ("bench_clusters.py", ["--mock-config", str(HERE / "configs" / "mock_clusters60.toml")],
                 ["--n-feh", "50", "--n-iso", "2"]),
    "real_clusters": ("bench_real_clusters.py", [], []),
    # poster scale: builds runs/bench_full (simulate + sample, ~15 min) once; skipped with --quick
    "train_scale": ("bench_train_scale.py", ["runs/bench_full"], None),
    "error_budget": ("bench_error_budget.py", ["runs/bench_full"], None),
    "levers": ("bench_levers.py", ["runs/bench_full", "--apogee-xp"], None),
    "xp_ceiling": ("bench_xp_ceiling.py", [], None),  # about 17 min; skipped with --quick
    # `make demo` as a user runs it (blind test, mock clusters, stage times); quick: the small profile
    "demo": ("bench_demo.py", ["--keep", "--out", "runs/demo"], ["--profile", "small"]),
    "named_model": ("bench_named_model.py", [], ["--small"]),  # the apogee-xp model: about an hour, --quick minutes
    "validation": ("validation/run.py", [], ["--quick"]),
    # CatBoost beside the pipeline's model, on the run of `make demo` (needs runs/demo); skipped with --quick
    "blend": ("bench_blend.py", ["runs/demo"], None),
}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="smaller sizes (minutes instead of about an hour)")
    ap.add_argument("--only", nargs="+", choices=list(BENCHMARKS), help="run only these")
    args = ap.parse_args()
    failed = []
    for name in args.only or BENCHMARKS:
        script, full, quick = BENCHMARKS[name]
        if args.quick and quick is None:
            print(f"\n=== {name}: skipped with --quick", flush=True)
            continue
        print(f"\n=== {name}: {script} {' '.join(quick if args.quick else full)}", flush=True)
        t0 = time.perf_counter()
        rc = subprocess.call([sys.executable, str(HERE / script), *(quick if args.quick else full)])
        print(f"=== {name}: exit {rc} after {time.perf_counter() - t0:.0f} s", flush=True)
        if rc:
            failed.append(name)
    if failed:
        print(f"failed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
