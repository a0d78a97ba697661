"""Benchmark of the mock sky: stars simulated per second and peak memory (RSS) versus n_stars.

Each size runs in a fresh subprocess so the peak RSS is its own. Prints a table and writes
benchmarks/results/simulate.json (machine, versions, timings).

    python benchmarks/bench_simulate.py            # 1e4, 1e5, 1e6 field stars
    python benchmarks/bench_simulate.py 10000      # chosen sizes
    python benchmarks/bench_simulate.py --labelled # also the poster-scale (full) profile through the
                                                   # sample stage: labelled stars after cuts (~10 min)
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

_CHILD = r"""
import json, resource, sys, time
from ocfeh.simulate import simulate_sky
n, out = int(sys.argv[1]), sys.argv[2]
t0 = time.perf_counter()
paths = simulate_sky(out, n_stars=n, profile="default", seed=1)
dt = time.perf_counter() - t0
counts = json.load(open(paths["manifest"]))["row_counts"]
print(json.dumps({"n_stars": n, "seconds": dt, "stars_per_s": n / dt,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
                  "rows": counts}))
"""


_LABELLED = r"""
import json, resource, sys, time
from pathlib import Path
import pandas as pd
from ocfeh import stages
from ocfeh.pipeline.config import RunConfig
out = Path(sys.argv[1])
cfg = RunConfig({"run": {"profile": "full", "seed": 42, "out": str(out)}})
t0 = time.perf_counter(); stages._simulate(out, cfg); t1 = time.perf_counter()
rss_sim = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
stages._sample(out, cfg); t2 = time.perf_counter()
cuts = pd.read_csv(out / "cleaning.csv")
counts = json.load(open(out / "sources" / "manifest.json"))["row_counts"]
print(json.dumps({"profile": "full", "simulate_seconds": t1 - t0, "sample_seconds": t2 - t1,
                  "peak_rss_mb_simulate": rss_sim,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
                  "rows": counts, "labelled_after_cuts": int(cuts["n_remaining"].iloc[-1]),
                  "cuts": cuts[["step", "n_remaining"]].to_dict(orient="records")}))
"""


def labelled_sample() -> dict:
    """The full profile through simulate and sample in a fresh process: labelled stars after the cuts."""
    with tempfile.TemporaryDirectory() as tmp:
        res = subprocess.run([sys.executable, "-c", _LABELLED, str(Path(tmp) / "run")],
                             capture_output=True, text=True, check=True)
    rec = json.loads(res.stdout.strip().splitlines()[-1])
    print(f"full profile: {rec['rows']['jplus']} J-PLUS rows, {rec['rows']['lamost']} LAMOST rows, "
          f"{rec['labelled_after_cuts']} labelled after cuts; simulate {rec['simulate_seconds']:.0f} s, "
          f"sample {rec['sample_seconds']:.0f} s, peak RSS {rec['peak_rss_mb']:.0f} MB")
    return rec


def main(sizes: list[int], labelled: bool = False) -> None:
    from ocfeh.provenance import provenance

    results = []
    for n in sizes:
        with tempfile.TemporaryDirectory() as tmp:
            res = subprocess.run([sys.executable, "-c", _CHILD, str(n), str(Path(tmp) / "sky")],
                                 capture_output=True, text=True, check=True)
            results.append(json.loads(res.stdout.strip().splitlines()[-1]))
    print(f"{'n_stars':>10} {'seconds':>9} {'stars/s':>9} {'peak RSS MB':>12} {'J-PLUS rows':>12} {'LAMOST rows':>12}")
    for r in results:
        print(f"{r['n_stars']:>10d} {r['seconds']:>9.1f} {r['stars_per_s']:>9.0f} {r['peak_rss_mb']:>12.0f} "
              f"{r['rows']['jplus']:>12d} {r['rows']['lamost']:>12d}")
    full = labelled_sample() if labelled else None
    out = Path(__file__).resolve().parent / "results" / "simulate.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    if full is None and out.exists():  # keep the last poster-scale measurement
        full = json.loads(out.read_text()).get("full_profile")
    rec = provenance(config={"sizes": sizes, "profile": "default (30 clusters, 24 tiles)"}, seed=1, results=results,
                     full_profile=full)
    out.write_text(json.dumps(rec, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if a != "--labelled"]
    main([int(a) for a in args] or [10_000, 100_000, 1_000_000], labelled="--labelled" in sys.argv)
