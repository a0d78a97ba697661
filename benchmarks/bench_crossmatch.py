"""Cross-match benchmark: pairs per second at 10^5 and 10^6 rows (in memory), in memory versus LSDB on the
same 10^6-row input, and peak memory. Prints a table and writes benchmarks/results/crossmatch.json.

Usage: python benchmarks/bench_crossmatch.py [--sizes 100000 1000000] [--lsdb-size 1000000] [--n-jobs 1]

Input: n Gaia-like sources uniform on a 1000-deg2-ish patch (density ~ the J-PLUS x Gaia sample), with
proper motions; a J-PLUS-like copy of 90 % of them at epoch 2018 with 0.15 arcsec noise plus 5 % extra
sources. Each configuration runs in a fresh subprocess so peak RSS (ru_maxrss) is its own.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

RESULTS = Path(__file__).resolve().parent / "results" / "crossmatch.json"


def make_input(n: int, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    side = np.sqrt(n / 3000.0)  # ~3000 sources per deg2
    dec0 = 30.0
    ra = 150.0 + rng.uniform(0, side, n) / np.cos(np.deg2rad(dec0))
    dec = dec0 + rng.uniform(0, side, n)
    pmra, pmdec = rng.normal(0, 10, n), rng.normal(-5, 10, n)
    gaia = pd.DataFrame({"ra": ra, "dec": dec, "pmra": pmra, "pmdec": pmdec})
    gaia.attrs["epoch"] = 2016.0
    sel = np.flatnonzero(rng.random(n) < 0.9)
    m = len(sel)
    jra = ra[sel] + (pmra[sel] * 2 / 3.6e6 + rng.normal(0, 0.15, m) / 3600) / np.cos(np.deg2rad(dec[sel]))
    jdec = dec[sel] + pmdec[sel] * 2 / 3.6e6 + rng.normal(0, 0.15, m) / 3600
    k = n // 20
    jplus = pd.DataFrame({
        "ra": np.concatenate([jra, 150.0 + rng.uniform(0, side, k) / np.cos(np.deg2rad(dec0))]),
        "dec": np.concatenate([jdec, dec0 + rng.uniform(0, side, k)]),
    })
    jplus.attrs["epoch"] = 2018.0
    truth = np.concatenate([sel, np.full(k, -1)])
    perm = rng.permutation(len(jplus))
    jplus = jplus.iloc[perm].reset_index(drop=True)
    jplus.attrs["epoch"] = 2018.0
    return jplus, gaia, truth[perm]


def run_one(method: str, n: int, n_jobs: int) -> dict:
    from ocfeh.catalogs.matching import crossmatch
    from ocfeh.catalogs.matching_lsdb import crossmatch_lsdb

    jplus, gaia, truth = make_input(n)
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    fn = crossmatch_lsdb if method == "lsdb" else crossmatch
    if method == "lsdb":  # warm up imports and JIT on a tiny input so the timing is the match itself
        j0, g0, _ = make_input(2000, seed=1)
        fn(j0, g0, 1.0, n_jobs=n_jobs)
    t0 = time.perf_counter()
    res = fn(jplus, gaia, 1.0, n_jobs=n_jobs)
    seconds = time.perf_counter() - t0
    correct = truth[res.idx_left] == res.idx_right
    return {
        "method": method, "n_rows": n, "n_left": len(jplus), "n_right": len(gaia), "n_pairs": res.n_pairs,
        "seconds": round(seconds, 3), "pairs_per_second": round(res.n_pairs / seconds),
        "completeness": round(float(correct.sum() / (truth >= 0).sum()), 5),
        "false_rate": round(float((~correct).sum() / res.n_pairs), 6),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "input_rss_mb": round(rss0 / 1024, 1), "n_jobs": n_jobs,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    ap.add_argument("--lsdb-size", type=int, default=1_000_000, help="0 skips LSDB")
    ap.add_argument("--n-jobs", type=int, default=1)
    ap.add_argument("--one", nargs=2, metavar=("METHOD", "N"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        print(json.dumps(run_one(args.one[0], int(args.one[1]), args.n_jobs)))
        return
    jobs = [("memory", n) for n in args.sizes] + ([("lsdb", args.lsdb_size)] if args.lsdb_size else [])
    rows = []
    for method, n in jobs:
        out = subprocess.run([sys.executable, __file__, "--one", method, str(n), "--n-jobs", str(args.n_jobs)],
                             capture_output=True, text=True, check=True)
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
        r = rows[-1]
        print(f"{r['method']:7s} n={r['n_rows']:>8d}  pairs={r['n_pairs']:>8d}  {r['seconds']:8.2f} s  "
              f"{r['pairs_per_second']:>10d} pairs/s  peak RSS {r['peak_rss_mb']:7.1f} MB  "
              f"completeness {r['completeness']:.4f}  false {r['false_rate']:.5f}", flush=True)
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
    from ocfeh.provenance import versions

    vers = versions()
    try:
        from importlib.metadata import version
        vers.update({"lsdb": version("lsdb"), "hats": version("hats"), "dask": version("dask")})
    except Exception:  # noqa: BLE001
        pass
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({
        "benchmark": "crossmatch", "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "machine": {"platform": platform.platform(), "processor": platform.processor(),
                    "cpu_count": __import__("os").cpu_count(), "load_average": __import__("os").getloadavg()},
        "versions": vers, "radius_arcsec": 1.0, "results": rows,
    }, indent=2) + "\n")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
