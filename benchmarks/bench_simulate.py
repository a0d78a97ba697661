"""Benchmark of the mock sky: stars simulated per second and peak memory (RSS) versus n_stars.

Each size runs in a fresh subprocess so the peak RSS is its own. Prints a table and writes
benchmarks/results/simulate.json (machine, versions, timings).

    python benchmarks/bench_simulate.py            # 1e4, 1e5, 1e6 field stars
    python benchmarks/bench_simulate.py 10000      # chosen sizes
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


def main(sizes: list[int]) -> None:
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
    out = Path(__file__).resolve().parent / "results" / "simulate.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    rec = provenance(config={"sizes": sizes, "profile": "default (30 clusters, 24 tiles)"}, seed=1, results=results)
    out.write_text(json.dumps(rec, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main([int(a) for a in sys.argv[1:]] or [10_000, 100_000, 1_000_000])
