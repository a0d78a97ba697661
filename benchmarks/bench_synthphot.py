"""Benchmark of ocfeh.synthphot: cache build from nothing, magnitudes() throughput, peak memory.

1. Build the 17-band table from nothing in a temporary cache folder (grids read, spectra
   integrated, Parquet written), timed with ``time.perf_counter``.
2. magnitudes() for 10^6 random stars (Teff 3000-8000 K, log g 0-5, [Fe/H] -2..+0.5, A_0 0-3),
   all 17 bands, with the table already loaded; also without extinction and for the Gaia bands only.
3. Peak memory: ``tracemalloc`` peak of the throughput step and the process max RSS.
Also records the physical checks (Sun, A_G/A_0) for the report.

Usage: ``python benchmarks/bench_synthphot.py [--n 1000000] [--seed 0]``.
Writes benchmarks/results/synthphot.json.
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

from ocfeh.provenance import provenance, write_json


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1_000_000, help="stars for the throughput test")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    with tempfile.TemporaryDirectory(prefix="ocfeh-bench-synthphot-") as tmp:
        os.environ["OCFEH_CACHE_DIR"] = tmp
        from ocfeh.bands import BANDS
        from ocfeh.synthphot import extinction_coefficients, magnitudes
        from ocfeh.synthphot.stellar import get_interpolator

        t0 = time.perf_counter()
        get_interpolator(list(BANDS.values()))
        t_build = time.perf_counter() - t0
        size_mb = sum(p.stat().st_size for p in Path(tmp).glob("*.parquet")) / 1e6

        rng = np.random.default_rng(args.seed)
        n = args.n
        teff, logg = rng.uniform(3000, 8000, n), rng.uniform(0, 5, n)
        feh, a0 = rng.uniform(-2, 0.5, n), rng.uniform(0, 3, n)
        dist = rng.uniform(100, 5000, n)
        tracemalloc.start()
        t0 = time.perf_counter()
        m = magnitudes(teff, logg, feh, a0=a0, distance=dist)
        t_all = time.perf_counter() - t0
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        t0 = time.perf_counter()
        magnitudes(teff, logg, feh, distance=dist)
        t_noext = time.perf_counter() - t0
        t0 = time.perf_counter()
        magnitudes(teff, logg, feh, a0=a0, distance=dist, bands="gaia")
        t_gaia = time.perf_counter() - t0

        sun = magnitudes(5772.0, 4.44, 0.0, bands="gaia")
        k = extinction_coefficients(5000.0, 4.5, 0.0, a0=1.0, bands=["G", "W1"])
        checks = {"sun_bp_rp": float(sun.BP[0] - sun.RP[0]), "sun_M_G": float(sun.G[0]),
                  "AG_over_A0_5000K_dwarf": float(k.G[0]), "AW1_over_A0_5000K_dwarf": float(k.W1[0])}
        os.environ.pop("OCFEH_CACHE_DIR")

    res = {
        "cache_build_s": round(t_build, 2),
        "cache_size_mb": round(size_mb, 2),
        "n_stars": n,
        "magnitudes_17_bands_s": round(t_all, 2),
        "magnitudes_17_bands_no_extinction_s": round(t_noext, 2),
        "magnitudes_gaia_s": round(t_gaia, 2),
        "stars_per_s_17_bands": round(n / t_all),
        "in_grid_fraction": float(m["in_grid"].mean()),
        "tracemalloc_peak_mb": round(peak / 1e6, 1),
        "max_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3, 1),
        "load_average_1min": os.getloadavg()[0],
        "physical_checks": checks,
    }
    tab = Table("quantity", "value", title="ocfeh.synthphot benchmark")
    for key, val in res.items():
        tab.add_row(key, str(val))
    Console().print(tab)
    out = Path(__file__).parent / "results" / "synthphot.json"
    write_json(out, {**provenance({"n": n}, args.seed), "results": res})
    Console().print(f"wrote {out}")


if __name__ == "__main__":
    main()
